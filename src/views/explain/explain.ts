/**
 * Why a node will run or is reused. A node is reused when a committed store
 * has its uid; otherwise it runs, and the useful answer is what changed:
 * the closest existing store (one made by the same operation, preferring the
 * one that differs only in operation versions) is compared with the node's
 * record field by field, and every upstream uid change is traced to the
 * upstream node that caused it.
 */
import { RunGraphError, assertNever } from '../../errors.js';
import { shortUid, type Uid } from '../../identity/fingerprint.js';
import { describeLedgerOperation, readLedger, type LedgerEntry } from '../../store/ledger.js';
import { isCommitted, type FailedAttempt, type StoreMetadata } from '../../store/metadata.js';
import { describeFailedState, failureCause, failureHeadline } from '../failure-text.js';
import type { OwnerInfo } from '../../store/owner.js';
import { readStoreIndex } from '../../store/store-index.js';
import { readStoreStatus } from '../../store/store-status.js';
import { readForcedFailure } from '../../store/superseded.js';
import { workdirLayout, type WorkdirLayout } from '../../store/workdir.js';
import { closest, type ConcreteGraph, type GraphNode } from '../../workflow/graph.js';
import { findPriorStores, hasRecord } from './prior-versions.js';
import {
  describeDifferences,
  diffRecords,
  differenceCount,
  type DiffContext,
  type RecordDifference,
} from './record-diff.js';

/** The existing store a node that will run is compared with. */
export interface ClosestStore {
  uid: Uid;
  operation: StoreMetadata['operation'];
  state: StoreMetadata['state'];
  /** committedAt for a committed store, createdAt otherwise. */
  at: string;
  differences: RecordDifference[];
  omitted: number;
}

interface NodeIdentity {
  label: string;
  uid: Uid;
  /** `namespace.name`. */
  operation: string;
  version: string | null;
}

/** Why a node is reused or will run: the verdict and what it rests on. */
export type Explanation = NodeIdentity &
  (
    | {
        verdict: 'reused';
        committedAt: string;
        durationMs: number;
        ledger: LedgerEntry | undefined;
        /** The last attempt of a forced rerun that failed after this commit (the committed store was put back). */
        forcedFailure?: FailedAttempt;
      }
    | { verdict: 'running'; owner: Pick<OwnerInfo, 'pid' | 'host'> }
    | { verdict: 'will-run'; reason: 'incomplete' }
    | {
        verdict: 'will-run';
        reason: 'failed';
        /** Every failed attempt, oldest first; the last says why the node failed. */
        attempts: FailedAttempt[];
        /** The retries the node has now (its policy may have changed since). */
        retries: number;
      }
    | {
        verdict: 'will-run';
        reason: 'no-store';
        closest: ClosestStore | undefined;
        storesOfOperation: number;
        storeCount: number;
      }
  );

/** The node labelled `label`, or E_UNKNOWN_NODE naming the workflow and suggesting a near label. */
export function nodeByLabel(graph: ConcreteGraph, label: string): GraphNode {
  const node = graph.byLabel.get(label);
  if (node !== undefined) return node;
  const guess = closest(label, graph.byLabel.keys());
  const labels = [...graph.byLabel.keys()];
  throw new RunGraphError('E_UNKNOWN_NODE', `no node labelled '${label}' in the workflow`, {
    ...(graph.file === undefined ? {} : { file: graph.file }),
    value: label,
    hint:
      guess !== undefined
        ? `did you mean '${guess}'?`
        : `its labels are: ${labels.slice(0, 12).join(', ')}${labels.length > 12 ? ', ...' : ''}`,
  });
}

/**
 * How close an earlier store is to a node, compared element by element: the
 * store made by other versions only is the closest by definition; then one
 * the node's own label committed before (an ensemble member's previous
 * store, not the newest store of another member, which differs as much when
 * every member's upstream changed); then fewest differences, committed,
 * newest.
 */
type Score = [prior: number, otherLabel: number, differences: number, uncommitted: number, at: string];

function isCloser(score: Score, than: Score): boolean {
  for (let i = 0; i < 4; i++) {
    const a = score[i] as number;
    const b = than[i] as number;
    if (a !== b) return a < b;
  }
  return score[4] > than[4];
}

