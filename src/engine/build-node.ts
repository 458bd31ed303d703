/**
 * The builder protocol: how one concrete node becomes a committed store.
 *
 *     record -> uid -> store exists?
 *        no : create in tmp -> rename -> own -> run -> commit
 *        yes: committed and valid?  -> reinitialize from artifacts, skip
 *             committed, corrupt?   -> own -> quarantine -> build anew
 *             otherwise             -> own -> reset -> run -> commit
 *
 * Reusing a committed store takes no lock (committed stores never change);
 * everything that writes does so as the store's owner. When another live
 * process owns the store, the builder waits for it and reuses its result.
 */
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CHECKPOINT_DIR, checkpointFacility } from '../store/checkpoint.js';
import { makeArtifactRef } from '../operations/artifact-ref.js';
import type { JobSlots } from './scheduler.js';
import { runsInThread, type OperationThreads } from './executors/pool.js';
import { durableChunkCount, writeStream } from '../store/array-stream.js';
import { RunGraphError, isErrnoException } from '../errors.js';
import type { EventListener } from './events.js';
import type { Uid } from '../identity/fingerprint.js';
import { INPUT_KIND, qualifiedName, type ArtifactRef, type ControlContext, type OperationContext, type InputTree, type OperationOutputs, type RunInput } from '../operations/operation.js';
import { commitStore, publishStore, quarantineStore, resetStore, verifyStore, type VerifyMode } from '../store/data-store.js';
import { LOCK_DIR, claimOwnership, clearLeftoverLock, type ClaimResult, type StoreLock } from '../store/lock.js';
import { STORE_FORMAT, isCommitted, readStoreMetadataSync, type CommittedMetadata, type StoreMetadata } from '../store/metadata.js';
import { OWNER_FILE, readOwnerSync, sameOwner, type OwnerInfo } from '../store/owner.js';
import { removeQuietly } from '../store/durable.js';
import { stagingName } from '../store/staging.js';
import { describeFsError, type WorkdirLayout } from '../store/workdir.js';
import type { GraphNode, ResolvedRef } from '../workflow/graph.js';

/** What the builder needs from its WorkerContext. */
export interface BuildEnvironment {
  readonly layout: WorkdirLayout;
  readonly owner: OwnerInfo;
  readonly verify: VerifyMode;
  readonly staleMs: number;
  readonly emit: EventListener;
  readonly signal: AbortSignal;
  /** Stores known to exist when the run started (one readdir), so absent ones cost no stat. */
  readonly existing: ReadonlySet<Uid>;
  /** Committed metadata of finished nodes, by uid: where downstream nodes find their inputs. */
  readonly finished: ReadonlyMap<Uid, CommittedMetadata>;
  /** Nodes already reported as waiting for another process, so each is reported once. */
  readonly waiting: Set<Uid>;
  /** Set once another process is seen publishing or holding one of this run's stores: the run then looks for locks left by any that died (see WorkerContext.run). */
  othersSeen: boolean;
  /** At most `jobs` nodes publish, claim and run at once, each holding a slot here until its operation ends. Undefined: no limit but the scheduler's. */
  readonly compute?: JobSlots;
  /** Claims made ahead of time by `prepareNode`, by uid; the builder takes a node's when it starts. */
  readonly prepared?: Map<Uid, { readonly node: GraphNode; readonly claim: Promise<PreparedClaim> }>;
  /** Called when a node's operation has finished and its commit begins: the moment to prepare its successors. */
  readonly committing?: (node: GraphNode) => void;
  /** Worker threads for operations that can run there; undefined runs everything on the main thread. */
  readonly threads?: OperationThreads;
  /** The control context of a control operation (a loop) node; set by the context once its runner exists. */
  controlFor?: (node: GraphNode) => ControlContext;
  /** Takes the tidying of a committed store (owner file, checkpoints, lock), done in the background; the run waits for it before it ends. */
  readonly afterCommit: (tidying: Promise<void>) => void;
  /** Called as an operation starts executing and right after its store commits. */
  readonly audit?: (what: 'start' | 'commit', node: GraphNode) => void;
}

