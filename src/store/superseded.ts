/**
 * Stores kept aside while a forced node runs again (`run --force`). The
 * committed store is moved to `superseded/<uid>/` in one rename, so the
 * node's own directory is free for the new attempt, and the old result is
 * never destroyed before the new one commits:
 *
 *     <uid>/ committed --supersede--> superseded/<uid>/ (and <uid>/ absent)
 *     new <uid>/ committed            -> superseded/<uid>/ removed
 *     new <uid>/ failed, or killed    -> superseded/<uid>/ renamed back to <uid>/
 *
 * `settleSuperseded` makes the second or third step happen, whichever
 * applies; a run calls it as it starts (after a kill) and as it ends (after a
 * failure), so at every moment either the old result or the new one is in
 * place. gc never counts what is here as a store.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RunGraphError, isErrnoException } from '../errors.js';
import { isUid, type Uid } from '../identity/fingerprint.js';
import { fsyncDirectory } from './durable.js';
import { faultPoint } from './fault-points.js';
import { sameOwner, type OwnerInfo } from './owner.js';
import { stagingName } from './staging.js';
import { readStoreStatus } from './store-status.js';
import type { WorkdirLayout } from './workdir.js';

export const SUPERSEDED_DIR = 'superseded';

function supersededDir(layout: WorkdirLayout): string {
  return join(layout.root, SUPERSEDED_DIR);
}

/**
 * Move the committed store of `uid` aside, so that the node is built again.
 * Returns false when there is nothing committed to keep (no store, or one
 * that never committed: the builder resets it as usual). A store a live
 * process is building is E_LOCKED: it is never taken from its owner.
 */
export async function supersedeStore(layout: WorkdirLayout, uid: Uid, label: string): Promise<boolean> {
  const storeDir = layout.storeDir(uid);
  const status = await readStoreStatus(storeDir);
  if (status.state === 'not-started' || status.state === 'incomplete') return false;
  if (status.state === 'running' || (status.owner?.alive === true && status.locked))
    throw new RunGraphError('E_LOCKED', `cannot force '${label}': its store is in use by a running process`, {
      node: label,
      value: uid,
      hint: 'wait for that run to finish, then force again',
    });
  const aside = supersededDir(layout);
  await mkdir(aside, { recursive: true });
  try {
    await rename(storeDir, join(aside, uid));
  } catch (error) {
    throw new RunGraphError(
      'E_WORKDIR',
      `cannot move the store of '${label}' aside to ${SUPERSEDED_DIR}/: ${String(error)}`,
      {
        node: label,
        value: uid,
        cause: error,
      },
    );
  }
  await fsyncDirectory(aside);
  await fsyncDirectory(layout.root);
  faultPoint('after-supersede');
  return true;
}

/** What settling did to one superseded store. */
export type SettledStore =
  | { uid: Uid; outcome: 'dropped' }
  | { uid: Uid; outcome: 'restored' }
  | { uid: Uid; outcome: 'kept'; reason: 'in use' };

/**
 * For every store kept aside: drop it if its replacement committed, put it
 * back if the replacement is missing or never committed (a failed or killed
 * attempt, which is moved into tmp/ and removed), leave it while a live
 * process other than `self` holds the replacement.
 */
export async function settleSuperseded(layout: WorkdirLayout, self: OwnerInfo): Promise<SettledStore[]> {
  try {
    return await settle(layout, self);
  } catch (error) {
    if (error instanceof RunGraphError) throw error;
    throw new RunGraphError(
      'E_WORKDIR',
      `cannot settle the stores kept aside in ${SUPERSEDED_DIR}/: ${String(error)}`,
      {
        value: supersededDir(layout),
        cause: error,
        hint: 'the working directory must be writable; the stores kept aside are untouched until it is',
      },
    );
  }
}

async function settle(layout: WorkdirLayout, self: OwnerInfo): Promise<SettledStore[]> {
  const aside = supersededDir(layout);
  let names: string[];
  try {
    names = await readdir(aside);
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') return [];
    throw error;
  }
  const settled: SettledStore[] = [];
  for (const name of names) {
    if (!isUid(name)) continue;
    const uid = name;
    const storeDir = layout.storeDir(uid);
    const status = await readStoreStatus(storeDir);
    if (status.state === 'committed') {
      await rm(join(aside, uid), { recursive: true, force: true });
      settled.push({ uid, outcome: 'dropped' });
      continue;
    }
    if (status.state !== 'not-started') {
      const owner = status.owner;
      if (owner !== undefined && owner.alive && !sameOwner(owner, self)) {
        settled.push({ uid, outcome: 'kept', reason: 'in use' });
        continue;
      }
      // The failed attempt goes to tmp/ under this process's staging name, so a crash while removing it leaves
      // an entry the next sweep removes.
      const doomed = join(layout.tmp, stagingName(uid.slice(0, 12), self));
      await rename(storeDir, doomed);
      await rm(doomed, { recursive: true, force: true });
    }
    await rename(join(aside, uid), storeDir);
    await fsyncDirectory(layout.root);
    settled.push({ uid, outcome: 'restored' });
  }
  if (settled.length > 0) await fsyncDirectory(aside).catch(() => undefined);
  return settled;
}