/** The uids the ledger says were committed under `label`. */
async function uidsCommittedAs(workdirRoot: string, label: string): Promise<Set<Uid>> {
  const entries = await readLedger(workdirRoot).catch(() => []);
  return new Set(entries.filter((entry) => entry.label === label).map((entry) => entry.uid));
}

function rank(metadata: StoreMetadata): [number, string] {
  return [isCommitted(metadata) ? 1 : 0, isCommitted(metadata) ? metadata.committedAt : metadata.createdAt];
}

/** Explain one node of `graph` against the working directory `workdir` (which need not exist). */
export async function explainNode(graph: ConcreteGraph, label: string, workdir: string): Promise<Explanation> {
  const node = nodeByLabel(graph, label);
  const layout = workdirLayout(workdir);
  return explainAgainst(graph, node, layout, await workdirStores(graph, layout));
}

/** What explaining compares nodes with, read once for any number of nodes (see explainAgainst). */
export interface WorkdirStores {
  readonly stores: Map<Uid, StoreMetadata | undefined>;
  readonly prior: ReturnType<typeof findPriorStores>;
}

/** Read the working directory's stores (it need not exist) and find each node's prior store. */
export async function workdirStores(graph: ConcreteGraph, layout: WorkdirLayout): Promise<WorkdirStores> {
  const stores = await readStoreIndex(layout);
  return { stores, prior: findPriorStores(graph, stores) };
}

/** Explain `node` against stores already read: what `run --dry-run` asks of every node. */
export async function explainAgainst(
  graph: ConcreteGraph,
  node: GraphNode,
  layout: WorkdirLayout,
  { stores, prior: priors }: WorkdirStores,
): Promise<Explanation> {
  const identity: NodeIdentity = {
    label: node.label,
    uid: node.uid,
    operation: `${node.operation.namespace}.${node.operation.name}`,
    version: node.operation.version ?? null,
  };
  if (stores.has(node.uid)) {
    const own = await readStoreStatus(layout.storeDir(node.uid), { metadata: stores.get(node.uid) });
    switch (own.state) {
      case 'committed': {
        const ledger = (await readLedger(layout.root, node.uid)).at(-1);
        const forced = await readForcedFailure(layout, node.uid, own.metadata.committedAt);
        return {
          ...identity,
          verdict: 'reused',
          committedAt: own.metadata.committedAt,
          durationMs: own.metadata.durationMs,
          ledger,
          ...(forced === undefined ? {} : { forcedFailure: forced.last }),
        };
      }
      case 'running':
        return { ...identity, verdict: 'running', owner: { pid: own.owner.pid, host: own.owner.host } };
      case 'incomplete':
        return { ...identity, verdict: 'will-run', reason: 'incomplete' };
      case 'failed':
        return {
          ...identity,
          verdict: 'will-run',
          reason: 'failed',
          attempts: own.metadata.attempts,
          retries: node.retry.retries,
        };
      default:
        return assertNever(own, 'store status');
    }
  }

  const context: DiffContext = { nodesByUid: new Map(graph.nodes.map((n) => [n.uid, n])), stores };
  const prior = priors.get(node.label);
  const candidates: [Uid, StoreMetadata][] = [];
  for (const [uid, metadata] of stores) {
    if (!hasRecord(metadata)) continue;
    const [ns, name] = metadata.record.operation;
    if (ns === node.operation.namespace && name === node.operation.name) candidates.push([uid, metadata]);
  }
  const sameLabel = await uidsCommittedAs(layout.root, node.label);
  let best: ClosestStore | undefined;
  let bestScore: Score | undefined;
  for (const [uid, metadata] of candidates) {
    // Scored without tracing upstream; only the winner's differences are traced, below.
    const result = diffRecords(node.record, metadata.record, context, 0, false);
    const [committed, at] = rank(metadata);
    const score: Score = [
      uid === prior?.uid ? 0 : 1,
      sameLabel.has(uid) ? 0 : 1,
      differenceCount(result),
      -committed,
      at,
    ];
    if (bestScore === undefined || isCloser(score, bestScore)) {
      bestScore = score;
      best = { uid, operation: metadata.operation, state: metadata.state, at, ...result };
    }
  }
  if (best !== undefined) {
    const earlier = stores.get(best.uid);
    if (hasRecord(earlier)) best = { ...best, ...diffRecords(node.record, earlier.record, context) };
  }
  return {
    ...identity,
    verdict: 'will-run',
    reason: 'no-store',
    closest: best,
    storesOfOperation: candidates.length,
    storeCount: stores.size,
  };
}

