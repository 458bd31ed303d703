/**
 * The one answer to "what state is this store in", read from outside
 * without taking any lock or writing anything: what `status`, `explain`,
 * `inspect`, `gc` and a served working directory each show of a store.
 *
 * The rule: committed metadata makes a store committed (a committed store
 * never changes, whatever lock is left on it); otherwise a store whose lock
 * directory exists and whose owner file names an owner not provably dead is
 * running; otherwise a store whose metadata records failed attempts
 * (state `failed`) is failed; any other store is incomplete; no store
 * directory at all is not started. A store being retried by a live owner is
 * running, and carries its failed attempts in its metadata. "Not provably dead" is isOwnerDead's judgement: only an owner
 * on this host can be proven dead, so an owner on another host counts as
 * alive here (only its heartbeat could tell, which this does not read).
 */
import { stat } from 'node:fs/promises';
import { isLocked } from './lock.js';
import {
  isCommitted,
  readStoreMetadata,
  type CommittedMetadata,
  type FailedMetadata,
  type StoreMetadata,
} from './metadata.js';
import { isOwnerDead, readOwnerSync, type OwnerInfo } from './owner.js';

/**
 * Who a store's owner file names, and whether that process may still be
 * running: `alive` is `!isOwnerDead(owner)`, so an owner on another host is
 * alive. Kept whole (every field of the file, `alive` last) because
 * `inspect` shows it as it is.
 */
export type StoreOwner = OwnerInfo & { alive: boolean };

/**
 * A store's state, with what it was judged from, so that no caller has to
 * read the store again: its metadata (undefined when metadata.json is
 * missing or unreadable), whether its lock directory exists (`locked`), and
 * its owner file (`owner`; a store being built has one, a committed store
 * normally none). A committed store carries its lock and owner too, since a
 * lock left on it (by a process killed before tidying it, or one looking at
 * it) still says who may be using it: gc will not delete it from under a
 * live holder.
 */
export type StoreStatus =
  | { state: 'not-started' }
  | { state: 'committed'; metadata: CommittedMetadata; locked: boolean; owner: StoreOwner | undefined }
  /** Never committed and not running: no lock, a lock with no owner file, or a lock whose owner is provably dead. */
  | { state: 'incomplete'; metadata: StoreMetadata | undefined; locked: boolean; owner: StoreOwner | undefined }
  /** Never committed, not running, and its last attempt failed: the attempts are in `metadata.attempts`. */
  | { state: 'failed'; metadata: FailedMetadata; locked: boolean; owner: StoreOwner | undefined }
  | { state: 'running'; metadata: StoreMetadata | undefined; locked: true; owner: StoreOwner & { alive: true } };

/** The status of a store that is known to exist (it was listed): never `not-started`. */
export type ExistingStoreStatus = Exclude<StoreStatus, { state: 'not-started' }>;

/**
 * The status of the store at `storeDir`. `known.metadata` is its metadata
 * as the caller already read it (from the store index, say; undefined for a
 * store whose metadata cannot be read): passing it says the store exists and
 * saves reading metadata.json a second time. Without it the metadata is
 * read here, and a store with none is `not-started` only when its directory
 * does not exist.
 *
 * The owner file is read synchronously (a few hundred bytes, or an absent
 * file: one system call), since `status` asks this of every node of a
 * workflow, committed ones included.
 */
export async function readStoreStatus(
  storeDir: string,
  known: { metadata: StoreMetadata | undefined },
): Promise<ExistingStoreStatus>;
export async function readStoreStatus(
  storeDir: string,
  known?: { metadata: StoreMetadata | undefined },
): Promise<StoreStatus>;
export async function readStoreStatus(
  storeDir: string,
  known?: { metadata: StoreMetadata | undefined },
): Promise<StoreStatus> {
  const metadata = known === undefined ? await readStoreMetadata(storeDir) : known.metadata;
  if (known === undefined && metadata === undefined && (await stat(storeDir).catch(() => undefined)) === undefined)
    return { state: 'not-started' };
  const locked = await isLocked(storeDir);
  const info = readOwnerSync(storeDir);
  const owner = info === undefined ? undefined : { ...info, alive: !isOwnerDead(info) };
  if (isCommitted(metadata)) return { state: 'committed', metadata, locked, owner };
  if (locked && owner?.alive === true) return { state: 'running', metadata, locked, owner: { ...owner, alive: true } };
  if (metadata?.state === 'failed') return { state: 'failed', metadata, locked, owner };
  return { state: 'incomplete', metadata, locked, owner };
}
