/**
 * The store lifecycle, as the engine sees it: the one interface between a
 * run and the files of its working directory. Only the store/ folder knows
 * file names, locks and owners; the engine publishes, claims, opens,
 * commits, reuses and releases.
 *
 *     absent --claim()--> claimed (this process holds the lock; published if it was absent)
 *     claimed --open()--> committed and valid: reused (tidied, released)
 *                         committed, corrupt:  quarantined (released), claim again
 *                         otherwise:           reset, ready to run
 *     ready --commit(outputs)--> committed (tidied in the background)
 *     claimed --giveBack()--> absent again (claimed ahead of time, never used)
 *
 * Reusing a committed store takes no lock: committed stores never change.
 * Everything that writes does so as the store's owner.
 */
import { existsSync } from 'node:fs';
import { rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RunGraphError, isErrnoException } from '../errors.js';
import type { KnownRecord, NodeRecord, Uid } from '../identity/fingerprint.js';
import type { ArrayValue } from '../values/npy.js';
import { durableChunkCount, writeStream } from './array-stream.js';
import { CHECKPOINT_DIR, checkpointFacility, type CheckpointFacility } from './checkpoint.js';
import {
  ATTEMPTS_DIR,
  attemptDir,
  commitStore,
  recordFailedAttempt,
  publishStore,
  quarantineStore,
  resetStore,
  verifyStore,
  verifyStoreSizes,
  type CommitOptions,
  type NewStore,
  type VerifyMode,
} from './data-store.js';
import {
  PROCESS_GROUP_FILE,
  forgetProcessGroup,
  killLeftoverProcessGroup,
  processGroupPlace,
  recordProcessGroup,
  type ProcessGroupPlace,
} from './process-group.js';
import { removeQuietly } from './durable.js';
import { LOCK_DIR, claimOwnership, clearLeftoverLock, type StoreLock } from './lock.js';
import {
  STORE_FORMAT,
  holdsCommittedRecordFile,
  isCommitted,
  readStoreMetadataSync,
  type ArtifactEntry,
  type CommittedMetadata,
  type FailedAttempt,
  type FailedMetadata,
  type StoreMetadata,
} from './metadata.js';
import type { OperationOutputs } from './outputs.js';
import { OWNER_FILE, ageMs, mtimeNs, readOwnerSync, sameOwner, type OwnerInfo } from './owner.js';
import { stagingName } from './staging.js';
import { sweepTmp, workdirLayout, type WorkdirLayout } from './workdir.js';
import { CommitFeed } from './commit-feed.js';

export type { NewStore, VerifyMode } from './data-store.js';

export interface StoresOptions {
  /** Check of committed stores before reuse: `size` (cheap) or `checksum` (reads every artifact). */
  readonly verify: VerifyMode;
  /** Heartbeat age in ms after which another host's lock counts as abandoned. */
  readonly staleMs: number;
}

export interface ClaimOptions {
  /**
   * Whether the store may exist already. False for a store absent when the
   * run listed the working directory: it is published without a look first,
   * and publishing finds out if someone made it since.
   */
  readonly mayExist: boolean;
  /** Called once if the lock's heartbeat is lost while this process holds it. */
  readonly onCompromised?: (error: Error) => void;
}

/**
 * The outcome of a claim. `acquired`: this process owns the store.
 * `held`: another live process does. `missing`: the store vanished between
 * publishing and locking (moved to quarantine meanwhile); claim again.
 * `foundPublished` says the store was there when this process tried to
 * publish it, which the caller compares with what it knew.
 */
export type StoreClaim = (
  { kind: 'acquired'; store: ClaimedStore } | { kind: 'held'; owner: OwnerInfo | undefined } | { kind: 'missing' }
) & {
  readonly foundPublished: boolean;
};

/** What a claimed store turned out to hold once it was ours to look at (see ClaimedStore.open). */
export type OpenedStore =
  | { kind: 'committed'; metadata: CommittedMetadata }
  | { kind: 'quarantined'; reason: string; path: string }
  | { kind: 'ready'; created: StoreMetadata; removed: string[] };

/** A store's metadata holding `record` instead of the copy parsed from the file: the same value (the uid is its hash), kept once. */
function sharingRecord<M extends StoreMetadata>(metadata: M, uid: Uid, record: NodeRecord): M {
  return metadata.uid === uid ? { ...metadata, record } : metadata;
}

/**
 * The stores of one working directory, as seen by one process (`owner`).
 * Every question the engine asks of a store, and every change it makes to
 * one, goes through here or through the ClaimedStore a claim gives.
 */
export class Stores {
  /** What other processes commit here, learnt from the ledger (see CommitFeed). */
  readonly commits: CommitFeed;

