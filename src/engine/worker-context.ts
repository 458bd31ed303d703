/**
 * A WorkerContext owns a working directory for the length of a run: it
 * discovers what is already there (one readdir), sweeps the staging leftovers
 * of dead processes, and builds the nodes of a concrete graph through the
 * builder protocol, running at most `jobs` operations at once.
 */
import { appendFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { buildNode, prepareNode, releasePrepared, sharingRecord, tidyLeftover, type BuildEnvironment, type NodeOutcome, type PreparedClaim } from './build-node.js';
import { RunGraphError } from '../errors.js';
import type { EventError, EventListener, RunCounts, RunEvent } from './events.js';
import type { Uid } from '../identity/fingerprint.js';
import { JobSlots, schedule, type ScheduleResult } from './scheduler.js';
import { OperationThreads } from './executors/pool.js';
import { verifyStore, type VerifyMode } from '../store/data-store.js';
import { DEFAULT_STALE_MS, LOCK_DIR, primeLockClock } from '../store/lock.js';
import { isCommitted, readStoreMetadataSync, type CommittedMetadata } from '../store/metadata.js';
import { currentOwner, type OwnerInfo } from '../store/owner.js';
import { listStoreUids, openWorkdir, sweepTmp, type WorkdirLayout } from '../store/workdir.js';
import { ledgerRecorder, type LedgerRecorder } from '../store/ledger.js';
import type { ConcreteGraph, GraphNode } from '../workflow/graph.js';

export interface WorkerContextOptions {
  /** The working directory; created if missing. */
  workdir: string;
  /** Most operations running at once. Up to four times as many nodes may be committing meanwhile (waiting on fsync). Default: the number of CPUs. */
  jobs?: number;
  /** Check of committed stores before reuse: `size` (default, cheap) or `checksum` (reads every artifact). */
  verify?: VerifyMode;
  /** Heartbeat age in ms after which another host's lock counts as abandoned. Default 30 000. */
  staleMs?: number;
  /** Receives every event. Default: none. */
  onEvent?: EventListener;
  /**
   * Append one JSON line per execution start and per commit to this file
   * (`{"event":"start","uid":...,"label":...,"pid":...}`), written with
   * O_APPEND in one write so that several processes can share it. An audit
   * trail of what actually ran; the crash tests count executions with it.
   * Default: none.
   */
  executionLog?: string;
  /**
   * Run operations that name their module in worker threads (one per job),
   * keeping JavaScript compute off the thread that beats the lock
   * heartbeats; `inlineSmallInputs` operations with small inputs still run
   * on the main thread (see runsInThread). Default true.
   */
  threads?: boolean;
}

export interface RunOptions {
  /** Abort to stop starting nodes; running nodes are asked to stop at a safe point. */
  signal?: AbortSignal;
}

export interface NodeFailure {
  label: string;
  uid: Uid;
  error: EventError;
}

export interface RunSummary {
  ok: boolean;
  interrupted: boolean;
  counts: RunCounts;
  failures: NodeFailure[];
  durationMs: number;
  /** Committed metadata of every node that finished (built or reused), by label. */
  results: Map<string, CommittedMetadata>;
}

/** Plain-data form of any error, for events and summaries. */
export function toEventError(error: unknown): EventError {
  if (error instanceof RunGraphError) {
    return { code: error.code, message: error.describe(), ...(error.hint === undefined ? {} : { hint: error.hint }) };
  }
  return { code: 'E_INTERNAL', message: error instanceof Error ? (error.stack ?? error.message) : String(error) };
}

function executionLogger(path: string): NonNullable<BuildEnvironment['audit']> {
  return (what, node) => {
    // Synchronous on purpose: the line is on disk before the operation starts or the commit is reported.
    appendFileSync(path, `${JSON.stringify({ event: what, uid: node.uid, label: node.label, pid: process.pid, time: Date.now() })}\n`);
  };
}

/** The builder's audit hook: the execution log, if any, and the ledger entry of every commit. */
function auditHook(log: BuildEnvironment['audit'], ledger: LedgerRecorder): NonNullable<BuildEnvironment['audit']> {
  return (what, node) => {
    log?.(what, node);
    if (what === 'commit') ledger.record(node);
  };
}

/**
 * Nodes in the scheduler at once, per job. `jobs` of them publish, claim and
 * run (the compute slots); the others commit, which is mostly waiting for
 * fsync. With several commits in flight their fsyncs share the file
 * system's journal commits, so a node's commit costs a fraction of its
 * latency instead of all of it.
 */
export const NODES_IN_FLIGHT_PER_JOB = 4;

/** Stores the resume pre-pass checks between two yields to the event loop. */
const REUSE_CHECK_BATCH = 256;

/**
 * The nodes whose stores exist, are committed and pass verification, found
 * before scheduling. Reusing a node waits only on the file system (its
 * metadata, a stat per artifact, whether a lock was left behind): done in the
 * scheduler, `jobs` at a time and each read a chain of thread-pool round
 * trips, a no-op resume costs far more than the reads themselves. Here the
 * metadata and the lock are read synchronously, in batches between which the
 * event loop runs, and the artifacts of a batch are verified concurrently.
 * The check is the builder's own for a store that exists; a store it does not
 * accept (or that fails to read) is left to the builder, which decides and
 * reports as usual.
 */
async function findReusable(env: BuildEnvironment, nodes: readonly GraphNode[]): Promise<Map<Uid, CommittedMetadata>> {
  const candidates = nodes.filter((node) => env.existing.has(node.uid));
  const reusable = new Map<Uid, CommittedMetadata>();
  for (let first = 0; first < candidates.length && !env.signal.aborted; first += REUSE_CHECK_BATCH) {
    const batch = candidates.slice(first, first + REUSE_CHECK_BATCH).flatMap((node) => {
      const storeDir = env.layout.storeDir(node.uid);
      const metadata = readStoreMetadataSync(storeDir);
      if (!isCommitted(metadata)) return [];
      // A lock left by a process killed between its commit and its release (rare): cleared below, as the builder does.
      const locked = statSync(join(storeDir, LOCK_DIR), { throwIfNoEntry: false }) !== undefined;
      return [{ node, storeDir, metadata, locked }];
    });
    await Promise.all(
      batch.map(async ({ node, storeDir, metadata, locked }) => {
        try {
          if ((await verifyStore(storeDir, metadata, env.verify)) !== undefined) return;
          if (locked) await tidyLeftover(env, storeDir);
          reusable.set(node.uid, sharingRecord(metadata, node));
        } catch {
          // The builder will meet the same error and report it.
        }
      }),
    );
  }
  return reusable;
}

/** tidyLeftover for each of these committed stores, one at a time: few have a lock to clear, and a stat each tells which. */
async function tidyLeftovers(env: BuildEnvironment, uids: Iterable<Uid>): Promise<void> {
  for (const uid of uids) await tidyLeftover(env, env.layout.storeDir(uid)).catch(() => undefined);
}

export class WorkerContext {
  readonly layout: WorkdirLayout;
  readonly owner: OwnerInfo;
  readonly jobs: number;
  readonly verify: VerifyMode;
  readonly staleMs: number;
  readonly #emit: EventListener;
  readonly #executionLog: string | undefined;
  readonly #threads: boolean;

  private constructor(layout: WorkdirLayout, options: WorkerContextOptions) {
    this.layout = layout;
    this.owner = currentOwner();
    this.jobs = options.jobs ?? availableParallelism();
    this.verify = options.verify ?? 'size';
    this.staleMs = options.staleMs ?? DEFAULT_STALE_MS;
    this.#emit = options.onEvent ?? (() => undefined);
    this.#executionLog = options.executionLog;
    this.#threads = options.threads ?? true;
    if (!Number.isSafeInteger(this.jobs) || this.jobs < 1) {
      throw new RunGraphError('E_USAGE', `jobs must be a positive integer, got ${String(options.jobs)}`, { value: options.jobs });
    }
  }

  /** Open (or create) a working directory and sweep what dead processes left in tmp/. */
  static async open(options: WorkerContextOptions): Promise<WorkerContext> {
    const context = new WorkerContext(await openWorkdir(options.workdir), options);
    await primeLockClock(context.layout.tmp, context.owner);
    const swept = await sweepTmp(context.layout);
    if (swept.length > 0) context.#emit({ type: 'tmp-swept', entries: swept });
    return context;
  }

  /** Build every node of the graph; reuse what is committed. Never throws for a node failure: see the summary. */
  async run(graph: ConcreteGraph, options: RunOptions = {}): Promise<RunSummary> {
    const started = performance.now();
    const userSignal = options.signal ?? new AbortController().signal;
    // Stops the run on an interrupt, or on a failure of the working directory itself (a full disk fails every node).
    const stop = new AbortController();
    const signal = stop.signal;
    const onUserAbort = (): void => stop.abort();
    if (userSignal.aborted) stop.abort();
    else userSignal.addEventListener('abort', onUserAbort, { once: true });
    const emit = this.#emit;
    const finished = new Map<Uid, CommittedMetadata>();
    const results = new Map<string, CommittedMetadata>();
    const failures: NodeFailure[] = [];
    const failedUids = new Set<Uid>();
    const counts: RunCounts = { total: graph.nodes.length, reused: 0, committed: 0, failed: 0, skipped: 0, notRun: 0 };
    const ledger = ledgerRecorder(graph, this.layout.root, this.owner, (node, error) =>
      emit({ type: 'ledger-failed', label: node.label, uid: node.uid, message: error instanceof Error ? error.message : String(error) }),
    );
    const threads = this.#threads ? OperationThreads.create(this.jobs) : undefined;
    const inFlight = this.jobs * NODES_IN_FLIGHT_PER_JOB;
    // Committed stores being tidied in the background (see BuildEnvironment.afterCommit).
    const tidyings = new Set<Promise<void>>();
    // Stores claimed ahead of their node's start (see prepareNode), and the schedule's hook of each node being built.
    const prepared = new Map<Uid, { node: GraphNode; claim: Promise<PreparedClaim> }>();
    const committingHooks = new Map<Uid, () => void>();
    const env: BuildEnvironment = {
      layout: this.layout,
      owner: this.owner,
      verify: this.verify,
      staleMs: this.staleMs,
      emit,
      signal,
      existing: await listStoreUids(this.layout),
      finished,
      waiting: new Set(),
      othersSeen: false,
      compute: new JobSlots(this.jobs),
      prepared,
      committing: (node) => committingHooks.get(node.uid)?.(),
      afterCommit: (tidying) => {
        tidyings.add(tidying);
        void tidying.finally(() => tidyings.delete(tidying));
      },
      ...(threads === undefined ? {} : { threads }),
      audit: auditHook(this.#executionLog === undefined ? undefined : executionLogger(this.#executionLog), ledger),
    };
    emit({ type: 'run-started', total: graph.nodes.length, workdir: this.layout.root, jobs: this.jobs });
    const onInterrupt = (): void => emit({ type: 'run-interrupted', running: 0 });
    userSignal.addEventListener('abort', onInterrupt, { once: true });
    const reusable = await findReusable(env, graph.nodes);
    const reuse = (node: GraphNode, metadata: CommittedMetadata): NodeOutcome => {
      emit({ type: 'node-reused', label: node.label, uid: node.uid });
      return { kind: 'reused', metadata };
    };

    const slots = new JobSlots(inFlight);
    // The top-level graph, and each batch of nodes a loop iteration adds, run through here with shared slots.
    const runNodes = (nodes: readonly GraphNode[], reusable: ReadonlyMap<Uid, CommittedMetadata>): Promise<ScheduleResult> => schedule({
      count: nodes.length,
      upstream: nodes.map((n) => n.upstream),
      jobs: inFlight,
      slots,
      holdsSlot: (index) => nodes[index]?.operation.control !== true,
      signal,
      start: async (index, committing) => {
        const node = nodes[index];
        if (node === undefined) return false;
        try {
          const committed = reusable.get(node.uid);
          let built: NodeOutcome;
          if (committed === undefined) {
            committingHooks.set(node.uid, committing);
            built = await buildNode(env, node).finally(() => committingHooks.delete(node.uid));
          } else {
            built = reuse(node, committed);
          }
          if (built.kind === 'deferred') return 'deferred';
          finished.set(node.uid, built.metadata);
          results.set(node.label, built.metadata);
          if (built.kind === 'reused') counts.reused++;
          else counts.committed++;
          return true;
        } catch (error) {
          const failure = toEventError(error);
          if (failure.code === 'E_INTERRUPTED') {
            counts.notRun++;
            return false;
          }
          counts.failed++;
          failures.push({ label: node.label, uid: node.uid, error: failure });
          failedUids.add(node.uid);
          emit({ type: 'node-failed', label: node.label, uid: node.uid, error: failure });
          if (failure.code === 'E_WORKDIR') stop.abort();
          return false;
        }
      },
      prepare: (index) => {
        const node = nodes[index];
        // Only fresh stores, never a loop, never more than `jobs` claims waiting at once.
        if (node === undefined || node.operation.control === true || env.existing.has(node.uid) || prepared.has(node.uid) || prepared.size >= this.jobs || signal.aborted) return;
        const claim = prepareNode(env, node);
        // Handled here so that a failure before the node starts is not an unhandled rejection; the builder meets it when it awaits the claim.
        claim.catch(() => undefined);
        prepared.set(node.uid, { node, claim });
      },
      skip: (index, failedIndex) => {
        const node = nodes[index];
        const failed = nodes[failedIndex];
        if (node === undefined || failed === undefined) return;
        // Nodes downstream of an interrupted one are simply not run.
        if (signal.aborted && !failedUids.has(failed.uid)) {
          counts.notRun++;
          return;
        }
        counts.skipped++;
        emit({ type: 'node-skipped', label: node.label, uid: node.uid, reason: 'upstream-failed', upstream: failed.label });
      },
    });
    env.controlFor = (loop) => ({
      runSubgraph: async (subgraph, bindings, prefix, scopeDepends) => {
        if (graph.assembler === undefined) throw new RunGraphError('E_NODE_FAILED', 'this graph was built without an assembler, so its loops cannot run', { node: loop.label });
        const { nodes, outputs } = graph.assembler.instantiate(subgraph, bindings, prefix, scopeDepends);
        counts.total += nodes.length;
        emit({ type: 'nodes-added', label: loop.label, count: nodes.length });
        const inner = await runNodes(nodes, await findReusable(env, nodes));
        if (signal.aborted) throw new RunGraphError('E_INTERRUPTED', 'interrupted inside the loop', { node: loop.label });
        const failed = inner.failed.map((i) => nodes[i]).find((n) => n !== undefined && failedUids.has(n.uid));
        if (failed !== undefined) {
          const reason = failures.find((f) => f.uid === failed.uid)?.error.message ?? 'failed';
          throw new RunGraphError('E_NODE_FAILED', `node '${failed.label}' of the loop failed: ${reason}`, { node: loop.label });
        }
        return outputs;
      },
      artifact: (ref) => {
        const entry = finished.get(ref.uid)?.artifacts[ref.output];
        if (entry === undefined) throw new RunGraphError('E_CORRUPT_STORE', `no committed artifact for '${ref.label}.${ref.output}'`, { node: loop.label, value: ref.uid });
        return { path: join(this.layout.storeDir(ref.uid), entry.path), entry };
      },
      progress: (iteration, stop) => emit({ type: 'loop-iteration', label: loop.label, uid: loop.uid, iteration, stop }),
    });
    const outcome = await runNodes(graph.nodes, reusable).finally(async () => Promise.all([threads?.close(), ledger.flush(), Promise.all(tidyings), Promise.all([...prepared.values()].map(({ node, claim }) => releasePrepared(env, claim, node)))]));
    userSignal.removeEventListener('abort', onInterrupt);
    userSignal.removeEventListener('abort', onUserAbort);
    counts.notRun += outcome.notRun.length;
    // Processes that died while this run went on (another worker, killed) may have left staging entries, and locks on
    // stores committed meanwhile (see tidyLeftover); a later run would clear those, this one does now.
    if (env.othersSeen) await tidyLeftovers(env, finished.keys());
    const swept = await sweepTmp(this.layout).catch(() => []);
    if (swept.length > 0) emit({ type: 'tmp-swept', entries: swept });
    const interrupted = userSignal.aborted;
    const ok = counts.failed === 0 && !interrupted && counts.reused + counts.committed === counts.total;
    const durationMs = Math.round(performance.now() - started);
    const summary: RunSummary = { ok, interrupted, counts, failures, durationMs, results };
    emit({ type: 'run-finished', ok, interrupted, counts: { ...counts }, durationMs } satisfies RunEvent);
    return summary;
  }
}
