/**
 * The builder protocol: how one concrete node becomes a committed store.
 *
 *     record -> uid -> store exists?
 *        no : claim (publish in tmp, rename, lock) -> run -> commit
 *        yes: committed and valid?  -> reinitialize from artifacts, skip
 *             committed, corrupt?   -> claim -> quarantine -> build anew
 *             otherwise             -> claim -> reset -> run -> commit
 *
 * The store side of each step is the Stores interface (store/store.ts);
 * where the operation runs is the run's executor. A failed attempt is
 * recorded in the store (attempts.ts) and, when the node's retry policy
 * allows and the error is one to retry, run again after its backoff, with
 * the lock kept and the compute slot given back while it waits. When another live process
 * owns the store, the node is deferred and its result reused once committed.
 */
import { RunGraphError, assertNever, isErrnoException, type ErrorCode } from '../errors.js';
import { Attempts, waitUnlessAborted } from './attempts.js';
import { makeArtifactRef } from '../operations/artifact-ref.js';
import { NumberList } from '../identity/number-list.js';
import {
  INPUT_KIND,
  qualifiedName,
  type ArtifactRef,
  type ControlContext,
  type InputTree,
  type OperationContext,
  type OperationOutputs,
  type ProcessReporter,
  type RunInput,
} from '../operations/operation.js';
import type { ArtifactEntry, CommittedMetadata, ResourceUsage, StoreMetadata } from '../store/metadata.js';
import type { OwnerInfo } from '../store/owner.js';
import type { ClaimedStore, NewStore, StoreClaim, Stores } from '../store/store.js';
import { describeFsError } from '../store/workdir.js';
import type { GraphNode, ResolvedRef } from '../workflow/graph.js';
import type { EventListener } from './events.js';
import type { Executor } from './executors/executor.js';
import { memorySlots, type DevicePool } from './capacity.js';
import type { JobSlots } from './scheduler.js';
import { withinTimeLimit } from './time-limit.js';

/** How the commit of a node that released the nodes below it ended (see NodeRun.upstreamLanded). */
export type Landing = 'committed' | 'failed' | 'lost';

/** Thrown from a commit held for an upstream node that did not commit after all: the node's outcome follows from it. */
export class UpstreamNotLanded extends RunGraphError {
  constructor(
    node: GraphNode,
    readonly landing: Exclude<Landing, 'committed'>,
  ) {
    super('E_NOT_COMMITTED', 'a node this one read from did not commit; not committing', { node: node.label });
  }
}

/** What building a node needs of its run (engine/run.ts implements it). */
export interface NodeRun {
  readonly stores: Stores;
  readonly executor: Executor;
  readonly emit: EventListener;
  /** Aborted on an interrupt, or on a failure of the working directory itself. */
  readonly signal: AbortSignal;
  /** `signal`, or else aborted once no node may start any more (a run failing fast): what waiting for a compute slot watches. */
  readonly startSignal: AbortSignal;
  /** What a node holds from publishing its store until its operation ends (see ComputeSlots). */
  readonly compute: ComputeSlots;
  /** Whether the node's store may exist: it was there when the run listed the working directory. */
  mayExist(node: GraphNode): boolean;
  /** The claim made for this node ahead of time (see Run.committing), if any; a claim is taken once. */
  takeClaimAhead(node: GraphNode): Promise<StoreClaim> | undefined;
  /** The node's operation has ended and its commit begins: the moment to claim the stores of the nodes that follow. */
  committing(node: GraphNode): void;
  /** The node's artifacts are in place and only its commit is left: the nodes below it may start on them. */
  outputsInPlace(node: GraphNode, metadata: CommittedMetadata): void;
  /**
   * How the commits of the upstream nodes this one started ahead of ended
   * (waits until each has): all `committed`, or one `failed`, or one `lost`
   * its store to another process (this node is then started again later).
   */
  upstreamLanded(node: GraphNode): Promise<Landing>;
  /** The node's last attempt failed (a run failing fast starts no other node); called before its compute slot is given back. */
  failedForGood(node: GraphNode): void;
  /** Learn from a claim of the node's store: whether another process works in this run's stores, and whether the node still waits for one. */
  claimed(node: GraphNode, claim: StoreClaim): void;
  /** Another live process holds the node's store (reported once per node). */
  waitingFor(node: GraphNode, owner: OwnerInfo | undefined): void;
  /** Settles when another process may have committed the node (or it is time to look at its holder again). */
  waitForCommit(node: GraphNode): Promise<void>;
  /** Whether to pass over the node for now, without claiming it: another process seems to hold it (one stat). */
  seemsHeldElsewhere(node: GraphNode): boolean;
  /** The control context of a loop node. */
  controlFor(node: GraphNode): ControlContext;
  /** The committed artifact of an upstream node's output, or undefined. */
  finishedArtifact(uid: GraphNode['uid'], output: string): ArtifactEntry | undefined;
  /** Takes the tidying of a committed store, done in the background; the run waits for it before it ends. */
  afterCommit(tidied: Promise<void>): void;
  /** Called as an operation starts executing and right after its store commits. */
  audit(what: 'start' | 'commit', node: GraphNode): void;
}