  constructor(
    readonly layout: WorkdirLayout,
    readonly owner: OwnerInfo,
    readonly options: StoresOptions,
  ) {
    // Entries from before this process are history (their stores may have been removed since), give or take the
    // clocks of other hosts: an entry dated a little early is only looked up in its store instead.
    this.commits = new CommitFeed(layout.root, new Date(Date.now() - 10_000));
  }

  /**
   * The metadata of a store another process committed during this run
   * (the ledger says so), read without verification: what a downstream node
   * needs to find its inputs. Undefined if it cannot be read as committed.
   */
  committedElsewhere(uid: Uid, record: NodeRecord): CommittedMetadata | undefined {
    const metadata = readStoreMetadataSync(this.dir(uid));
    return isCommitted(metadata) ? sharingRecord(metadata, uid, record) : undefined;
  }

  /** The directory of a node's store. */
  dir(uid: Uid): string {
    return this.layout.storeDir(uid);
  }

  /**
   * The metadata of a committed store whose artifacts pass verification,
   * or undefined (absent, uncommitted, corrupt or unreadable: the builder
   * then claims it and finds out which). Takes no lock. `record` replaces
   * the parsed copy in what is returned.
   *
   * The metadata is read, and (with `size` verification) every artifact
   * stat'ed, synchronously before the call returns its promise: a caller
   * checking many stores at once (the resume pre-pass) gets those reads in a
   * row, without a thread-pool round trip each.
   */
  async verified(uid: Uid, record: NodeRecord): Promise<CommittedMetadata | undefined> {
    const storeDir = this.dir(uid);
    const metadata = readStoreMetadataSync(storeDir, record);
    if (!isCommitted(metadata)) return undefined;
    if ((await verifyStore(storeDir, metadata, this.options.verify)) !== undefined) return undefined;
    return sharingRecord(metadata, uid, record);
  }

  /**
   * reusable(), answered without waiting when it can be: with `size`
   * verification and no lock left on the store, the metadata and a stat of
   * each artifact decide at once. Undefined when only reusable() can tell
   * (checksums to compute, a lock to look into); null when the store is not
   * reusable (absent, uncommitted, unreadable, or an artifact missing or
   * resized).
   */
  reusableNow(uid: Uid, record: NodeRecord): CommittedMetadata | null | undefined {
    if (this.options.verify !== 'size') return undefined;
    const storeDir = this.dir(uid);
    const metadata = readStoreMetadataSync(storeDir, record);
    if (!isCommitted(metadata) || verifyStoreSizes(storeDir, metadata) !== undefined) return null;
    if (existsSync(join(storeDir, LOCK_DIR))) return undefined;
    return sharingRecord(metadata, uid, record);
  }

  /**
   * "Committed and verified, so reuse it": verified(), and a lock a killed
   * process left on the store cleared (see tidyLeftover). The one answer to
   * whether a node's existing store may be reused as it is.
   */
  async reusable(uid: Uid, record: NodeRecord): Promise<CommittedMetadata | undefined> {
    const metadata = await this.verified(uid, record);
    if (metadata !== undefined) await this.tidyLeftover(uid);
    return metadata;
  }

  /**
   * Tidy a committed store that still has a lock, left by a process killed
   * after committing it and before tidying it, or while it held the store to
   * look at it: unless the holder lives, the store is tidied as after a
   * commit and the lock removed (see clearLeftoverLock). Costs one stat when
   * there is no lock.
   */
  async tidyLeftover(uid: Uid): Promise<void> {
    const storeDir = this.dir(uid);
    if (!existsSync(join(storeDir, LOCK_DIR))) return;
    await clearLeftoverLock(storeDir, {
      owner: this.owner,
      staleMs: this.options.staleMs,
      tidy: async () => removeIntermediateState(storeDir),
    });
  }

  /**
   * Whether someone seems to be working on the store right now: its lock
   * directory is there with a heartbeat younger than the stale limit. One
   * stat, so a worker among many can pass over a node another one holds
   * without the calls of a claim; whether the holder is really alive is
   * for a claim to decide, later.
   */
  seemsHeld(uid: Uid): boolean {
    const beat = mtimeNs(join(this.dir(uid), LOCK_DIR));
    return beat !== undefined && ageMs(beat) < this.options.staleMs;
  }

  /** Publish the node's store unless it may exist and does, then try to take it. */
  async claim(store: NewStore, options: ClaimOptions): Promise<StoreClaim> {
    const storeDir = this.dir(store.uid);
    // A store known to be absent is published without a look first: publishing finds out if someone made it since.
    let foundPublished = options.mayExist && existsSync(storeDir);
    if (!foundPublished) foundPublished = (await publishStore(this.layout, store, this.owner)) === 'exists';
    const claim = await claimOwnership(storeDir, this.owner, {
      staleMs: this.options.staleMs,
      ...(options.onCompromised === undefined ? {} : { onCompromised: options.onCompromised }),
    });
    if (claim.kind !== 'acquired') return { ...claim, foundPublished };
    return {
      kind: 'acquired',
      store: new ClaimedStore(this, store, claim.lock, !foundPublished),
      foundPublished,
    };
  }

