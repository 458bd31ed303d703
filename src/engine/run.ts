/**
 * One run of a graph: the owner of everything a run knows while it goes on
 * (the counts, the finished nodes, the failures, the stores claimed ahead of
 * time, the tidyings still in flight) and the one thing the scheduler and
 * the builder talk to. A WorkerContext makes a Run for each `run()` call.
 *
 *     start -> reuse pre-pass -> schedule the graph's nodes -> finish
 *                                  each node: buildNode (build-node.ts)
 *                                  each loop iteration: a nested schedule
 */
import { appendFileSync } from 'node:fs';
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import { join } from 'node:path';
import { RunGraphError } from '../errors.js';
import type { Uid } from '../identity/fingerprint.js';
import type { ControlContext } from '../operations/operation.js';
import { ledgerRecorder, type LedgerRecorder } from '../store/ledger.js';
import type { ArtifactEntry, CommittedMetadata } from '../store/metadata.js';
import type { OwnerInfo } from '../store/owner.js';
import type { StoreClaim, Stores } from '../store/store.js';
import { listStoreUids } from '../store/workdir.js';
import type { ConcreteGraph, GraphNode } from '../workflow/graph.js';
import { settleForced, supersedeForced } from './forced-stores.js';
import {
  buildNode,
  claimStore,
  giveBack,
  type ComputeSlots,
  type Landing,
  type NodeOutcome,
  type NodeRun,
  UpstreamNotLanded,
  upstreamCommitted,
} from './build-node.js';
import { DevicePool, checkNodesFit, memorySlots, type Capacity } from './capacity.js';
import type { EventError, EventListener, RunCounts } from './events.js';
import type { Executor } from './executors/executor.js';
import { Publisher, type PublishTarget } from './publisher.js';
import { JobSlots, Schedule, type ScheduleResult } from './scheduler.js';
import { deferred, type Deferred } from '../util/deferred.js';

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
  /** Published outputs that could not be put at their paths (each a `publish-failed` event). */
  publishFailures: number;
}

/** Plain-data form of any error, for events and summaries. */
export function toEventError(error: unknown): EventError {
  if (error instanceof RunGraphError) {
    return { code: error.code, message: error.describe(), ...(error.hint === undefined ? {} : { hint: error.hint }) };
  }
  return { code: 'E_INTERNAL', message: error instanceof Error ? (error.stack ?? error.message) : String(error) };
}

/**
 * Nodes in the scheduler at once, per job. `jobs` of them publish, claim and
 * run (the compute slots); the others commit, which is mostly waiting for
 * fsync. With several commits in flight their fsyncs share the file
 * system's journal commits, so a node's commit costs a fraction of its
 * latency instead of all of it.
 */
export const NODES_IN_FLIGHT_PER_JOB = 4;

/** Stores the reuse pre-pass checks between two yields to the event loop. */
const REUSE_CHECK_BATCH = 256;

/** What a run is given by its WorkerContext. */
export interface RunSetup {
  readonly stores: Stores;
  readonly executor: Executor;
  /** Most operations running at once. */
  readonly jobs: number;
  /** The run's cores and memory, shared by the nodes running at once. */
  readonly capacity: Capacity;
  readonly emit: EventListener;
  /** Append a JSON line per execution start and per commit to this file (see WorkerContextOptions.executionLog). */
  readonly executionLog: string | undefined;
  /** Aborted to stop the run: no node starts after it, running ones stop at a safe point. */
  readonly signal: AbortSignal;
  /** Nodes built again even if committed: their committed stores are kept aside until the new ones commit. */
  readonly forced: ReadonlySet<Uid>;
  /** Outputs put at their published paths as their nodes finish. */
  readonly publish: readonly PublishTarget[];
  /** Start no node after the first one that fails for good (see RunOptions.failFast). */
  readonly failFast: boolean;
  /** Whether to settle superseded/ at the start and the end (see RunOptions.settleSuperseded). */
  readonly settleSuperseded: boolean;
}

