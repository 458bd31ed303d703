/**
 * A WorkerContext owns a working directory for the length of a run: it
 * discovers what is already there (one readdir), sweeps the staging leftovers
 * of dead processes, and builds the nodes of a concrete graph through the
 * builder protocol, as many at once as `jobs` allows.
 */
import { appendFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { buildNode, type BuildEnvironment } from './builder.js';
import { RunGraphError } from './errors.js';
import type { EventError, EventListener, RunCounts, RunEvent } from './events.js';
import type { Uid } from './fingerprint.js';
import { schedule } from './scheduler.js';
import type { VerifyMode } from './store/data-store.js';
import { DEFAULT_STALE_MS } from './store/lock.js';
import type { CommittedMetadata } from './store/metadata.js';
import { currentOwner, type OwnerInfo } from './store/owner.js';
import { listStoreUids, openWorkdir, sweepTmp, type WorkdirLayout } from './store/workdir.js';
import { ledgerRecorder } from './ledger.js';
import type { ConcreteGraph, GraphNode } from './workflow/graph.js';

export interface WorkerContextOptions {
  /** The working directory; created if missing. */
  workdir: string;
  /** Most nodes running at once. Default: the number of CPUs. */
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
function auditHook(log: BuildEnvironment['audit'], recordInLedger: (node: GraphNode) => void): NonNullable<BuildEnvironment['audit']> {
  return (what, node) => {
    log?.(what, node);
    if (what === 'commit') recordInLedger(node);
  };
}

export class WorkerContext {
  readonly layout: WorkdirLayout;
  readonly owner: OwnerInfo;
  readonly jobs: number;
  readonly verify: VerifyMode;
  readonly staleMs: number;
  readonly #emit: EventListener;
  readonly #executionLog: string | undefined;

  private constructor(layout: WorkdirLayout, options: WorkerContextOptions) {
    this.layout = layout;
    this.owner = currentOwner();
    this.jobs = options.jobs ?? availableParallelism();
    this.verify = options.verify ?? 'size';
    this.staleMs = options.staleMs ?? DEFAULT_STALE_MS;
    this.#emit = options.onEvent ?? (() => undefined);
    this.#executionLog = options.executionLog;
    if (!Number.isSafeInteger(this.jobs) || this.jobs < 1) {
      throw new RunGraphError('E_USAGE', `jobs must be a positive integer, got ${String(options.jobs)}`, { value: options.jobs });
    }
  }

  /** Open (or create) a working directory and sweep what dead processes left in tmp/. */
  static async open(options: WorkerContextOptions): Promise<WorkerContext> {
    const context = new WorkerContext(await openWorkdir(options.workdir), options);
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
    const recordInLedger = ledgerRecorder(graph, this.layout.root, this.owner, (node, error) =>
      emit({ type: 'ledger-failed', label: node.label, uid: node.uid, message: error instanceof Error ? error.message : String(error) }),
    );
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
      audit: auditHook(this.#executionLog === undefined ? undefined : executionLogger(this.#executionLog), recordInLedger),
    };
    emit({ type: 'run-started', total: graph.nodes.length, workdir: this.layout.root, jobs: this.jobs });
    const onInterrupt = (): void => emit({ type: 'run-interrupted', running: 0 });
    userSignal.addEventListener('abort', onInterrupt, { once: true });

    const outcome = await schedule({
      count: graph.nodes.length,
      upstream: graph.nodes.map((n) => n.upstream),
      jobs: this.jobs,
      signal,
      start: async (index) => {
        const node = graph.nodes[index];
        if (node === undefined) return false;
        try {
          const built = await buildNode(env, node);
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
      skip: (index, failedIndex) => {
        const node = graph.nodes[index];
        const failed = graph.nodes[failedIndex];
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
    userSignal.removeEventListener('abort', onInterrupt);
    userSignal.removeEventListener('abort', onUserAbort);
    counts.notRun += outcome.notRun.length;
    const interrupted = userSignal.aborted;
    const ok = counts.failed === 0 && !interrupted && counts.reused + counts.committed === counts.total;
    const durationMs = Math.round(performance.now() - started);
    const summary: RunSummary = { ok, interrupted, counts, failures, durationMs, results };
    emit({ type: 'run-finished', ok, interrupted, counts: { ...counts }, durationMs } satisfies RunEvent);
    return summary;
  }
}