/**
 * The run's compute slots: at most `jobs` operations at once, the sum of
 * their `cpus` within the run's cores, of their declared memory (in MiB)
 * within the run's memory. Taken in this order, given back together.
 */
export interface ComputeSlots {
  readonly jobs: JobSlots;
  readonly cores: JobSlots;
  readonly memory: JobSlots;
  /** The run's GPU devices, when they are counted (see capacity.ts). */
  readonly gpus: DevicePool | undefined;
}

/** `deferred`: another live process holds the node; try again once `wake` settles (or after a backoff). */
export type NodeOutcome =
  { kind: 'reused' | 'committed'; metadata: CommittedMetadata } | { kind: 'deferred'; wake?: Promise<void> };

function interrupted(node: GraphNode): RunGraphError {
  return new RunGraphError('E_INTERRUPTED', 'interrupted before the node finished', { node: node.label });
}

/** Errors of the file system itself: every node would meet them, so the run stops. */
const ENVIRONMENT_ERRORS: ReadonlySet<string> = new Set([
  'ENOSPC',
  'EDQUOT',
  'EROFS',
  'EACCES',
  'EPERM',
  'EIO',
  'ENOTDIR',
  'EMFILE',
  'ENFILE',
]);

/** Build one node: reuse its committed store, or run it and commit. Throws RunGraphError on failure. */
export async function buildNode(run: NodeRun, node: GraphNode): Promise<NodeOutcome> {
  try {
    return await buildNodeUnchecked(run, node);
  } catch (error) {
    if (isErrnoException(error) && error.code !== undefined && ENVIRONMENT_ERRORS.has(error.code)) {
      throw new RunGraphError(
        'E_WORKDIR',
        `${describeFsError(error)} while building the node${error.path === undefined ? '' : ` (${error.path})`}`,
        {
          node: node.label,
          cause: error,
          hint: 'fix the working directory (space, permissions, mount) and run the same command again; nothing was committed for this node',
        },
      );
    }
    throw error;
  }
}

async function buildNodeUnchecked(run: NodeRun, node: GraphNode): Promise<NodeOutcome> {
  if (run.seemsHeldElsewhere(node)) return { kind: 'deferred', wake: run.waitForCommit(node) };
  if (run.mayExist(node)) {
    const metadata = await run.stores.reusable(node.uid, node.record);
    if (metadata !== undefined) return await reused(run, node, metadata);
  }
  const slot = await takeComputeSlot(run, node);
  try {
    return await claimAndBuild(run, node, slot);
  } finally {
    slot.give();
  }
}

/**
 * A store committed already (by an earlier run, or another process): reused,
 * once the upstream nodes this one may have started ahead of have committed,
 * so that no node's outcome is known before theirs.
 */
async function reused(run: NodeRun, node: GraphNode, metadata: CommittedMetadata): Promise<NodeOutcome> {
  await upstreamCommitted(run, node);
  run.emit({ type: 'node-reused', label: node.label, uid: node.uid });
  return { kind: 'reused', metadata };
}

/** Wait until the upstream nodes this one may have started ahead of have committed; throw UpstreamNotLanded if one did not. */
export async function upstreamCommitted(run: NodeRun, node: GraphNode): Promise<void> {
  const landed = await run.upstreamLanded(node);
  if (landed !== 'committed') throw new UpstreamNotLanded(node, landed);
}

/**
 * One of the run's compute slots, held from publishing a store until its
 * operation has run: at most `jobs` nodes do that at once, while more than
 * that may be committing, which is mostly waiting on the disk. A loop, which
 * only waits for the nodes it makes, takes none.
 */