/** `deferred`: another live process holds the node; try again later (the scheduler backs off). */
export type NodeOutcome = { kind: 'reused' | 'committed'; metadata: CommittedMetadata } | { kind: 'deferred' };

function interrupted(node: GraphNode): RunGraphError {
  return new RunGraphError('E_INTERRUPTED', 'interrupted before the node finished', { node: node.label });
}

/** Errors of the file system itself: every node would meet them, so the run stops. */
const ENVIRONMENT_ERRORS: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EIO', 'ENOTDIR', 'EMFILE', 'ENFILE']);

/** Build one node: reuse its committed store, or run it and commit. Throws RunGraphError on failure. */
export async function buildNode(env: BuildEnvironment, node: GraphNode): Promise<NodeOutcome> {
  try {
    return await buildNodeUnchecked(env, node);
  } catch (error) {
    if (isErrnoException(error) && error.code !== undefined && ENVIRONMENT_ERRORS.has(error.code)) {
      throw new RunGraphError('E_WORKDIR', `${describeFsError(error)} while building the node${error.path === undefined ? '' : ` (${error.path})`}`, {
        node: node.label,
        cause: error,
        hint: 'fix the working directory (space, permissions, mount) and run the same command again; nothing was committed for this node',
      });
    }
    throw error;
  }
}

async function buildNodeUnchecked(env: BuildEnvironment, node: GraphNode): Promise<NodeOutcome> {
  const storeDir = env.layout.storeDir(node.uid);
  if (env.existing.has(node.uid)) {
    const metadata = readStoreMetadataSync(storeDir);
    if (isCommitted(metadata) && (await verifyStore(storeDir, metadata, env.verify)) === undefined) {
      await tidyLeftover(env, storeDir);
      env.emit({ type: 'node-reused', label: node.label, uid: node.uid });
      return { kind: 'reused', metadata: sharingRecord(metadata, node) };
    }
  }
  const slot = await takeComputeSlot(env, node);
  try {
    return await claimAndBuild(env, node, slot);
  } finally {
    slot.give();
  }
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
}

async function takeComputeSlot(env: BuildEnvironment, node: GraphNode): Promise<ComputeSlot> {
  const slots = node.operation.control === true ? undefined : env.compute;
  if (slots === undefined) return { give: () => undefined };
  if (!(await slots.take(env.signal))) throw interrupted(node);
  let held = true;
  return {
    give: () => {
      if (held) slots.give();
      held = false;
    },
  };
}

/** Publish the node's store unless it is known to exist, then try to take it. */
async function publishAndClaim(env: BuildEnvironment, node: GraphNode, mayExist: boolean): Promise<PreparedClaim> {
  const storeDir = env.layout.storeDir(node.uid);
  const published = !mayExist || !existsSync(storeDir) ? await publishStore(env.layout, { uid: node.uid, record: node.record, operation: operationInfo(node) }, env.owner) : 'exists';
  if (published === 'exists' && !env.existing.has(node.uid)) env.othersSeen = true;
  const claim = await claimOwnership(storeDir, env.owner, {
    staleMs: env.staleMs,
    onCompromised: (error) => env.emit({ type: 'lock-compromised', label: node.label, uid: node.uid, message: error.message }),
  });
  return { claim, published: published === 'created' };
}

/** A claim on a node's store (made ahead of time by prepareNode, or as the node starts), and whether this process published the store for it. */
export interface PreparedClaim {
  claim: ClaimResult;
  published: boolean;
}

/**
 * Publish and claim the store of a node that is about to become ready (its
 * last upstream node is committing), so that this time, mostly spent
 * waiting for the file system's journal, overlaps the upstream commit
 * instead of following it. Only for a store absent when the run started. The
 * builder takes the claim when the node starts; one never taken (the
 * upstream failed, the run was interrupted) must be given to
 * `releasePrepared`. Nothing is executed ahead of time.
 */