  /** Remove what dead processes left in tmp/; returns the names removed. */
  sweepTmp(): Promise<string[]> {
    return sweepTmp(this.layout);
  }
}

/**
 * A store this process owns: it holds the lock until the store is
 * committed, released, quarantined or given back. The operation's files,
 * checkpoints and streamed chunks are written here.
 */
export class ClaimedStore {
  readonly dir: string;
  #released = false;

  constructor(
    readonly stores: Stores,
    readonly identity: NewStore,
    readonly lock: StoreLock,
    /** Whether this process published the store for this claim (it was absent). */
    readonly published: boolean,
  ) {
    this.dir = stores.dir(identity.uid);
  }

  /**
   * Look at the store now that it is ours: another process may have
   * committed it between our look and our lock. A committed, valid store is
   * tidied and released, to be reused; a committed, corrupt one is moved to
   * quarantine while still locked (so no one can be writing it), then
   * released; anything else is reset to its metadata, ownership and
   * checkpoints, ready for the operation to run.
   */
  async open(): Promise<OpenedStore> {
    const { uid, record } = this.identity;
    const metadata = readStoreMetadataSync(this.dir, record);
    if (isCommitted(metadata)) {
      const problem = await verifyStore(this.dir, metadata, this.stores.options.verify);
      if (problem === undefined) {
        await this.#tidyCommitted();
        return { kind: 'committed', metadata: sharingRecord(metadata, uid, record) };
      }
      const path = await quarantineStore(this.stores.layout, uid);
      await this.release();
      return { kind: 'quarantined', reason: problem, path };
    }
    const created: StoreMetadata =
      metadata !== undefined
        ? sharingRecord(metadata, uid, record)
        : {
            format: STORE_FORMAT,
            uid,
            record,
            operation: this.identity.operation,
            createdAt: new Date().toISOString(),
            state: 'created',
          };
    // A command the dead owner started may still run: it goes before anything here is touched.
    killLeftoverProcessGroup(this.dir);
    const removed = await resetStore(this.dir, created);
    return { kind: 'ready', created, removed };
  }

  /** The directory for attempt `attempt`'s own files (a subprocess's scratch directory); kept if it fails. */
  attemptDir(attempt: number): string {
    return attemptDir(this.dir, attempt);
  }

  /**
   * Record a failed attempt (see recordFailedAttempt), unless this process
   * no longer owns the store. Returns the store's metadata as it now is.
   */
  async recordFailure(metadata: StoreMetadata, failure: FailedAttempt): Promise<FailedMetadata> {
    this.#assertStillOwner();
    return recordFailedAttempt(this.dir, metadata, failure);
  }

  /** Clear what a failed attempt left outside its attempt directory, for the next attempt; returns the names removed. */
  resetForRetry(metadata: StoreMetadata): Promise<string[]> {
    return resetStore(this.dir, metadata);
  }

  /** A command started for this store runs as process group `pgid` (see process-group.ts). */
  processGroupStarted(pgid: number): Promise<void> {
    return recordProcessGroup(this.dir, pgid);
  }

  /** That command's group has ended. */
  processGroupEnded(): void {
    forgetProcessGroup(this.dir);
  }

  /** Where such a group is recorded, for a launcher that records it itself. */
  processGroupPlace(): ProcessGroupPlace {
    return processGroupPlace(this.dir);
  }

  /** Durable intermediate state of the node's operation. */
  checkpoint(): CheckpointFacility {
    return checkpointFacility(this.dir);
  }

  /** How many chunks of a streamed output are durable already: where a resumed stream starts. */
  durableChunks(output: string): Promise<number> {
    return durableChunkCount(this.dir, output);
  }

  /** Write a streamed output's chunks durably, one by one, starting at chunk `start`; returns its artifact entry. */
  writeStream(
    output: string,
    chunks: AsyncIterable<ArrayValue>,
    start: number,
    signal: AbortSignal,
    label: string,
  ): Promise<ArtifactEntry> {
    return writeStream(this.dir, output, chunks, start, signal, label);
  }