interface ComputeSlot {
  /** Give the slot back; only the first call counts. */
  give(): void;
  /** Take a slot again after giving it back (a retry after its backoff). */
  retake(): Promise<void>;
  /** The GPU devices held now, when the run counts them and the node asks for some. */
  devices(): readonly string[] | undefined;
}

async function takeComputeSlot(run: NodeRun, node: GraphNode): Promise<ComputeSlot> {
  if (node.operation.control === true)
    return { give: () => undefined, retake: async () => undefined, devices: () => undefined };
  const { jobs, cores, memory, gpus } = run.compute;
  const wanted: [JobSlots, number][] = [
    [jobs, 1],
    [cores, node.resources.cpus],
    [memory, memorySlots(node.resources.memoryBytes)],
  ];
  const taken: [JobSlots, number][] = [];
  let devices: string[] | undefined;
  const give = (): void => {
    for (const [slots, count] of taken.splice(0)) slots.give(count);
    if (devices !== undefined) gpus?.give(devices);
    devices = undefined;
  };
  const take = async (): Promise<void> => {
    if (taken.length > 0) return;
    for (const [slots, count] of wanted) {
      if (count === 0) continue;
      if (!(await slots.take(run.startSignal, count))) {
        give();
        throw interrupted(node);
      }
      taken.push([slots, count]);
    }
    // The devices last: a node holding some waits for nothing else.
    if (gpus !== undefined && node.resources.gpus > 0) {
      devices = await gpus.take(run.startSignal, node.resources.gpus);
      if (devices === undefined) {
        give();
        throw interrupted(node);
      }
    }
  };
  await take();
  return { give, retake: take, devices: () => devices };
}

/** What the store of a node is published with. */
export function newStore(node: GraphNode): NewStore {
  return {
    uid: node.uid,
    record: node.record,
    operation: {
      namespace: node.operation.namespace,
      name: node.operation.name,
      version: node.operation.version ?? null,
    },
  };
}

/** Claim a node's store: publish it unless it may exist, then lock it. */
export function claimStore(run: NodeRun, node: GraphNode, mayExist: boolean): Promise<StoreClaim> {
  return run.stores.claim(newStore(node), {
    mayExist,
    onCompromised: (error) =>
      run.emit({ type: 'lock-compromised', label: node.label, uid: node.uid, message: error.message }),
  });
}

async function claimAndBuild(run: NodeRun, node: GraphNode, slot: ComputeSlot): Promise<NodeOutcome> {
  let mayExist = run.mayExist(node);
  let ahead = run.takeClaimAhead(node);
  for (;;) {
    if (run.signal.aborted) {
      if (ahead !== undefined) await giveBack(ahead);
      throw interrupted(node);
    }
    const claim = await (ahead ?? claimStore(run, node, mayExist));
    ahead = undefined;
    mayExist = true;
    run.claimed(node, claim);
    if (claim.kind === 'missing') continue;
    if (claim.kind === 'held') {
      // Another process is building this node: reuse its commit, or come back later.
      const metadata = await run.stores.verified(node.uid, node.record);
      if (metadata !== undefined) return await reused(run, node, metadata);
      run.waitingFor(node, claim.owner);
      return { kind: 'deferred', wake: run.waitForCommit(node) };
    }
    const outcome = await buildOwnedNode(run, node, claim.store, slot);
    if (outcome !== 'quarantined') return outcome;
  }
}

/** Give up a claim made ahead of time and never used (see ClaimedStore.giveBack). */
export async function giveBack(claim: Promise<StoreClaim>): Promise<void> {
  const result = await claim.catch(() => undefined);
  if (result?.kind === 'acquired') await result.store.giveBack();
}

async function buildOwnedNode(
  run: NodeRun,
  node: GraphNode,
  store: ClaimedStore,
  slot: ComputeSlot,
): Promise<NodeOutcome | 'quarantined'> {
  try {
    const opened = await store.open();
    switch (opened.kind) {
      case 'committed':
        return await reused(run, node, opened.metadata);
      case 'quarantined':
        run.emit({
          type: 'store-quarantined',
          label: node.label,
          uid: node.uid,
          reason: opened.reason,
          path: opened.path,
        });
        return 'quarantined';
      case 'ready':
        try {
          return await runAndCommit(run, node, store, opened.created, opened.removed, slot);
        } catch (error) {
          // Stalled past the stale limit, we lost the store to another process: its commit, not our failure, is the node's.
          if (!store.lost()) throw error;
          run.waitingFor(node, undefined);
          return { kind: 'deferred', wake: run.waitForCommit(node) };
        }
      default:
        return assertNever(opened, 'opened store');
    }
  } finally {
    if (store.held) await store.release();
  }
}