export function prepareNode(env: BuildEnvironment, node: GraphNode): Promise<PreparedClaim> {
  return publishAndClaim(env, node, false);
}

/**
 * Give up a claim made ahead of time and never used. A store this process
 * published for it, in which nothing ever ran, is taken back: moved out to
 * tmp/ while still locked (so no one can be inside it) and removed, so that
 * its node reads as not started rather than as an unfinished attempt.
 */
export async function releasePrepared(env: Pick<BuildEnvironment, 'layout' | 'owner'>, prepared: Promise<PreparedClaim>, node: GraphNode): Promise<void> {
  const result = await prepared.catch(() => undefined);
  if (result?.claim.kind !== 'acquired') return;
  const aside = join(env.layout.tmp, stagingName(node.uid.slice(0, 16), env.owner));
  const moved = result.published ? await rename(env.layout.storeDir(node.uid), aside).then(() => true, () => false) : false;
  await result.claim.lock.release().catch(() => undefined);
  if (moved) await rm(aside, { recursive: true, force: true }).catch(() => undefined);
}

async function claimAndBuild(env: BuildEnvironment, node: GraphNode, slot: ComputeSlot): Promise<NodeOutcome> {
  const storeDir = env.layout.storeDir(node.uid);
  // A store absent when the run started is published without a look first; publishing finds out if someone made it since.
  let mayExist = env.existing.has(node.uid);
  let ahead = env.prepared?.get(node.uid)?.claim;
  env.prepared?.delete(node.uid);
  for (;;) {
    if (env.signal.aborted) {
      if (ahead !== undefined) await releasePrepared(env, ahead, node);
      throw interrupted(node);
    }
    const { claim } = await (ahead ?? publishAndClaim(env, node, mayExist));
    ahead = undefined;
    mayExist = true;
    if (claim.kind === 'missing') continue;
    if (claim.kind === 'held') {
      // Another process is building this node: reuse its commit, or come back later.
      env.othersSeen = true;
      const metadata = readStoreMetadataSync(storeDir);
      if (isCommitted(metadata) && (await verifyStore(storeDir, metadata, env.verify)) === undefined) {
        env.emit({ type: 'node-reused', label: node.label, uid: node.uid });
        return { kind: 'reused', metadata: sharingRecord(metadata, node) };
      }
      if (!env.waiting.has(node.uid)) {
        env.waiting.add(node.uid);
        env.emit({ type: 'lock-waiting', label: node.label, uid: node.uid, owner: claim.owner === undefined ? null : { pid: claim.owner.pid, host: claim.owner.host } });
      }
      return { kind: 'deferred' };
    }
    const outcome = await buildOwnedNode(env, node, claim.lock, slot);
    if (outcome !== 'quarantined') return outcome;
  }
}

/**
 * The metadata read from a node's store, holding the graph's own record
 * object instead of the copy parsed from the file: the same value (the uid
 * is its hash), kept once. A run holds the metadata of every finished node,
 * and the records are most of it.
 */
export function sharingRecord<M extends StoreMetadata>(metadata: M, node: GraphNode): M {
  return metadata.uid === node.uid ? { ...metadata, record: node.record } : metadata;
}

function operationInfo(node: GraphNode): StoreMetadata['operation'] {
  return { namespace: node.operation.namespace, name: node.operation.name, version: node.operation.version ?? null };
}

