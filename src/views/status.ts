/**
 * What the working directory holds for each node of a graph, read without
 * taking any lock or writing anything: committed, not started, failed (its
 * last attempt failed, and the store records why), incomplete (a store
 * exists but was never committed), or running (its lock is held by a live
 * owner). A node not started whose work was done before by another
 * version of its operation, or of one upstream, says so ("will run:
 * demo.simulate 1.2 -> 1.3").
 */
import { assertNever } from '../errors.js';
import { checkpointFacility, latestCheckpointVersion } from '../store/checkpoint.js';
import { findPriorStores, type PriorStore } from './explain/prior-versions.js';
import type { Uid } from '../identity/fingerprint.js';
import { failedAttempts } from '../store/metadata.js';
import { readStoreIndex } from '../store/store-index.js';
import { readStoreStatus, type ExistingStoreStatus, type StoreStatus } from '../store/store-status.js';
import { forcedFailureUids, readForcedFailure } from '../store/superseded.js';
import { listStoreUids, workdirLayout } from '../store/workdir.js';
import { failureCause } from './failure-text.js';
import type { ConcreteGraph } from '../workflow/graph.js';

export type NodeState =
  | { state: 'committed'; committedAt: string; durationMs: number }
  | { state: 'not-started' }
  | { state: 'incomplete' }
  | {
      state: 'failed';
      /** The last failed attempt, as `failed (exit 3, attempt 2 of 3)` shows it. */
      attempt: number;
      lastAttempt: number;
      /** `exit 3`, `killed by SIGKILL`, or the error code. */
      cause: string;
      message: string;
    }
  | {
      state: 'running';
      owner: { pid: number; host: string };
      /** A node being retried: the attempt running (after failed ones) and the last this run will make. */
      retry?: { attempt: number; lastAttempt: number };
    };

/**
 * A store's status in the terms `status` reports it (and a served working
 * directory, whose StoreView is a NodeState): the one place a StoreStatus
 * becomes a NodeState, so the two cannot drift apart.
 */
export function nodeState(status: ExistingStoreStatus): Exclude<NodeState, { state: 'not-started' }>;
export function nodeState(status: StoreStatus): NodeState;
export function nodeState(status: StoreStatus): NodeState {
  switch (status.state) {
    case 'not-started':
      return { state: 'not-started' };
    case 'committed':
      return { state: 'committed', committedAt: status.metadata.committedAt, durationMs: status.metadata.durationMs };
    case 'incomplete':
      return { state: 'incomplete' };
    case 'failed': {
      const last = status.metadata.attempts.at(-1);
      if (last === undefined) return { state: 'incomplete' };
      return {
        state: 'failed',
        attempt: last.attempt,
        lastAttempt: last.lastAttempt,
        cause: failureCause(last),
        message: last.error.message,
      };
    }
    case 'running': {
      const last = failedAttempts(status.metadata).at(-1);
      const owner = { pid: status.owner.pid, host: status.owner.host };
      return last === undefined || last.final
        ? { state: 'running', owner }
        : { state: 'running', owner, retry: { attempt: last.attempt + 1, lastAttempt: last.lastAttempt } };
    }
    default:
      return assertNever(status, 'store status');
  }
}

/**
 * A node's state, and for a node without a store whose work was done before
 * by other versions of its operations (its own or upstream), that store and
 * the version changes that mean it will run again.
 */
export type NodeStatus = {
  label: string;
  uid: Uid;
  operation: string;
  prior?: PriorStore;
  /** How far an unfinished node has come, from its checkpoints: `iteration 7 in progress` for a loop. */
  progress?: string;
  /** A committed node whose last `--force` rerun failed (its result was kept): when, and how. */
  forcedFailure?: { startedAt: string; cause: string };
} & NodeState;

export interface StatusReport {
  nodes: NodeStatus[];
  counts: { [S in NodeState['state']]: number } & { total: number };
}

/** What an unfinished store's last checkpoint says: a loop's iteration, or how many states an operation published. */
async function checkpointProgress(storeDir: string, isLoop: boolean): Promise<string | undefined> {
  const version = await latestCheckpointVersion(storeDir);
  if (version === undefined) return undefined;
  if (!isLoop) return `checkpoint ${version} written`;
  const saved = (await checkpointFacility(storeDir)
    .load()
    .catch(() => undefined)) as { iteration?: unknown; stop?: unknown } | undefined;
  if (typeof saved?.iteration !== 'number') return undefined;
  return saved.stop === true
    ? `stopped after iteration ${saved.iteration}`
    : `iteration ${saved.iteration} in progress`;
}

/** The state of every node of `graph` in the working directory `workdir` (which need not exist). */
export async function readStatus(graph: ConcreteGraph, workdir: string): Promise<StatusReport> {
  const layout = workdirLayout(workdir);
  const existing = await listStoreUids(layout);
  const forced = forcedFailureUids(layout);
  const counts = { committed: 0, 'not-started': 0, incomplete: 0, failed: 0, running: 0, total: graph.nodes.length };
  const nodes: NodeStatus[] = [];
  for (const node of graph.nodes) {
    const base = { label: node.label, uid: node.uid, operation: `${node.operation.namespace}.${node.operation.name}` };
    let state: NodeState = { state: 'not-started' };
    let progress: string | undefined;
    if (existing.has(node.uid)) {
      const storeDir = layout.storeDir(node.uid);
      state = nodeState(await readStoreStatus(storeDir));
      if (state.state === 'incomplete' || state.state === 'running')
        progress = await checkpointProgress(storeDir, node.operation.control === true);
    }
    const failure =
      state.state === 'committed' && forced.has(node.uid)
        ? (await readForcedFailure(layout, node.uid, state.committedAt))?.last
        : undefined;
    counts[state.state]++;
    nodes.push({
      ...base,
      ...state,
      ...(progress === undefined ? {} : { progress }),
      ...(failure === undefined
        ? {}
        : { forcedFailure: { startedAt: failure.startedAt, cause: failureCause(failure) } }),
    });
  }
  if (nodes.some((n) => n.state === 'not-started')) {
    const priors = findPriorStores(graph, await readStoreIndex(layout));
    for (const node of nodes) {
      const prior = node.state === 'not-started' ? priors.get(node.label) : undefined;
      if (prior !== undefined) node.prior = prior;
    }
  }
  return { nodes, counts };
}
