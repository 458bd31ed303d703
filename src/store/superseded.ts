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
 * A new store that failed (its attempts recorded, their files kept) is not
 * thrown away with it: it moves to `forced-failures/<uid>/`, replacing an
 * earlier one, so `run-graph logs` and `explain` can still say why the
 * forced rerun failed. It goes when a later forced rerun of the node commits,
 * or with the node's store when gc deletes that.
 *
 * `settleSuperseded` makes the second or third step happen, whichever
 * applies; a run calls it as it starts (after a kill) and as it ends (after a
 * failure), so at every moment either the old result or the new one is in
 * place. gc never counts what is here as a store.
 */
import { readdirSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RunGraphError, isErrnoException } from '../errors.js';
import { isUid, type Uid } from '../identity/fingerprint.js';
import { fsyncDirectory } from './durable.js';
import { failedAttempts, readStoreMetadata, type FailedAttempt } from './metadata.js';
import { faultPoint } from './fault-points.js';
import { sameOwner, type OwnerInfo } from './owner.js';
import { stagingName } from './staging.js';
import { readStoreStatus } from './store-status.js';
import type { WorkdirLayout } from './workdir.js';

export const SUPERSEDED_DIR = 'superseded';
export const FORCED_FAILURES_DIR = 'forced-failures';

function supersededDir(layout: WorkdirLayout): string {
  return join(layout.root, SUPERSEDED_DIR);
}

/** Where the failed store of the last forced rerun of `uid` is kept (see the top of this file). */
export function forcedFailureDir(layout: WorkdirLayout, uid: Uid): string {
  return join(layout.root, FORCED_FAILURES_DIR, uid);
}

/** The uids with a forced failure kept (one directory read; none when there is no forced-failures/). */
export function forcedFailureUids(layout: WorkdirLayout): Set<string> {
  try {
    return new Set(readdirSync(join(layout.root, FORCED_FAILURES_DIR)).filter(isUid));
  } catch {
    return new Set();
  }
}

/** The failed store of a forced rerun of `uid` that came after its commit at `committedAt`, if one is kept. */
export async function readForcedFailure(
  layout: WorkdirLayout,
  uid: Uid,
  committedAt: string,
): Promise<{ dir: string; last: FailedAttempt } | undefined> {
  const dir = forcedFailureDir(layout, uid);
  const last = failedAttempts(await readStoreMetadata(dir)).at(-1);
  // ISO 8601 times in UTC compare as text. A failure from before the commit (the store rebuilt since) is history.
  return last !== undefined && last.startedAt > committedAt ? { dir, last } : undefined;
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
      await rm(forcedFailureDir(layout, uid), { recursive: true, force: true });
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
      if (status.state === 'failed') await keepFailure(layout, uid, doomed, self);
      else await rm(doomed, { recursive: true, force: true });
    }
    await rename(join(aside, uid), storeDir);
    await fsyncDirectory(layout.root);
    settled.push({ uid, outcome: 'restored' });
  }
  if (settled.length > 0) await fsyncDirectory(aside).catch(() => undefined);
  return settled;
}

/**
 * Keep the failed store `failed` (already moved into tmp/) as the node's
 * forced failure, in place of an earlier one, which goes to tmp/ first: a
 * crash in between leaves only entries the next sweep of tmp/ removes.
 */
async function keepFailure(layout: WorkdirLayout, uid: Uid, failed: string, self: OwnerInfo): Promise<void> {
  const kept = forcedFailureDir(layout, uid);
  await mkdir(dirname(kept), { recursive: true });
  const earlier = join(layout.tmp, stagingName(uid.slice(0, 12), self));
  const hadEarlier = await rename(kept, earlier).then(
    () => true,
    () => false,
  );
  await rename(failed, kept);
  if (hadEarlier) await rm(earlier, { recursive: true, force: true });
}
