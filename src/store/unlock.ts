/**
 * Inspecting and clearing store locks by hand (`run-graph unlock`). Only the
 * lock of a provably dead owner is removed without being asked; a live owner
 * is reported, never robbed; an owner on another host is reported with the
 * age of its heartbeat, since from here only the heartbeat can tell.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Uid } from '../identity/fingerprint.js';
import { LOCK_DIR } from './lock.js';
import { removeQuietly } from './durable.js';
import {
  OWNER_FILE,
  ageMs,
  isOwnerDead,
  mtimeNs,
  pendingOwnerFiles,
  readLockHolder,
  thisHost,
  type OwnerInfo,
} from './owner.js';
import { listStoreUids, type WorkdirLayout } from './workdir.js';

export type LockHolder =
  | { status: 'dead'; owner: OwnerInfo }
  | { status: 'alive'; owner: OwnerInfo }
  | { status: 'other-host'; owner: OwnerInfo }
  | { status: 'unknown' };

export interface LockInfo {
  uid: Uid;
  holder: LockHolder;
  /** Time since the lock's heartbeat last touched it. */
  heartbeatAgeMs: number;
}

/** Every lock in the working directory, with what is known of its holder. */
export async function listLocks(layout: WorkdirLayout): Promise<LockInfo[]> {
  const locks: LockInfo[] = [];
  for (const uid of await listStoreUids(layout)) {
    const storeDir = layout.storeDir(uid);
    const lockTimeNs = mtimeNs(join(storeDir, LOCK_DIR));
    if (lockTimeNs === undefined) continue;
    const { owner } = readLockHolder(storeDir, lockTimeNs);
    let holder: LockHolder;
    if (owner === undefined) holder = { status: 'unknown' };
    else if (owner.host !== thisHost()) holder = { status: 'other-host', owner };
    else holder = isOwnerDead(owner) ? { status: 'dead', owner } : { status: 'alive', owner };
    locks.push({ uid, holder, heartbeatAgeMs: Math.max(0, ageMs(lockTimeNs)) });
  }
  return locks.sort((a, b) => a.uid.localeCompare(b.uid));
}

/** Remove a store's lock and its owner files. The store itself, committed or not, is untouched. */
export async function removeLock(layout: WorkdirLayout, uid: Uid): Promise<void> {
  const storeDir = layout.storeDir(uid);
  await Promise.all(pendingOwnerFiles(storeDir).map(removeQuietly));
  await rm(join(storeDir, OWNER_FILE), { force: true });
  await rm(join(storeDir, LOCK_DIR), { recursive: true, force: true });
}