async function buildOwnedNode(env: BuildEnvironment, node: GraphNode, lock: StoreLock, slot: ComputeSlot): Promise<NodeOutcome | 'quarantined'> {
  env.waiting.delete(node.uid);
  const storeDir = env.layout.storeDir(node.uid);
  let released = false;
  try {
    // Read again now that the store is ours: another process may have committed it between our look and our lock.
    const metadata = readStoreMetadataSync(storeDir);
    if (isCommitted(metadata)) {
      const problem = await verifyStore(storeDir, metadata, env.verify);
      if (problem === undefined) {
        await tidyCommitted(storeDir, lock);
        released = true;
        env.emit({ type: 'node-reused', label: node.label, uid: node.uid });
        return { kind: 'reused', metadata: sharingRecord(metadata, node) };
      }
      // Moved while we hold the lock, so no other process can be writing it; then released.
      const path = await quarantineStore(env.layout, node.uid);
      await lock.release();
      released = true;
      env.emit({ type: 'store-quarantined', label: node.label, uid: node.uid, reason: problem, path });
      return 'quarantined';
    }
    const created: StoreMetadata = metadata !== undefined ? sharingRecord(metadata, node) : {
      format: STORE_FORMAT,
      uid: node.uid,
      record: node.record,
      operation: operationInfo(node),
      createdAt: new Date().toISOString(),
      state: 'created',
    };
    const removed = await resetStore(storeDir);
    if (removed.length > 0) env.emit({ type: 'store-reset', label: node.label, uid: node.uid, removed });
    if (env.signal.aborted) throw interrupted(node);
    const { outputs, started } = await execute(env, node, storeDir, slot);
    checkOutputs(node, outputs);
    const committed = await commitStore(storeDir, created, outputs, {
      durationMs: Math.round(performance.now() - started),
      beforeCommit: async () => assertStillOwner(storeDir, env.owner, lock),
    });
    env.audit?.('commit', node);
    env.afterCommit(tidyCommitted(storeDir, lock));
    released = true;
    env.emit({ type: 'node-committed', label: node.label, uid: node.uid, durationMs: committed.durationMs });
    return { kind: 'committed', metadata: committed };
  } finally {
    if (!released) await lock.release();
  }
}

/**
 * A committed store is immutable and owned by no one, and needs no
 * intermediate state: its owner file and checkpoints go, then its lock. Done
 * after the node is reported committed, off the path of the nodes waiting
 * for it. If the process dies first, the next run that reuses the store
 * clears what is left (tidyLeftover), as after a kill right after the
 * commit; a failure here is left for it in the same way.
 */
async function tidyCommitted(storeDir: string, lock: StoreLock): Promise<void> {
  await removeIntermediateState(storeDir);
  await lock.release().catch(() => undefined);
}

async function removeIntermediateState(storeDir: string): Promise<void> {
  await removeQuietly(join(storeDir, OWNER_FILE));
  if (existsSync(join(storeDir, CHECKPOINT_DIR))) await rm(join(storeDir, CHECKPOINT_DIR), { recursive: true, force: true }).catch(() => undefined);
}

/**
 * Tidy a committed store that still has a lock, left by a process killed
 * after committing it and before tidying it, or while it held the store to
 * look at it: unless the holder lives, the store is tidied as after a commit
 * and the lock removed (see clearLeftoverLock). Costs one stat when there is
 * no lock.
 */
export async function tidyLeftover(env: Pick<BuildEnvironment, 'owner' | 'staleMs'>, storeDir: string): Promise<void> {
  if (!existsSync(join(storeDir, LOCK_DIR))) return;
  await clearLeftoverLock(storeDir, { owner: env.owner, staleMs: env.staleMs, tidy: async () => removeIntermediateState(storeDir) });
}