async function runAndCommit(
  run: NodeRun,
  node: GraphNode,
  store: ClaimedStore,
  created: StoreMetadata,
  removed: string[],
  slot: ComputeSlot,
): Promise<NodeOutcome> {
  if (removed.length > 0) run.emit({ type: 'store-reset', label: node.label, uid: node.uid, removed });
  if (run.signal.aborted) throw interrupted(node);
  const attempts = new Attempts(node, created);
  let current = created;
  let result: Executed;
  for (;;) {
    const startedAt = new Date();
    const attempt = attempts.next();
    const processes = processReporter(store);
    try {
      result = await execute(run, node, store, slot, attempt, processes);
      checkOutputs(node, result.outputs);
      break;
    } catch (error) {
      const failure = attempts.failure(error, run.signal, attempt, startedAt);
      // Before the slot goes to a node waiting for it, which a run failing fast must not start.
      if (failure !== undefined && failure.retryAfterMs === undefined) run.failedForGood(node);
      slot.give();
      if (failure === undefined) throw error;
      const usage = processes.measured();
      current = await store.recordFailure(current, { ...failure.record, ...(usage === undefined ? {} : { usage }) });
      if (failure.retryAfterMs === undefined) throw error;
      run.emit({
        type: 'node-retrying',
        label: node.label,
        uid: node.uid,
        attempt,
        lastAttempt: failure.record.lastAttempt,
        delayMs: failure.retryAfterMs,
        error: { code: failure.record.error.code as ErrorCode, message: failure.record.error.message },
      });
      // The lock stays (its heartbeat goes on); the compute slot, given back as the attempt ended, is taken again after the wait.
      if (!(await waitUnlessAborted(failure.retryAfterMs, run.signal))) throw interrupted(node);
      await slot.retake();
      await store.resetForRetry(current);
    }
  }
  const { outputs, started, usage } = result;
  const { metadata, tidied } = await store.commit(current, outputs, Math.round(performance.now() - started), {
    attempt: attempts.last,
    ...(usage === undefined ? {} : { usage }),
    artifactsInPlace: (inPlace) => run.outputsInPlace(node, inPlace),
    // A node started on the artifacts of one still committing commits only after it: never a result without its inputs.
    awaitUpstream: async () => upstreamCommitted(run, node),
  });
  run.audit('commit', node);
  run.afterCommit(tidied);
  run.emit({ type: 'node-committed', label: node.label, uid: node.uid, durationMs: metadata.durationMs });
  return { kind: 'committed', metadata };
}

/**
 * The ProcessReporter of one attempt: groups recorded in the store (the
 * launcher, operations/launcher.ts, kills them if this process dies); the
 * usage kept for the metadata.
 */
function processReporter(store: ClaimedStore): ProcessReporter & { measured(): ResourceUsage | undefined } {
  let usage: ResourceUsage | undefined;
  let recorded: Promise<void> = Promise.resolve();
  return {
    started: (pgid) => {
      recorded = store.processGroupStarted(pgid).catch(() => undefined);
      return recorded;
    },
    ended: () => {
      // After the record is written, or a quick command's record would outlive it.
      void recorded.then(() => store.processGroupEnded());
    },
    usage: (measured) => {
      usage = measured;
    },
    // Asked for only when a command starts: most nodes start none.
    get recordAt() {
      return store.processGroupPlace();
    },
    measured: () => usage,
  };
}

/** What one attempt's execution gave: the outputs, when it started, and what its process used, if it said. */
interface Executed {
  outputs: OperationOutputs;
  started: number;
  usage: ResourceUsage | undefined;
}

/**
 * Run the node's operation through the run's executor and return its
 * outputs; the compute slot is given back as it ends well (on a failure, by
 * the caller, once it knows whether the node failed for good).
 */
