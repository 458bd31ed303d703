/**
 * A WorkerContext owns a working directory for as long as a process uses
 * it: opening it sweeps the staging leftovers of dead processes, and each
 * `run(graph)` builds the nodes of a concrete graph there as one Run
 * (run.ts), running at most `jobs` operations at once through the local
 * executor.
 */
import { RunGraphError } from '../errors.js';
import type { Uid } from '../identity/fingerprint.js';
import type { VerifyMode } from '../store/data-store.js';
import { DEFAULT_STALE_MS, primeLockClock } from '../store/lock.js';
import { currentOwner, type OwnerInfo } from '../store/owner.js';
import { Stores } from '../store/store.js';
import { openWorkdir, type WorkdirLayout } from '../store/workdir.js';
import type { ConcreteGraph } from '../workflow/graph.js';
import { checkNodesFit, runCapacity, type Capacity } from './capacity.js';
import type { EventListener } from './events.js';
import { LocalExecutor } from './executors/local.js';
import type { PublishTarget } from './publisher.js';
import { Run, type RunSummary } from './run.js';

export { NODES_IN_FLIGHT_PER_JOB, toEventError, type NodeFailure, type RunSummary } from './run.js';

export interface WorkerContextOptions {
  /** The working directory; created if missing. */
  workdir: string;
  /**
   * Most operations running at once, whatever their cpus. Up to four times
   * as many nodes may be committing meanwhile (waiting on fsync). Default:
   * the cores.
   */
  jobs?: number;
  /**
   * Cores of the run: the `cpus` of the nodes running at once add up to at
   * most this. Default: `jobs` if given (as Snakemake's local `--jobs`),
   * else what this process may use (Slurm's allocation inside a job, else
   * its CPU affinity; see capacity.ts).
   */
  cores?: number;
  /** Memory of the run in bytes, shared by the nodes' declared `memory`. Default: what this process may use. */
  memoryBytes?: number;
  /**
   * The GPU devices of the run, by the ids CUDA_VISIBLE_DEVICES names them
   * with: a node's `gpus` take that many for each attempt (a Subprocess gets
   * them in CUDA_VISIBLE_DEVICES), and a node asking for more than there are
   * is E_UNSATISFIABLE. Default: not counted.
   */
  gpus?: readonly string[];
  /** Where `gpus` came from, for messages. Default: "the gpus option". */
  gpusFrom?: string;
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
  /** Uids of nodes to build again even if committed (the old store is kept aside until the new one commits). Default: none. */
  forced?: ReadonlySet<Uid>;
  /** Outputs to put at published paths as their nodes commit or are reused (see engine/publisher.ts). Default: none. */
  publish?: readonly PublishTarget[];
  /**
   * After the first node that fails for good, start no other node; those
   * running finish (and commit). Default: false, every node that does not
   * depend on a failed one runs.
   */
  failFast?: boolean;
  /**
   * Whether this run settles the stores kept aside for forced nodes
   * (store/superseded.ts) as it starts and ends. Default true; false for a
   * run that builds nodes on behalf of another process that forces them (a
   * Slurm job of the controller, which settles them itself).
   */
  settleSuperseded?: boolean;
}

export class WorkerContext {
  readonly layout: WorkdirLayout;
  readonly owner: OwnerInfo;
  readonly jobs: number;
  /** The cores and memory the run's nodes share. */
  readonly capacity: Capacity;
  readonly verify: VerifyMode;
  readonly staleMs: number;
  readonly #stores: Stores;
  readonly #emit: EventListener;
  readonly #executionLog: string | undefined;
  readonly #threads: boolean;

  private constructor(layout: WorkdirLayout, options: WorkerContextOptions) {
    this.layout = layout;
    this.owner = currentOwner();
    for (const [name, value] of [
      ['jobs', options.jobs],
      ['cores', options.cores],
    ] as const)
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 1))
        throw new RunGraphError('E_USAGE', `${name} must be a positive integer, got ${String(value)}`, { value });
    this.capacity = runCapacity({
      ...(options.jobs === undefined ? {} : { jobs: options.jobs }),
      ...(options.cores === undefined ? {} : { cores: options.cores }),
      ...(options.memoryBytes === undefined ? {} : { memoryBytes: options.memoryBytes }),
      ...(options.gpus === undefined
        ? {}
        : { gpus: { ids: options.gpus, from: options.gpusFrom ?? 'the gpus option' } }),
    });
    this.jobs = this.capacity.jobs;
    this.verify = options.verify ?? 'size';
    this.staleMs = options.staleMs ?? DEFAULT_STALE_MS;
    this.#stores = new Stores(layout, this.owner, { verify: this.verify, staleMs: this.staleMs });
    this.#emit = options.onEvent ?? (() => undefined);
    this.#executionLog = options.executionLog;
    this.#threads = options.threads ?? true;
  }

  /** Open (or create) a working directory and sweep what dead processes left in tmp/. */
  static async open(options: WorkerContextOptions): Promise<WorkerContext> {
    const context = new WorkerContext(await openWorkdir(options.workdir), options);
    await primeLockClock(context.layout.tmp, context.owner);
    const swept = await context.#stores.sweepTmp();
    if (swept.length > 0) context.#emit({ type: 'tmp-swept', entries: swept });
    return context;
  }

  /** Build every node of the graph; reuse what is committed. Never throws for a node failure: see the summary. */
  run(graph: ConcreteGraph, options: RunOptions = {}): Promise<RunSummary> {
    try {
      checkNodesFit(graph.nodes, this.capacity, graph.file);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Run(graph, {
      stores: this.#stores,
      executor: new LocalExecutor({ threads: this.jobs, useThreads: this.#threads }),
      jobs: this.jobs,
      capacity: this.capacity,
      emit: this.#emit,
      executionLog: this.#executionLog,
      signal: options.signal ?? new AbortController().signal,
      forced: options.forced ?? new Set(),
      publish: options.publish ?? [],
      failFast: options.failFast ?? false,
      settleSuperseded: options.settleSuperseded ?? true,
    }).execute();
  }
}
