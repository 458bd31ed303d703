/**
 * Ownership of a store: a lock directory `<store>/lock` held through
 * proper-lockfile (its mtime is the heartbeat), plus the `owner` file beside
 * it naming the holder. A lock is reclaimed without waiting when its owner is
 * provably dead (same host, pid gone or reused), and by proper-lockfile once
 * its heartbeat is older than the stale limit (owners on other hosts). A live
 * owner on this host is never robbed. If the heartbeat is ever lost, the lock reports
 * itself compromised and its holder must not commit.
 */
import * as fs from 'node:fs';
import { closeSync, mkdirSync, openSync, readSync, readdirSync, rmdirSync, statSync, writeSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import lockfile from 'proper-lockfile';
import { RunGraphError, isErrnoException } from '../errors.js';
import { removeQuietly, writeFileQuick } from './durable.js';
import { stagingName } from './staging.js';
import {
  OWNER_FILE,
  ageMs,
  isOwnerDead,
  ownerTag,
  parseOwnerTag,
  pendingOwnerPath,
  readLockHolder,
  readOwner,
  sameOwner,
  thisHost,
  type OwnerInfo,
} from './owner.js';

export const LOCK_DIR = 'lock';
/** Held while one process removes a dead owner's lock, so two reclaimers cannot both win. */
const RECLAIM_DIR = 'lock.reclaim';
/** An empty reclaim guard older than this was left by a process that died as it entered (see enterReclaimGuard). */
const RECLAIM_GUARD_STALE_MS = 10_000;
/** proper-lockfile's own stale limit: in effect never (see tryLock). */
const NEVER_STALE_MS = 2 ** 31 - 1;
/** How long a new holder may take between making the lock and writing its owner file. */
const OWNER_WRITE_GRACE_MS = 2_000;

/** Default heartbeat age after which a lock is taken over (locks of other hosts). */
export const DEFAULT_STALE_MS = 30_000;

export interface LockOptions {
  /** Heartbeat age in ms after which a lock counts as abandoned. Default 30 000, at least 2 000. */
  staleMs?: number;
  /** Called once if the heartbeat is lost (the lock was taken over or could not be refreshed). */
  onCompromised?: (error: Error) => void;
}

/** A held lock on one store. */
export class StoreLock {
  #compromised: Error | undefined;
  #release: (() => Promise<void>) | undefined;

  constructor(
    readonly storeDir: string,
    /** Heartbeat age after which others may take the lock over. */
    readonly staleMs: number,
  ) {}

  /** @internal */
  attach(release: () => Promise<void>): void {
    this.#release = release;
  }

  /** @internal */
  markCompromised(error: Error): void {
    this.#compromised ??= error;
  }

  get compromised(): boolean {
    return this.#compromised !== undefined;
  }

  /** Throw E_LOCK_COMPROMISED if the lock was lost: call before every commit. */
  assertHeld(): void {
    if (this.#compromised !== undefined) {
      throw new RunGraphError('E_LOCK_COMPROMISED', `lost the lock on ${this.storeDir}: ${this.#compromised.message}`, {
        cause: this.#compromised,
        hint: 'another process may own this node now; its result, not ours, will be committed',
      });
    }
  }

  /**
   * Like assertHeld, and also fails when the heartbeat is older than the
   * stale limit: then another process may rightly have taken the lock over,
   * even if this one's heartbeat timer (starved by a busy event loop) has not
   * noticed yet. Call right before committing.
   */
  assertFresh(): void {
    this.assertHeld();
    const beat = mtimeMs(join(this.storeDir, LOCK_DIR));
    const age = beat === undefined ? Infinity : Date.now() - beat;
    if (age > this.staleMs) {
      this.markCompromised(
        new Error(
          beat === undefined
            ? 'the lock directory is gone'
            : `the heartbeat is ${Math.round(age)} ms old, past the stale limit of ${this.staleMs} ms`,
        ),
      );
      this.assertHeld();
    }
  }

  /**
   * Let go of a lock another process has taken over, without touching it:
   * the lock directory at our path is theirs now, and releasing would remove
   * it. (proper-lockfile stops beating our heartbeat at its next update,
   * when it sees the directory changed.)
   */
  abandon(error: Error): void {
    this.markCompromised(error);
    this.#release = undefined;
  }

  /** Release the lock. Safe to call twice and after compromise. */
  async release(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    if (release === undefined) return;
    try {
      await release();
    } catch (error) {
      // A compromised lock is no longer ours to release.
      if (!this.compromised) throw error;
    }
  }
}

/** `missing`: the store directory is gone (moved to quarantine meanwhile); publish it again. */
export type ClaimResult =
  { kind: 'acquired'; lock: StoreLock } | { kind: 'held'; owner: OwnerInfo | undefined } | { kind: 'missing' };

/**
 * The file system proper-lockfile works through: Node's, with `stat` of the
 * lock directory made synchronously, the way proper-lockfile's lockSync
 * makes it. A stat only reads, taking microseconds, where a thread-pool
 * round trip costs far more, and one is made for every lock taken. Calls that
 * change the directory stay asynchronous (see durable.ts). One object for
 * every lock: proper-lockfile probes the mtime precision once per
 * file-system object.
 */
const LOCK_FS = {
  ...fs,
  stat(path: string, callback: (error: NodeJS.ErrnoException | null, stats?: fs.Stats) => void): void {
    let stats: fs.Stats;
    try {
      stats = statSync(path);
    } catch (error) {
      callback(error as NodeJS.ErrnoException);
      return;
    }
    callback(null, stats);
  },
};

async function tryLock(storeDir: string, options: LockOptions, lock: StoreLock): Promise<boolean | 'missing'> {
  const staleMs = Math.max(options.staleMs ?? DEFAULT_STALE_MS, 2_000);
  try {
    const release = await lockfile.lock(storeDir, {
      lockfilePath: join(storeDir, LOCK_DIR),
      realpath: false,
      fs: LOCK_FS,
      // Takeover is decided by claimOwnership, which knows whether the owner lives; proper-lockfile never
      // takes a lock over by itself. It still beats the heartbeat, and reports a lock someone else took.
      stale: NEVER_STALE_MS,
      update: Math.max(1_000, Math.floor(staleMs / 3)),
      retries: 0,
      onCompromised: (error) => {
        lock.markCompromised(error);
        options.onCompromised?.(error);
      },
    });
    lock.attach(release);
    return true;
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ELOCKED') return false;
    if (isErrnoException(error) && error.code === 'ENOENT') return 'missing';
    throw error;
  }
}

let primed: Promise<void> | undefined;

/**
 * Take and release one lock in `scratchDir` (a working directory's tmp/),
 * so that the store locks this process takes next are dated when they are
 * taken. proper-lockfile learns the file system's mtime precision from the
 * first lock made through a file-system object, and dates that lock the next
 * whole second plus 5 ms: up to a second ahead, and so newer than the owner
 * file its holder writes next. Were the holder to die, that lock could not
 * be proven its own, and would be reclaimed only after a grace period.
 * Once per process; a failure is ignored (the first store lock then probes).
 */
export function primeLockClock(scratchDir: string, owner: OwnerInfo): Promise<void> {
  primed ??= (async () => {
    // Named like a staging entry, so that a sweep of tmp/ removes it if this process dies here.
    const dir = join(scratchDir, stagingName('0', owner));
    try {
      await mkdir(dir);
      const release = await lockfile.lock(dir, {
        lockfilePath: join(dir, LOCK_DIR),
        realpath: false,
        fs: LOCK_FS,
        stale: NEVER_STALE_MS,
        retries: 0,
      });
      await release();
    } catch {
      // Only the dating of one lock is at stake.
    } finally {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  })();
  return primed;
}

/** A path's mtime, or undefined if it is gone. Synchronous: one stat of a lock directory. */
function mtimeMs(path: string): number | undefined {
  return statSync(path, { throwIfNoEntry: false })?.mtimeMs;
}

/**
 * What tells one lock directory from another at the same path: inode, ctime
 * and mtime. The mtime alone does not: proper-lockfile sets the first lock of
 * every process to the next whole second plus 5 ms (probing the mtime
 * precision), so two processes' first locks of one store in the same second
 * have equal mtimes. The ctime is the kernel's own, set at creation and at
 * every heartbeat, and cannot be set back.
 */
function lockLook(path: string): { stamp: string; mtimeNs: bigint } | undefined {
  const info = statSync(path, { throwIfNoEntry: false, bigint: true });
  return info === undefined
    ? undefined
    : { stamp: `${info.ino}:${info.ctimeNs}:${info.mtimeNs}`, mtimeNs: info.mtimeNs };
}

/**
 * Remove a lock that may be taken over (its owner is dead, or its heartbeat
 * is stale), with any owner file its holder never renamed into place, after
 * `before` (which may remove more of what the holder left). Returns true if
 * it was removed. The reclaim guard makes this a critical section;
 * inside it the holder is read again and the lock compared with the one
 * seen before (see lockLook): a dead or stalled owner's heartbeat is frozen,
 * so a changed lock means a live process has it meanwhile, and it is left
 * alone.
 */
async function reclaimLock(
  storeDir: string,
  self: OwnerInfo,
  seen: OwnerInfo | undefined,
  lockSeen: string,
  before?: () => Promise<void>,
): Promise<boolean> {
  const inside = enterReclaimGuard(storeDir, self);
  if (inside === undefined) return false;
  try {
    const look = lockLook(join(storeDir, LOCK_DIR));
    if (look?.stamp !== lockSeen) return false;
    const holder = readLockHolder(storeDir, look.mtimeNs);
    if (holder.owner?.contextId !== seen?.contextId) return false;
    // The temporary owner files seen just now are the dead holder's, or older leftovers. Not a fresh listing: one
    // made since may be a live process's that took the lock an instant ago (see clearLeftoverLock).
    await Promise.all(holder.pending.map(removeQuietly));
    await before?.();
    await rm(join(storeDir, LOCK_DIR), { recursive: true, force: true });
    return true;
  } finally {
    leaveReclaimGuard(inside);
  }
}

/**
 * Enter a store's reclaim guard: the directory `lock.reclaim` with one entry
 * inside, named by the owner tag of the process in it (see ownerTag). Both
 * are made synchronously, one right after the other, so a guard is empty
 * only for microseconds. Returns the entry to leave by, or undefined when
 * another process is inside. A guard whose reclaimer was killed inside it
 * would otherwise keep a dead holder's lock for as long as the guard lives:
 * one naming a dead process is cleared at once, by removing that exact
 * entry (which only one clearer can do) and then the emptied directory; an
 * empty one only once it is older than RECLAIM_GUARD_STALE_MS.
 */
function enterReclaimGuard(storeDir: string, self: OwnerInfo): string | undefined {
  const guard = join(storeDir, RECLAIM_DIR);
  for (let attempt = 0; ; attempt++) {
    try {
      mkdirSync(guard);
      break;
    } catch (error) {
      if (!isErrnoException(error) || error.code !== 'EEXIST') throw error;
      if (attempt > 0 || !clearAbandonedGuard(guard)) return undefined;
    }
  }
  const inside = join(guard, ownerTag(self));
  try {
    mkdirSync(inside);
  } catch (error) {
    rmdirQuietly(guard);
    throw error;
  }
  return inside;
}

/** Remove a reclaim guard whose reclaimer is provably gone (see enterReclaimGuard); true if it was removed. */
function clearAbandonedGuard(guard: string): boolean {
  let entries: string[];
  try {
    entries = readdirSync(guard);
  } catch {
    return false;
  }
  const [entry] = entries;
  if (entry === undefined) {
    if (Date.now() - (mtimeMs(guard) ?? Date.now()) <= RECLAIM_GUARD_STALE_MS) return false;
  } else {
    const reclaimer = entries.length === 1 ? parseOwnerTag(entry) : undefined;
    if (reclaimer === undefined || !isOwnerDead(reclaimer) || !rmdirQuietly(join(guard, entry))) return false;
  }
  return rmdirQuietly(guard);
}

function leaveReclaimGuard(inside: string): void {
  rmdirQuietly(inside);
  rmdirQuietly(dirname(inside));
}

/** rmdir, reporting instead of throwing whether it removed the directory. */
function rmdirQuietly(path: string): boolean {
  try {
    rmdirSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a lock held by someone else may be taken over. An owner on this
 * host is never robbed while it lives, however late its heartbeat (its event
 * loop may just be busy); once dead it is reclaimed at once. An owner on
 * another host, or one that wrote no owner file, can only be judged by its
 * heartbeat: the lock is taken over once that is older than the stale limit.
 */
function mayTakeOver(
  holder: OwnerInfo | undefined,
  lockAgeMs: number,
  provablyTheirs: boolean,
  staleMs: number,
): boolean {
  if (holder === undefined || holder.host !== thisHost()) return lockAgeMs > staleMs;
  return isOwnerDead(holder) && (provablyTheirs || lockAgeMs > OWNER_WRITE_GRACE_MS);
}

/**
 * Take ownership of a store, or learn who holds it. Never waits: the caller
 * decides whether to poll. On success the `owner` file names `owner`.
 *
 * The owner file is rewritten after every lock is taken, so a lock no newer
 * than the owner file is provably that owner's, and when the owner is dead
 * it is reclaimed at once. The same holds for the temporary owner file of a
 * holder killed before renaming it into place (see readLockHolder). A lock
 * newer than the owner file may belong to a live process that has not
 * written its owner file yet (or to a dead owner whose heartbeat touched
 * it), and is reclaimed only after a short grace.
 * See mayTakeOver for who may be robbed at all.
 */
export async function claimOwnership(
  storeDir: string,
  owner: OwnerInfo,
  options: LockOptions = {},
): Promise<ClaimResult> {
  const lock = new StoreLock(storeDir, Math.max(options.staleMs ?? DEFAULT_STALE_MS, 2_000));
  const first = await tryLock(storeDir, options, lock);
  if (first === 'missing') return { kind: 'missing' };
  if (first) {
    await writeOwner(storeDir, owner);
    return { kind: 'acquired', lock };
  }
  const seen = lockLook(join(storeDir, LOCK_DIR));
  if (seen === undefined) return { kind: 'held', owner: await readOwner(storeDir) };
  const { owner: holder, writtenAtNs } = readLockHolder(storeDir, seen.mtimeNs);
  if (holder !== undefined && sameOwner(holder, owner)) return { kind: 'held', owner: holder };
  const provablyTheirs = writtenAtNs !== undefined && seen.mtimeNs <= writtenAtNs;
  if (!mayTakeOver(holder, ageMs(seen.mtimeNs), provablyTheirs, lock.staleMs)) return { kind: 'held', owner: holder };
  if (!(await reclaimLock(storeDir, owner, holder, seen.stamp)))
    return { kind: 'held', owner: await readOwner(storeDir) };
  const second = await tryLock(storeDir, options, lock);
  if (second === 'missing') return { kind: 'missing' };
  if (!second) return { kind: 'held', owner: await readOwner(storeDir) };
  await writeOwner(storeDir, owner);
  return { kind: 'acquired', lock };
}

/**
 * Write the owner file anew, after the lock is taken, even when it names
 * `owner` already (a store this process just published; then in place, see
 * renewOwnerFile): its mtime, set by the kernel, is then no older than the
 * lock, which is what makes a lock no newer than its owner file provably
 * that owner's. Touching the file with an
 * mtime of our choosing instead was tried and is wrong: to stay past a lock
 * that proper-lockfile dates up to a second ahead (its first lock in a
 * process), the owner file had to be dated ahead too, and then a lock taken
 * by another process in that second, before it wrote its own owner file,
 * passed for the dead owner's and was reclaimed from under it.
 */
async function writeOwner(storeDir: string, owner: OwnerInfo): Promise<void> {
  const text = JSON.stringify(owner);
  if (renewOwnerFile(join(storeDir, OWNER_FILE), Buffer.from(text))) return;
  await writeFileQuick(join(storeDir, OWNER_FILE), text, pendingOwnerPath(storeDir, owner));
}

/**
 * writeOwner for an owner file that already holds exactly `bytes` (a store
 * this process just published): the same bytes written over it in place.
 * The write dates the file as a new one would be dated, and a reader sees
 * the same text before, during and after it, where a new file and its
 * rename would cost an inode and two thread-pool round trips. False, having
 * written nothing, for any other file (another owner's, or none): that one
 * is written anew.
 */
function renewOwnerFile(path: string, bytes: Buffer): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch {
    return false;
  }
  try {
    // One byte more than ours, to see a longer file for what it is.
    const current = Buffer.allocUnsafe(bytes.length + 1);
    const size = readSync(fd, current, 0, current.length, 0);
    if (size !== bytes.length || !current.subarray(0, size).equals(bytes)) return false;
    return writeSync(fd, bytes, 0, bytes.length, 0) === bytes.length;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/**
 * Remove the lock left on a committed store, unless the holder its owner
 * files name lives (or is on another host, with a heartbeat younger than the
 * stale limit). Such a lock is left by a process killed after committing the
 * store and before tidying it, or while it held the store to look at it. A
 * committed store never changes, so its lock guards nothing: unlike
 * claimOwnership, this takes a lock with no owner file at once, and one whose
 * dead holder may have been followed by a live process that has not written
 * its owner file yet (that process finds the store committed and leaves it).
 * `tidy` runs first, inside the reclaim guard. Returns true if the lock was
 * removed.
 */
export async function clearLeftoverLock(
  storeDir: string,
  options: { owner: OwnerInfo; staleMs: number; tidy: () => Promise<void> },
): Promise<boolean> {
  const seen = lockLook(join(storeDir, LOCK_DIR));
  if (seen === undefined) return false;
  const { owner } = readLockHolder(storeDir, seen.mtimeNs);
  const clear =
    owner === undefined || (owner.host === thisHost() ? isOwnerDead(owner) : ageMs(seen.mtimeNs) > options.staleMs);
  return clear && (await reclaimLock(storeDir, options.owner, owner, seen.stamp, options.tidy));
}

/** Whether a store's lock directory exists (someone holds it, or a dead owner left it). */
export async function isLocked(storeDir: string): Promise<boolean> {
  return mtimeMs(join(storeDir, LOCK_DIR)) !== undefined;
}