/** Why a failed node failed: its last attempt's cause, message and stderr, and what the next run does. */
function describeFailedNode(head: string, explanation: Extract<Explanation, { reason: 'failed' }>): string[] {
  const last = explanation.attempts.at(-1);
  if (last === undefined) return [`${head}: will run.`];
  const lines = [
    `${head}: ${describeFailedState(last)}; will run again.`,
    `  Attempt ${last.attempt} started ${last.startedAt} and failed after ${last.durationMs} ms (${failureCause(last)}): ${last.error.code}: ${failureHeadline(last)}`,
  ];
  if (last.stderrTail !== undefined)
    lines.push('  Its stderr ends with:', ...last.stderrTail.split('\n').map((line) => `    ${line}`));
  const earlier = explanation.attempts.slice(0, -1);
  if (earlier.length > 0)
    lines.push(`  Earlier attempts: ${earlier.map((a) => `${a.attempt} (${failureCause(a)})`).join(', ')}.`);
  lines.push(
    `  Its output and files are kept: run-graph logs ${explanation.label}${explanation.attempts.length > 1 ? ' [--attempt N]' : ''}.`,
    `  The next run tries it again from the start, with ${explanation.retries} ${explanation.retries === 1 ? 'retry' : 'retries'} after a failure.`,
  );
  return lines;
}

function describeVersion(operation: string, version: string | null): string {
  return version === null ? operation : `${operation} ${version}`;
}

/** The explanation in plain words, one line per fact, nested causes indented. */
export function describeExplanation(explanation: Explanation, workdir: string): string[] {
  const head = `${explanation.label} (uid ${shortUid(explanation.uid)}, ${describeVersion(explanation.operation, explanation.version)})`;
  switch (explanation.verdict) {
    case 'reused': {
      const lines = [
        `${head}: reused.`,
        `  Its store ${explanation.uid} was committed at ${explanation.committedAt} (the operation ran ${explanation.durationMs} ms).`,
        '  Its record is unchanged: same input, same upstream uids, same operation version, so it does not run again.',
      ];
      const ledger = explanation.ledger;
      if (ledger !== undefined) {
        const versions = ledger.upstreamVersions.map(describeLedgerOperation).join(', ');
        lines.push(
          `  Ledger: made by pid ${ledger.ranBy.pid} on ${ledger.ranBy.host}${versions === '' ? '' : `, validated with upstream ${versions}`}.`,
        );
      }
      const forced = explanation.forcedFailure;
      if (forced !== undefined)
        lines.push(
          `  A forced rerun failed at ${forced.startedAt} (${failureCause(forced)}): ${failureHeadline(forced)}`,
          `  This result was kept; \`run-graph logs ${explanation.label}\` prints that attempt's stdout and stderr.`,
        );
      return lines;
    }
    case 'running':
      return [
        `${head}: running now, in pid ${explanation.owner.pid} on ${explanation.owner.host}.`,
        '  Another run will wait for it and reuse its result.',
      ];
    case 'will-run':
      if (explanation.reason === 'failed') return describeFailedNode(head, explanation);
      if (explanation.reason === 'incomplete') {
        return [
          `${head}: will run.`,
          '  Its store exists but was never committed: an earlier attempt stopped before it finished. The next run builds it again from the start.',
        ];
      }
      if (explanation.closest === undefined) {
        return [
          `${head}: will run.`,
          explanation.storeCount === 0
            ? `  The working directory ${workdir} holds no stores yet: nothing has run there.`
            : `  No store has this uid, and none of the ${explanation.storeCount} stores in ${workdir} was made by ${explanation.operation} (any version): there is nothing to compare with; this is new work.`,
        ];
      }
      {
        const c = explanation.closest;
        const count = c.differences.length + c.omitted;
        const made = `${describeVersion(`${c.operation.namespace}.${c.operation.name}`, c.operation.version)}, ${c.state === 'committed' ? `committed ${c.at}` : `created ${c.at}, never committed`}`;
        return [
          `${head}: will run.`,
          `  No store has this uid. The closest existing store, ${shortUid(c.uid)} (${made}), differs in ${count} place${count === 1 ? '' : 's'}:`,
          ...describeDifferences(c.differences, c.omitted, '    '),
        ];
      }
    default:
      return assertNever(explanation, 'explanation');
  }
}