  /**
   * Commit the outputs (see commitStore), unless the lock was lost or the
   * owner file names another process meanwhile. The store is then tidied
   * (owner file, checkpoints, lock) in the background: `tidied` settles when
   * that is done, and never rejects. `awaitUpstream`, if given, is waited for
   * right before the commit point, and may throw to stop the commit.
   */
  async commit(
    created: StoreMetadata,
    outputs: OperationOutputs,
    durationMs: number,
    extra: Pick<CommitOptions, 'attempt' | 'usage' | 'artifactsInPlace'> & {
      awaitUpstream?: () => Promise<void>;
    } = {},
  ): Promise<{ metadata: CommittedMetadata; tidied: Promise<void> }> {
    const { awaitUpstream, ...options } = extra;
    const metadata = await commitStore(this.dir, created, outputs, {
      durationMs,
      ...options,
      beforeCommit: async () => {
        await awaitUpstream?.();
        this.#assertStillOwner();
      },
    });
    this.#released = true;
    return { metadata, tidied: this.#tidyCommitted() };
  }

  /**
   * Whether another process owns the store now: our lock was taken over
   * (we were stalled past the stale limit), or the owner file names someone
   * else. Such a claim is let go without touching the lock (see
   * StoreLock.abandon), and the other process's commit is waited for.
   */
  lost(): boolean {
    if (!this.lock.compromised && sameOwner(readOwnerSync(this.dir), this.stores.owner)) return false;
    this.#released = true;
    this.lock.abandon(new Error('another process owns the store now'));
    return true;
  }

  /** Release the lock; the store stays as it is. Safe to call twice. */
  async release(): Promise<void> {
    this.#released = true;
    await this.lock.release();
  }

  /** Whether the lock is still to be released (the store was neither committed nor released). */
  get held(): boolean {
    return !this.#released;
  }

  /**
   * Give up a claim made ahead of time and never used. A store this process
   * published for it, in which nothing ever ran, is taken back: moved out to
   * tmp/ while still locked (so no one can be inside it) and removed, so that
   * its node reads as not started rather than as an unfinished attempt.
   */
  async giveBack(): Promise<void> {
    const { layout, owner } = this.stores;
    const aside = join(layout.tmp, stagingName(this.identity.uid.slice(0, 16), owner));
    let moved = false;
    if (this.published) {
      moved = await rename(this.dir, aside).then(
        () => true,
        () => false,
      );
    }
    await this.release().catch(() => undefined);
    if (moved) await rm(aside, { recursive: true, force: true }).catch(() => undefined);
  }

  /**
   * A committed store is immutable and owned by no one, and needs no
   * intermediate state: its owner file and checkpoints go, then its lock. If
   * the process dies first, the next run that reuses the store clears what
   * is left (Stores.tidyLeftover), as after a kill right after the commit; a
   * failure here is left for it in the same way.
   */
  async #tidyCommitted(): Promise<void> {
    this.#released = true;
    await removeIntermediateState(this.dir);
    await this.lock.release().catch(() => undefined);
  }

  /** A process whose lock was lost, or whose owner file names someone else, must not commit. */
  #assertStillOwner(): void {
    this.lock.assertFresh();
    if (!sameOwner(readOwnerSync(this.dir), this.stores.owner)) {
      throw new RunGraphError('E_LOCK_COMPROMISED', `another process took ownership of ${this.dir}; not committing`, {
        hint: 'its result, not ours, will be committed',
      });
    }
  }
}

async function removeIntermediateState(storeDir: string): Promise<void> {
  // Its record is gone by now unless a run died with the command running: one synchronous look, mostly.
  try {
    if (existsSync(join(storeDir, PROCESS_GROUP_FILE))) forgetProcessGroup(storeDir);
  } catch {
    // Left for the next tidy, as everything else here.
  }
  await Promise.all([
    removeQuietly(join(storeDir, OWNER_FILE)),
    existsSync(join(storeDir, ATTEMPTS_DIR)) ? removeDirectoryQuietly(join(storeDir, ATTEMPTS_DIR)) : undefined,
    existsSync(join(storeDir, CHECKPOINT_DIR))
      ? rm(join(storeDir, CHECKPOINT_DIR), { recursive: true, force: true }).catch(() => undefined)
      : undefined,
  ]);
}

/** Remove a directory that is usually empty (an `attempts/` whose last attempt succeeded) or absent: one rmdir, mostly. */
async function removeDirectoryQuietly(dir: string): Promise<void> {
  try {
    await rmdir(dir);
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') return;
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * The records of a working directory, as fingerprint() may use them to
 * confirm a large literal's uid: a uid is known if its store is committed
 * with a record.json of that many bytes. Nothing is created: a working
 * directory that does not exist knows no record.
 */
export function knownRecordsIn(root: string): KnownRecord {
  const layout = workdirLayout(root);
  return (uid, textBytes) => holdsCommittedRecordFile(layout.storeDir(uid), textBytes);
}