/** Run the node's operation and return its outputs; the compute slot is given back as it ends. */
async function execute(env: BuildEnvironment, node: GraphNode, storeDir: string, slot: ComputeSlot): Promise<{ outputs: OperationOutputs; started: number }> {
  try {
    if (env.signal.aborted) throw interrupted(node);
    env.emit({ type: 'node-started', label: node.label, uid: node.uid, operation: qualifiedName(node.operation) });
    env.audit?.('start', node);
    const started = performance.now();
    const stream = node.operation.stream;
    const resumeAtChunk = stream === undefined ? undefined : await durableChunkCount(storeDir, stream);
    const context: OperationContext = {
      storeDir,
      signal: env.signal,
      label: node.label,
      uid: node.uid,
      checkpoint: checkpointFacility(storeDir),
      ...(resumeAtChunk === undefined ? {} : { resumeAtChunk }),
      ...(node.operation.control === true && env.controlFor !== undefined ? { control: env.controlFor(node) } : {}),
    };
    const input = runInput(env, node);
    let outputs: OperationOutputs;
    try {
      const result = env.threads !== undefined && runsInThread(node.operation, input) ? env.threads.run(node.operation, input, context) : node.operation.run(input, context);
      if (!(Symbol.asyncIterator in result)) outputs = await result;
      else if (stream === undefined) throw new RunGraphError('E_NODE_FAILED', `operation ${qualifiedName(node.operation)} yielded a stream but declares no "stream" output`, { node: node.label });
      else outputs = { [stream]: { kind: 'stream', entry: await writeStream(storeDir, stream, result, resumeAtChunk ?? 0, env.signal, node.label) } };
    } catch (error) {
      throw operationFailure(error, node);
    }
    // Before the slot is given back, so no node starts in its place before this event.
    env.emit({ type: 'node-committing', label: node.label, uid: node.uid });
    env.committing?.(node);
    return { outputs, started };
  } finally {
    slot.give();
  }
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
  return new RunGraphError('E_NODE_FAILED', `operation ${qualifiedName(node.operation)} failed: ${message}`, { node: node.label, cause: error });
}

/** A process whose lock was lost, or whose owner file names someone else, must not commit. */
function assertStillOwner(storeDir: string, owner: OwnerInfo, lock: StoreLock): void {
  lock.assertFresh();
  if (!sameOwner(readOwnerSync(storeDir), owner)) {
    throw new RunGraphError('E_LOCK_COMPROMISED', `another process took ownership of ${storeDir}; not committing`, {
      hint: 'its result, not ours, will be committed',
    });
  }
}

function checkOutputs(node: GraphNode, outputs: OperationOutputs): void {
  const declared = Object.keys(node.outputs);
  const missing = declared.filter((name) => !(name in outputs));
  const extra = Object.keys(outputs).filter((name) => !(name in node.outputs));
  if (missing.length > 0 || extra.length > 0) {
    throw new RunGraphError('E_NODE_FAILED', `operation ${qualifiedName(node.operation)} returned outputs that differ from its declaration (missing: ${missing.join(', ') || 'none'}; unexpected: ${extra.join(', ') || 'none'})`, {
      node: node.label,
    });
  }
}

/** The run-time input of a node: every reference becomes the upstream artifact it names. */
function runInput(env: BuildEnvironment, node: GraphNode): RunInput {
  const convert = (value: InputTree<ResolvedRef>): InputTree<ArtifactRef> => {
    if (Array.isArray(value)) return value.map(convert);
    if (typeof value !== 'object' || value === null) return value;
    const kind = (value as { [INPUT_KIND]?: string })[INPUT_KIND];
    if (kind === 'ref') return artifactRef(env, node, value as ResolvedRef);
    if (kind === 'file') return value as InputTree<ArtifactRef>;
    const out: { [key: string]: InputTree<ArtifactRef> } = {};
    for (const [key, child] of Object.entries(value as { [key: string]: InputTree<ResolvedRef> })) out[key] = convert(child);
    return out;
  };
  const out: RunInput = {};
  for (const [field, value] of Object.entries(node.input)) out[field] = convert(value);
  return out;
}

function artifactRef(env: BuildEnvironment, node: GraphNode, ref: ResolvedRef): ArtifactRef {
  const artifact = env.finished.get(ref.uid)?.artifacts[ref.output];
  if (artifact === undefined) {
    throw new RunGraphError('E_CORRUPT_STORE', `upstream store ${ref.uid} has no artifact for output '${ref.output}'`, { node: node.label, value: ref.uid });
  }
  return makeArtifactRef(ref, artifact, env.layout.storeDir(ref.uid), node.label);
}