export class Run implements NodeRun {
  readonly stores: Stores;
  readonly executor: Executor;
  readonly emit: EventListener;
  readonly compute: ComputeSlots;
  readonly #graph: ConcreteGraph;
  readonly #setup: RunSetup;
  readonly #started = performance.now();
  /** Aborted by the caller's signal, or by a failure of the working directory itself (a full disk fails every node). */
  readonly #stop = new AbortController();
  /** Aborted at the first failure when the run fails fast: no node starts after it, running ones go on. */
  readonly #halt = new AbortController();
  readonly #startSignal = AbortSignal.any([this.#stop.signal, this.#halt.signal]);
  /** Slots for the nodes in flight, shared by the graph's schedule and every loop iteration's. */
  readonly #inFlight: JobSlots;
  readonly #ledger: LedgerRecorder;
  readonly #counts: RunCounts;
  /** Stores there when the run began (one readdir), so absent ones cost no stat. */
  #existing: ReadonlySet<Uid> = new Set();
  /** Committed metadata of finished nodes, by uid: where downstream nodes find their inputs. */
  readonly #finished = new Map<Uid, CommittedMetadata>();
  /** Metadata of nodes whose artifacts are in place while they commit, by uid: inputs for nodes started early. */
  readonly #inPlace = new Map<Uid, CommittedMetadata>();
  /**
   * How the commit of each node released early (see outputsInPlace) ended,
   * by uid: pending while it commits; dropped once it has committed; kept
   * if it failed, and if it lost its store to another process until the
   * node settles (see #deferred): a node started on its artifacts may ask
   * after that, and must not read a missing entry as a commit.
   */
  readonly #landing = new Map<Uid, Deferred<Landing>>();
  /**
   * Nodes that released the nodes below them and then lost their store to
   * another process, by uid: settled once the node's outcome is known in
   * this run. Until then, nothing below them starts.
   */
  readonly #revoked = new Map<Uid, Deferred<void>>();
  readonly #results = new Map<string, CommittedMetadata>();
  readonly #failures: NodeFailure[] = [];
  readonly #failed = new Set<Uid>();
  /** Nodes reported as waiting for another process, so each is reported once until it is claimed. */
  readonly #waiting = new Set<Uid>();
  /** Set once another process is seen publishing or holding one of this run's stores (see #finish). */
  #othersSeen = false;
  /** Stores claimed while the node before them commits, by uid (see committing). */
  readonly #claimsAhead = new Map<Uid, Promise<StoreClaim>>();
  /** Where each node being built sits in its schedule, to find the nodes that follow it. */
  readonly #building = new Map<Uid, { schedule: Schedule; nodes: readonly GraphNode[]; index: number }>();
  /** Committed stores being tidied in the background. */
  readonly #tidyings = new Set<Promise<void>>();
  /** Nodes another process committed during this run, known from the ledger; their metadata is read only when needed. */
  readonly #elsewhere = new Map<Uid, GraphNode>();
  /** What each deferred node waits for before it is tried again, by uid. */
  readonly #wakes = new Map<Uid, Promise<void>>();
  /** Nodes passed over once because another process seemed to hold them (see seemsHeldElsewhere). */
  readonly #passedOver = new Set<Uid>();
  /** Picks among ready nodes once others share the directory (see #pick). */
  readonly #random: () => number;
  readonly #publisher: Publisher;

