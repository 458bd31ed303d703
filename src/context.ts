/**
 * A WorkerContext owns a working directory for the length of a run: it
 * discovers what is already there (one readdir), sweeps the staging leftovers
 * of dead processes, and builds the nodes of a concrete graph through the
 * builder protocol, as many at once as `jobs` allows.
 */
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
import type { ConcreteGraph } from './workflow/graph.js';

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

export class WorkerContext {
  readonly layout: WorkdirLayout;
  readonly owner: OwnerInfo;
  readonly jobs: number;
  readonly verify: VerifyMode;
  readonly staleMs: number;
  readonly #emit: EventListener;

  private constructor(layout: WorkdirLayout, options: WorkerContextOptions) {
    this.layout = layout;
    this.owner = currentOwner();
    this.jobs = options.jobs ?? availableParallelism();
    this.verify = options.verify ?? 'size';
    this.staleMs = options.staleMs ?? DEFAULT_STALE_MS;
    this.#emit = options.onEvent ?? (() => undefined);
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
    const signal = options.signal ?? new AbortController().signal;
    const emit = this.#emit;
    const finished = new Map<Uid, CommittedMetadata>();
    const results = new Map<string, CommittedMetadata>();
    const failures: NodeFailure[] = [];
    const failedUids = new Set<Uid>();
    const counts: RunCounts = { total: graph.nodes.length, reused: 0, committed: 0, failed: 0, skipped: 0, notRun: 0 };
    const env: BuildEnvironment = {
      layout: this.layout,
      owner: this.owner,
      verify: this.verify,
      staleMs: this.staleMs,
      emit,
      signal,
      existing: await listStoreUids(this.layout),
      finished,
    };
    emit({ type: 'run-started', total: graph.nodes.length, workdir: this.layout.root, jobs: this.jobs });
    const onAbort = (): void => emit({ type: 'run-interrupted', running: 0 });
    signal.addEventListener('abort', onAbort, { once: true });

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
    signal.removeEventListener('abort', onAbort);
    counts.notRun += outcome.notRun.length;
    const interrupted = signal.aborted;
    const ok = counts.failed === 0 && !interrupted && counts.reused + counts.committed === counts.total;
    const durationMs = Math.round(performance.now() - started);
    const summary: RunSummary = { ok, interrupted, counts, failures, durationMs, results };
    emit({ type: 'run-finished', ok, interrupted, counts: { ...counts }, durationMs } satisfies RunEvent);
    return summary;
  }
}