async function execute(
  run: NodeRun,
  node: GraphNode,
  store: ClaimedStore,
  slot: ComputeSlot,
  attempt: number,
  processes: ReturnType<typeof processReporter>,
): Promise<Executed> {
  if (run.signal.aborted) throw interrupted(node);
  run.emit({ type: 'node-started', label: node.label, uid: node.uid, operation: qualifiedName(node.operation) });
  run.audit('start', node);
  const started = performance.now();
  const stream = node.operation.stream;
  let resumeAtChunk: number | undefined;
  if (stream !== undefined) resumeAtChunk = await store.durableChunks(stream);
  const input = runInput(run, node);
  const gpus = slot.devices();
  let outputs: OperationOutputs;
  try {
    // A control node (a loop) is as long as the nodes it makes: they have limits of their own.
    const limit = node.operation.control === true ? undefined : node.resources.timeSeconds;
    outputs = await withinTimeLimit(limit, run.signal, node.label, (signal) => {
      const context: OperationContext = {
        storeDir: store.dir,
        signal,
        label: node.label,
        uid: node.uid,
        checkpoint: store.checkpoint(),
        attempt: { number: attempt, dir: store.attemptDir(attempt) },
        processes,
        ...(gpus === undefined ? {} : { gpus }),
        ...(resumeAtChunk === undefined ? {} : { resumeAtChunk }),
        ...(node.operation.control === true ? { control: run.controlFor(node) } : {}),
      };
      return run.executor.execute({ node, input, context, store });
    });
  } catch (error) {
    throw operationFailure(error, node);
  }
  // Before the slot is given back, so no node starts in its place before this event.
  run.emit({ type: 'node-committing', label: node.label, uid: node.uid });
  run.committing(node);
  slot.give();
  return { outputs, started, usage: processes.measured() };
}

/**
 * An error out of an operation's run: run-graph's own errors and file-system
 * errors pass as they are; anything else is the operation failing, reported
 * as the node's failure with the operation's message, not as a bug here.
 */
function operationFailure(error: unknown, node: GraphNode): unknown {
  if (error instanceof RunGraphError || (error as { name?: unknown } | null)?.name === 'RunGraphError') return error;
  if (isErrnoException(error) && error.syscall !== undefined) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new RunGraphError('E_NODE_FAILED', `operation ${qualifiedName(node.operation)} failed: ${message}`, {
    node: node.label,
    cause: error,
  });
}

function checkOutputs(node: GraphNode, outputs: OperationOutputs): void {
  const declared = Object.keys(node.outputs);
  const missing = declared.filter((name) => !(name in outputs));
  const extra = Object.keys(outputs).filter((name) => !(name in node.outputs));
  if (missing.length > 0 || extra.length > 0) {
    throw new RunGraphError(
      'E_NODE_FAILED',
      `operation ${qualifiedName(node.operation)} returned outputs that differ from its declaration (missing: ${missing.join(', ') || 'none'}; unexpected: ${extra.join(', ') || 'none'})`,
      {
        node: node.label,
      },
    );
  }
}

/** The run-time input of a node: every reference becomes the upstream artifact it names. */
function runInput(run: NodeRun, node: GraphNode): RunInput {
  const convert = (value: InputTree<ResolvedRef>): InputTree<ArtifactRef> => {
    if (value instanceof NumberList) return value as InputTree<ArtifactRef>;
    if (Array.isArray(value)) return value.map(convert);
    if (typeof value !== 'object' || value === null) return value;
    const kind = (value as { [INPUT_KIND]?: string })[INPUT_KIND];
    if (kind === 'ref') return artifactRef(run, node, value as ResolvedRef);
    if (kind === 'file') return value as InputTree<ArtifactRef>;
    const out: { [key: string]: InputTree<ArtifactRef> } = {};
    for (const [key, child] of Object.entries(value as { [key: string]: InputTree<ResolvedRef> }))
      out[key] = convert(child);
    return out;
  };
  const out: RunInput = {};
  for (const [field, value] of Object.entries(node.input)) out[field] = convert(value);
  return out;
}

function artifactRef(run: NodeRun, node: GraphNode, ref: ResolvedRef): ArtifactRef {
  const artifact = run.finishedArtifact(ref.uid, ref.output);
  if (artifact === undefined) {
    throw new RunGraphError('E_CORRUPT_STORE', `upstream store ${ref.uid} has no artifact for output '${ref.output}'`, {
      node: node.label,
      value: ref.uid,
    });
  }
  return makeArtifactRef(ref, artifact, run.stores.dir(ref.uid), node.label);
}