  constructor(graph: ConcreteGraph, setup: RunSetup) {
    this.#graph = graph;
    this.#setup = setup;
    this.stores = setup.stores;
    this.executor = setup.executor;
    this.emit = setup.emit;
    this.compute = {
      jobs: new JobSlots(setup.jobs),
      cores: new JobSlots(setup.capacity.cores),
      memory: new JobSlots(Math.max(1, memorySlots(setup.capacity.memoryBytes))),
      gpus: setup.capacity.gpus === undefined ? undefined : new DevicePool(setup.capacity.gpus),
    };
    this.#inFlight = new JobSlots(setup.jobs * NODES_IN_FLIGHT_PER_JOB);
    this.#publisher = new Publisher(setup.publish, setup.emit);
    this.#counts = { total: graph.nodes.length, reused: 0, committed: 0, failed: 0, skipped: 0, notRun: 0 };
    this.#random = seededRandom(this.stores.owner.contextId);
    this.#ledger = ledgerRecorder(graph, this.stores.layout.root, this.stores.owner, (node, error) =>
      this.emit({
        type: 'ledger-failed',
        label: node.label,
        uid: node.uid,
        message: error instanceof Error ? error.message : String(error),
      }),
    );
  }

  get startSignal(): AbortSignal {
    return this.#startSignal;
  }

  get signal(): AbortSignal {
    return this.#stop.signal;
  }

  /** Build every node of the graph; reuse what is committed. Never throws for a node failure: see the summary. */
  async execute(): Promise<RunSummary> {
    const userSignal = this.#setup.signal;
    const onUserAbort = (): void => this.#stop.abort();
    const onInterrupt = (): void => this.emit({ type: 'run-interrupted', running: 0 });
    if (userSignal.aborted) this.#stop.abort();
    else userSignal.addEventListener('abort', onUserAbort, { once: true });
    let outcome: ScheduleResult;
    try {
      await this.#settleSuperseded();
      await this.#supersedeForced();
      this.#existing = await listStoreUids(this.stores.layout);
      this.emit({
        type: 'run-started',
        total: this.#graph.nodes.length,
        workdir: this.stores.layout.root,
        jobs: this.#setup.jobs,
      });
      userSignal.addEventListener('abort', onInterrupt, { once: true });
      outcome = await this.#buildNodes(this.#graph.nodes);
    } finally {
      await Promise.all([
        this.executor.close(),
        this.#ledger.flush(),
        Promise.all(this.#tidyings),
        Promise.all([...this.#claimsAhead.values()].map(giveBack)),
      ]);
      // A forced node that failed or was interrupted gets its old result back.
      await this.#settleSuperseded();
      this.stores.commits.close();
      userSignal.removeEventListener('abort', onInterrupt);
      userSignal.removeEventListener('abort', onUserAbort);
    }
    this.#counts.notRun += outcome.notRun.length;
    return this.#finish(userSignal.aborted);
  }

  // --- NodeRun: what building a node asks of the run

  mayExist(node: GraphNode): boolean {
    // Once others work here, any store may have appeared since the listing: look before publishing.
    return this.#othersSeen || this.#existing.has(node.uid);
  }

  takeClaimAhead(node: GraphNode): Promise<StoreClaim> | undefined {
    const claim = this.#claimsAhead.get(node.uid);
    this.#claimsAhead.delete(node.uid);
    return claim;
  }

  /**
   * Claim the stores of the nodes that become ready once `node` commits, so
   * that this time, mostly spent waiting for the file system's journal,
   * overlaps the commit instead of following it. Only stores absent when the
   * run started, never a loop's, never more than `jobs` claims waiting at
   * once. Nothing is executed ahead of time; a claim never taken (the
   * upstream failed, the run was interrupted) is given back as the run ends.
   */
  committing(node: GraphNode): void {
    const at = this.#building.get(node.uid);
    if (at === undefined) return;
    for (const index of at.schedule.readyAfter(at.index)) {
      const next = at.nodes[index];
      if (next === undefined || !this.#mayClaimAhead(next)) continue;
      const claim = claimStore(this, next, this.#othersSeen);
      // Handled here so that a failure before the node starts is not an unhandled rejection; the builder meets it when it awaits the claim.
      claim.catch(() => undefined);
      this.#claimsAhead.set(next.uid, claim);
    }
  }

  /**
   * The node's artifacts are in place and only its commit is left: the
   * nodes below it that may start early (see #startsEarly) need not wait
   * for that commit, which is mostly waiting for the disk. They read the
   * artifacts as they are, and hold their own commits until this one has
   * landed (upstreamCommitted); if it fails, they are skipped. Not for a
   * loop's node, whose iterations have a schedule of their own.
   */
  outputsInPlace(node: GraphNode, metadata: CommittedMetadata): void {
    const at = this.#building.get(node.uid);
    if (at === undefined || node.operation.control === true) return;
    this.#inPlace.set(node.uid, metadata);
    this.#landing.set(node.uid, deferred<Landing>());
    at.schedule.release(at.index);
  }

  async upstreamLanded(node: GraphNode): Promise<Landing> {
    const landing = node.record.depends.flatMap((uid) => this.#landing.get(uid)?.promise ?? []);
    if (landing.length === 0) return 'committed';
    const ends = await Promise.all(landing);
    return ends.includes('failed') ? 'failed' : ends.includes('lost') ? 'lost' : 'committed';
  }

  /** A node's outcome is settled and the schedule knows what it readied or skipped: nodes started on its artifacts learn whether it committed. */
  #settled(node: GraphNode, ok: boolean): void {
    const revoked = this.#revoked.get(node.uid);
    this.#revoked.delete(node.uid);
    revoked?.resolve();
    const landing = this.#landing.get(node.uid);
    if (landing === undefined) return;
    this.#inPlace.delete(node.uid);
    // A failure stays known: a node started early on it may ask only after it has settled.
    if (ok) this.#landing.delete(node.uid);
    else this.#landing.set(node.uid, landed('failed'));
    landing.resolve(ok ? 'committed' : 'failed');
  }

  /**
   * The node is deferred (another process holds its store, or took it over).
   * If nodes below it started on its artifacts, they learn that those were
   * never committed: each is deferred in turn, and none starts, until this
   * node's outcome in this run is known (see #revokedUpstream).
   */
  #deferred(node: GraphNode, wake: Promise<void> | undefined): 'deferred' {
    if (wake !== undefined) this.#wakes.set(node.uid, wake);
    const landing = this.#landing.get(node.uid);
    if (landing !== undefined) {
      this.#inPlace.delete(node.uid);
      if (!this.#revoked.has(node.uid)) this.#revoked.set(node.uid, deferred<void>());
      // Kept until the node settles: a node started on those artifacts may ask only later.
      this.#landing.set(node.uid, landed('lost'));
      landing.resolve('lost');
    }
    return 'deferred';
  }

  /** What a node must wait for before it may start: an upstream node that released it, then lost its store. */
  #revokedUpstream(node: GraphNode): Promise<void> | undefined {
    if (this.#revoked.size === 0) return undefined;
    const waits = node.record.depends.flatMap((uid) => this.#revoked.get(uid)?.promise ?? []);
    return waits.length === 0 ? undefined : Promise.all(waits).then(() => undefined);
  }

  /** Whether a node may start on the artifacts of upstream nodes still committing: one that will build and commit. */
  #startsEarly(node: GraphNode, reusable: ReadonlyMap<Uid, CommittedMetadata>): boolean {
    return node.operation.control !== true && !reusable.has(node.uid);
  }

  #mayClaimAhead(node: GraphNode): boolean {
    if (node.operation.control === true || this.#existing.has(node.uid) || this.#claimsAhead.has(node.uid))
      return false;
    if (this.#othersSeen && this.stores.commits.has(node.uid)) return false;
    return this.#claimsAhead.size < this.#setup.jobs && !this.signal.aborted && !this.#halt.signal.aborted;
  }

  claimed(node: GraphNode, claim: StoreClaim): void {
    if (claim.kind === 'held' || (claim.foundPublished && !this.#existing.has(node.uid))) this.#othersSeen = true;
    if (claim.kind === 'acquired') this.#waiting.delete(node.uid);
  }

  waitingFor(node: GraphNode, owner: OwnerInfo | undefined): void {
    if (this.#waiting.has(node.uid)) return;
    this.#waiting.add(node.uid);
    this.emit({
      type: 'lock-waiting',
      label: node.label,
      uid: node.uid,
      owner: owner === undefined ? null : { pid: owner.pid, host: owner.host },
    });
  }

  /**
   * Once others work here, a node not yet seen held is first looked at with
   * one stat of its lock: a fresh lock means another process builds it, and
   * the node waits for its commit. A node seen held before goes through a
   * claim, which decides whether its holder still lives.
   */
  seemsHeldElsewhere(node: GraphNode): boolean {
    if (!this.#othersSeen || this.#waiting.has(node.uid) || this.#passedOver.has(node.uid)) return false;
    // Its lock may be this run's own: the claim made for it ahead of time.
    if (this.#claimsAhead.has(node.uid)) return false;
    if (!this.stores.seemsHeld(node.uid)) return false;
    this.#passedOver.add(node.uid);
    return true;
  }

  waitForCommit(node: GraphNode): Promise<void> {
    // Long enough not to poll the holder, short enough to notice soon that it died.
    const recheckMs = Math.min(5_000, Math.max(1_000, this.stores.options.staleMs / 10));
    return this.stores.commits.waitFor(node.uid, recheckMs, this.signal);
  }

  finishedArtifact(uid: Uid, output: string): ArtifactEntry | undefined {
    return this.#finishedMetadata(uid)?.artifacts[output];
  }

  /** A finished node's metadata; one committed elsewhere is read on first need. */
  #finishedMetadata(uid: Uid): CommittedMetadata | undefined {
    const known = this.#finished.get(uid) ?? this.#inPlace.get(uid);
    if (known !== undefined) return known;
    const node = this.#elsewhere.get(uid);
    if (node === undefined) return undefined;
    const metadata = this.stores.committedElsewhere(uid, node.record);
    if (metadata !== undefined) {
      this.#finished.set(uid, metadata);
      this.#results.set(node.label, metadata);
    }
    return metadata;
  }

  afterCommit(tidied: Promise<void>): void {
    this.#tidyings.add(tidied);
    void tidied.finally(() => this.#tidyings.delete(tidied));
  }

  audit(what: 'start' | 'commit', node: GraphNode): void {
    const log = this.#setup.executionLog;
    // Synchronous on purpose: the line is on disk before the operation starts or the commit is reported.
    if (log !== undefined)
      appendFileSync(
        log,
        `${JSON.stringify({ event: what, uid: node.uid, label: node.label, pid: process.pid, time: Date.now() })}\n`,
      );
    if (what === 'commit') this.#ledger.record(node);
  }

  controlFor(loop: GraphNode): ControlContext {
    return {
      runSubgraph: async (subgraph, bindings, prefix, scopeDepends) => {
        const assembler = this.#graph.assembler;
        if (assembler === undefined)
          throw new RunGraphError(
            'E_NODE_FAILED',
            'this graph was built without an assembler, so its loops cannot run',
            { node: loop.label },
          );
        const { nodes, outputs } = assembler.instantiate(subgraph, bindings, prefix, scopeDepends);
        checkNodesFit(nodes, this.#setup.capacity, this.#graph.file);
        this.#counts.total += nodes.length;
        this.emit({ type: 'nodes-added', label: loop.label, count: nodes.length });
        const inner = await this.#buildNodes(nodes);
        if (this.signal.aborted)
          throw new RunGraphError('E_INTERRUPTED', 'interrupted inside the loop', { node: loop.label });
        const failed = inner.failed.map((i) => nodes[i]).find((n) => n !== undefined && this.#failed.has(n.uid));
        if (failed !== undefined) {
          const reason = this.#failures.find((f) => f.uid === failed.uid)?.error.message ?? 'failed';
          throw new RunGraphError('E_NODE_FAILED', `node '${failed.label}' of the loop failed: ${reason}`, {
            node: loop.label,
          });
        }
        return outputs;
      },
      artifact: (ref) => {
        const entry = this.finishedArtifact(ref.uid, ref.output);
        if (entry === undefined)
          throw new RunGraphError('E_CORRUPT_STORE', `no committed artifact for '${ref.label}.${ref.output}'`, {
            node: loop.label,
            value: ref.uid,
          });
        return { path: join(this.stores.dir(ref.uid), entry.path), entry };
      },
      progress: (iteration, stop) =>
        this.emit({ type: 'loop-iteration', label: loop.label, uid: loop.uid, iteration, stop }),
    };
  }

  // --- forced nodes

  /** Move the committed stores of the forced nodes aside (forced-stores.ts), so they are built again. */
  #supersedeForced(): Promise<void> {
    return supersedeForced(this.stores.layout, this.#graph.nodes, this.#setup.forced, this.emit);
  }

  /** Drop the stores kept aside whose replacements committed; restore the others (after a failure or a kill). */
  async #settleSuperseded(): Promise<void> {
    if (this.#setup.settleSuperseded)
      await settleForced(this.stores.layout, this.stores.owner, this.#graph.nodes, this.emit);
  }

  // --- scheduling

  /** Schedule a batch of nodes (the graph's, or a loop iteration's) with the run's shared slots; committed ones are reused. */
  async #buildNodes(nodes: readonly GraphNode[]): Promise<ScheduleResult> {
    const reusable = await this.#findReusable(nodes);
    const schedule: Schedule = new Schedule({
      count: nodes.length,
      upstream: nodes.map((n) => n.upstream),
      jobs: this.#setup.jobs * NODES_IN_FLIGHT_PER_JOB,
      slots: this.#inFlight,
      // A control node waits on its iterations, and a reused node does nothing: neither takes a node's slot.
      holdsSlot: (index) => {
        const node = nodes[index];
        return node !== undefined && node.operation.control !== true && !reusable.has(node.uid);
      },
      signal: this.signal,
      halt: this.#halt.signal,
      pick: (count) => this.#pick(count),
      retryWhen: (index) => {
        const uid = nodes[index]?.uid;
        const wake = uid === undefined ? undefined : this.#wakes.get(uid);
        if (uid !== undefined) this.#wakes.delete(uid);
        return wake;
      },
      start: async (index) => {
        const node = nodes[index];
        if (node === undefined) return false;
        try {
          const committed = reusable.get(node.uid);
          if (committed !== undefined) return this.#record(node, this.#reused(node, committed));
          if (this.#committedElsewhere(node)) {
            await upstreamCommitted(this, node);
            return this.#countElsewhere(node);
          }
          const revoked = this.#revokedUpstream(node);
          if (revoked !== undefined) return this.#deferred(node, revoked);
          this.#building.set(node.uid, { schedule, nodes, index });
          return this.#record(node, await buildNode(this, node));
        } catch (error) {
          // Started on the artifacts of a node that then did not commit them: skipped if it failed (the schedule has
          // skipped this one already), started again once it is done if it lost its store; whatever this one's own end.
          const landed = error instanceof UpstreamNotLanded ? error.landing : await this.upstreamLanded(node);
          if (landed === 'failed') return 'skipped';
          const revoked = this.#revokedUpstream(node);
          if (landed === 'lost' || revoked !== undefined) return this.#deferred(node, revoked);
          return this.#nodeFailed(node, error);
        } finally {
          this.#building.delete(node.uid);
        }
      },
      startsEarly: (index) => {
        const node = nodes[index];
        return node !== undefined && this.#startsEarly(node, reusable);
      },
      settled: (index, ok) => {
        const node = nodes[index];
        if (node !== undefined) this.#settled(node, ok);
      },
      skip: (index, failedIndex) => {
        const node = nodes[index];
        const failed = nodes[failedIndex];
        if (node !== undefined && failed !== undefined) this.#nodeSkipped(node, failed);
      },
    });
    return schedule.run();
  }

  /**
   * Once others work in this directory: whether the ledger says one of them
   * committed the node during this run. Then it counts as reused without a
   * look at its store (one stat of the ledger now and then is all it costs;
   * see #countElsewhere).
   */
  #committedElsewhere(node: GraphNode): boolean {
    if (!this.#othersSeen || this.#existing.has(node.uid) || node.operation.control === true) return false;
    this.stores.commits.refresh();
    return this.stores.commits.has(node.uid);
  }

  /** Count a node that another process committed (see #committedElsewhere) as reused. */
  #countElsewhere(node: GraphNode): true {
    this.#elsewhere.set(node.uid, node);
    this.#waiting.delete(node.uid);
    this.#counts.reused++;
    this.emit({ type: 'node-reused', label: node.label, uid: node.uid });
    return true;
  }

  /**
   * Which ready node to start: depth first (the last readied) while this
   * process is alone; once others work in the directory, one at random
   * (seeded by this process's context id), so that workers spread over the
   * ready nodes instead of all reaching for the same one.
   */
  #pick(count: number): number {
    return this.#othersSeen ? Math.floor(this.#random() * count) : count - 1;
  }

  #reused(node: GraphNode, metadata: CommittedMetadata): NodeOutcome {
    this.emit({ type: 'node-reused', label: node.label, uid: node.uid });
    return { kind: 'reused', metadata };
  }

  /** Count a node's outcome; what the scheduler is told. */
  #record(node: GraphNode, outcome: NodeOutcome): boolean | 'deferred' {
    if (outcome.kind === 'deferred') return this.#deferred(node, outcome.wake);
    this.#finished.set(node.uid, outcome.metadata);
    this.#results.set(node.label, outcome.metadata);
    this.#publisher.finished(node.uid, this.stores.dir(node.uid), outcome.metadata);
    if (outcome.kind === 'reused') this.#counts.reused++;
    else this.#counts.committed++;
    return true;
  }

  failedForGood(): void {
    if (this.#setup.failFast) this.#halt.abort();
  }

  #nodeFailed(node: GraphNode, error: unknown): false {
    const failure = toEventError(error);
    if (failure.code === 'E_INTERRUPTED') {
      this.#counts.notRun++;
      return false;
    }
    this.#counts.failed++;
    this.#failures.push({ label: node.label, uid: node.uid, error: failure });
    this.#failed.add(node.uid);
    this.emit({ type: 'node-failed', label: node.label, uid: node.uid, error: failure });
    if (failure.code === 'E_WORKDIR') this.#stop.abort();
    this.failedForGood();
    return false;
  }

  #nodeSkipped(node: GraphNode, failed: GraphNode): void {
    // Nodes downstream of one interrupted, or not started because the run fails fast, are simply not run.
    if (this.startSignal.aborted && !this.#failed.has(failed.uid)) {
      this.#counts.notRun++;
      return;
    }
    this.#counts.skipped++;
    this.emit({
      type: 'node-skipped',
      label: node.label,
      uid: node.uid,
      reason: 'upstream-failed',
      upstream: failed.label,
    });
  }

  /**
   * The nodes whose stores exist, are committed and pass verification, found
   * before scheduling. Reusing a node waits only on the file system (its
   * metadata, a stat per artifact, whether a lock was left behind): done in
   * the scheduler, `jobs` at a time and each read a chain of thread-pool
   * round trips, a no-op resume costs far more than the reads themselves.
   * Here most stores are decided synchronously (Stores.reusableNow), a batch
   * at a time with the event loop run between batches; the others (checksums
   * to compute, a lock left behind) are checked a batch at once, each reading
   * synchronously up to its first await (see Stores.verified). A store it
   * does not accept (or that fails to read) is left to the builder, which
   * decides and reports as usual.
   */
  async #findReusable(nodes: readonly GraphNode[]): Promise<Map<Uid, CommittedMetadata>> {
    const reusable = new Map<Uid, CommittedMetadata>();
    const candidates: GraphNode[] = [];
    let checked = 0;
    for (const node of nodes) {
      if (!this.#existing.has(node.uid)) continue;
      if (++checked % REUSE_CHECK_BATCH === 0) await setImmediatePromise();
      if (this.signal.aborted) return reusable;
      let now: CommittedMetadata | null | undefined;
      try {
        now = this.stores.reusableNow(node.uid, node.record);
      } catch {
        // The builder will meet the same error and report it.
        now = null;
      }
      if (now === undefined) candidates.push(node);
      else if (now !== null) reusable.set(node.uid, now);
    }
    for (let first = 0; first < candidates.length && !this.signal.aborted; first += REUSE_CHECK_BATCH) {
      const batch = candidates.slice(first, first + REUSE_CHECK_BATCH);
      await Promise.all(
        batch.map(async (node) => {
          try {
            const metadata = await this.stores.reusable(node.uid, node.record);
            if (metadata !== undefined) reusable.set(node.uid, metadata);
          } catch {
            // The builder will meet the same error and report it.
          }
        }),
      );
    }
    return reusable;
  }

  // --- the end

  async #finish(interrupted: boolean): Promise<RunSummary> {
    // Processes that died while this run went on (another worker, killed) may have left staging entries, and locks on
    // stores committed meanwhile (see Stores.tidyLeftover); a later run would clear those, this one does now.
    if (this.#othersSeen)
      for (const uid of this.#finished.keys()) await this.stores.tidyLeftover(uid).catch(() => undefined);
    const publishFailures = await this.#publisher.settled();
    const swept = await this.stores.sweepTmp().catch(() => []);
    if (swept.length > 0) this.emit({ type: 'tmp-swept', entries: swept });
    const counts = this.#counts;
    const ok = counts.failed === 0 && !interrupted && counts.reused + counts.committed === counts.total;
    const durationMs = Math.round(performance.now() - this.#started);
    this.emit({ type: 'run-finished', ok, interrupted, counts: { ...counts }, durationMs });
    const elsewhere = new Map([...this.#elsewhere.values()].map((node) => [node.label, node.uid]));
    const results = new FinishedResults(this.#results, (label) => {
      const uid = elsewhere.get(label);
      return uid === undefined ? undefined : this.#finishedMetadata(uid);
    });
    return { ok, interrupted, counts, failures: this.#failures, durationMs, results, publishFailures };
  }
}

/** A landing already known. */
function landed(end: Landing): Deferred<Landing> {
  const known = deferred<Landing>();
  known.resolve(end);
  return known;
}

/** A generator of numbers in [0, 1) from a seed string (xorshift32): each worker its own sequence. */
function seededRandom(seed: string): () => number {
  let state = 2166136261;
  for (let i = 0; i < seed.length; i++) state = Math.imul(state ^ seed.charCodeAt(i), 16777619) >>> 0;
  if (state === 0) state = 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}

/**
 * The committed metadata of every finished node, by label. Those another
 * process committed are read from their stores on `get`, the first time:
 * iterating gives only the ones this process has read.
 */
class FinishedResults extends Map<string, CommittedMetadata> {
  readonly #load: (label: string) => CommittedMetadata | undefined;

  constructor(known: ReadonlyMap<string, CommittedMetadata>, load: (label: string) => CommittedMetadata | undefined) {
    super(known);
    this.#load = load;
  }

  override get(label: string): CommittedMetadata | undefined {
    return super.get(label) ?? this.#load(label);
  }
}
