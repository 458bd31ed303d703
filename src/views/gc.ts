/**
 * Garbage collection of a working directory: the stores no kept workflow
 * reaches, and the space they take. Deleting one is done as its owner: the
 * store's lock is claimed first (so a store a live process holds is never
 * touched, and no process can take it meanwhile), the store is renamed into
 * `tmp/` (one atomic step: from then on it is simply absent, and a run that
 * needs it again builds it anew), and only then removed.
 *
 * Reachable means: a node of a kept workflow, or a node a loop among them
 * generated (iteration by iteration), transitively.
 *
 * What gc cannot see is a run that is reading a committed store without a
 * lock (committed stores are reused lock-free): run gc when no run of an
 * unkept workflow is going on. The ledger is history and is kept. A deleted
 * store's forced failure (forced-failures/<uid>/, see store/superseded.ts)
 * goes with it.
 */
import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RunGraphError } from '../errors.js';
import type { Uid } from '../identity/fingerprint.js';
import { claimOwnership } from '../store/lock.js';
import { hasRecord } from './explain/prior-versions.js';
import { iterationUid } from '../workflow/loop.js';
import type { StoreMetadata } from '../store/metadata.js';
import { currentOwner } from '../store/owner.js';
import { directorySize, readStoreIndex } from '../store/store-index.js';
import { readStoreStatus, type ExistingStoreStatus } from '../store/store-status.js';
import { forcedFailureDir } from '../store/superseded.js';
import { isRunGraphWorkdir, workdirLayout, type WorkdirLayout } from '../store/workdir.js';

/** Who holds a store's lock, if anyone. */
export type StoreHolder =
  | { status: 'none' }
  | { status: 'live'; pid: number; host: string }
  | { status: 'dead'; pid: number; host: string }
  | { status: 'unknown' };

/** A store no kept workflow reaches. */
export interface UnreachableStore {
  uid: Uid;
  bytes: number;
  state: 'committed' | 'uncommitted';
  /** `namespace.name version`, or undefined when the metadata cannot be read. */
  operation: string | undefined;
  /** committedAt or createdAt. */
  at: string | undefined;
  holder: StoreHolder;
}

/** What `findGarbage` found: the basis of both the listing and the deletion. */
export interface GarbageReport {
  workdir: string;
  /** Stores some kept workflow reaches. */
  reachable: number;
  /** Stores no kept workflow reaches, deletable ones and held ones alike. */
  unreachable: UnreachableStore[];
  /** Bytes of the deletable unreachable stores. */
  bytes: number;
}

/**
 * Who holds a store's lock, from its status: committed or not, a lock left
 * on a store says who may still be using it. A lock with no owner file is
 * `unknown` (gc keeps it), where status calls such a store incomplete.
 */
function holderOf(store: ExistingStoreStatus): StoreHolder {
  if (!store.locked) return { status: 'none' };
  if (store.owner === undefined) return { status: 'unknown' };
  const { pid, host, alive } = store.owner;
  return alive ? { status: 'live', pid, host } : { status: 'dead', pid, host };
}

/** Whether gc may delete a store with this holder: never one a live (or unidentifiable) process holds. */
export function deletable(holder: StoreHolder): boolean {
  return holder.status === 'none' || holder.status === 'dead';
}

/**
 * `keep` and every store the loops among them generated, transitively. A
 * loop's nodes are not in the workflow's graph (they are made as it runs),
 * but the record of every node of iteration k depends on that iteration's
 * uid, derived from the loop's uid: so iterations are found from k = 0 on,
 * until one has no stores.
 */
export function withGeneratedStores(
  keep: ReadonlySet<Uid>,
  stores: ReadonlyMap<Uid, StoreMetadata | undefined>,
): Set<Uid> {
  const byDependency = new Map<Uid, Uid[]>();
  for (const [uid, metadata] of stores) {
    if (!hasRecord(metadata)) continue;
    for (const dependency of metadata.record.depends) {
      const list = byDependency.get(dependency);
      if (list === undefined) byDependency.set(dependency, [uid]);
      else list.push(uid);
    }
  }
  const reachable = new Set(keep);
  const queue = [...keep];
  while (queue.length > 0) {
    const at = queue.pop() as Uid;
    for (let k = 0; ; k++) {
      const members = [
        ...(byDependency.get(iterationUid(at, k, 'until')) ?? []),
        ...(byDependency.get(iterationUid(at, k, 'body')) ?? []),
      ];
      if (members.length === 0) break;
      for (const member of members) {
        if (reachable.has(member)) continue;
        reachable.add(member);
        queue.push(member);
      }
    }
  }
  return reachable;
}

/** The stores of `workdir` that neither a node of `keep` nor a loop among them made. Reads only. */
export async function findGarbage(workdir: string, keepNodes: ReadonlySet<Uid>): Promise<GarbageReport> {
  const layout = workdirLayout(workdir);
  if (!(await isRunGraphWorkdir(layout.root))) {
    throw new RunGraphError('E_WORKDIR', `${workdir} is not a run-graph working directory`, {
      value: workdir,
      hint: 'name it with --workdir; gc deletes only inside a working directory',
    });
  }
  const stores = await readStoreIndex(layout);
  const keep = withGeneratedStores(keepNodes, stores);
  const unreachable: UnreachableStore[] = [];
  let reachable = 0;
  for (const [uid, metadata] of stores) {
    if (keep.has(uid)) {
      reachable++;
      continue;
    }
    const storeDir = layout.storeDir(uid);
    const operation =
      metadata === undefined
        ? undefined
        : `${metadata.operation.namespace}.${metadata.operation.name}${metadata.operation.version === null ? '' : ` ${metadata.operation.version}`}`;
    const size = await directorySize(storeDir);
    const store = await readStoreStatus(storeDir, { metadata });
    unreachable.push({
      uid,
      bytes: size,
      state: store.state === 'committed' ? 'committed' : 'uncommitted',
      operation,
      at: store.state === 'committed' ? store.metadata.committedAt : store.metadata?.createdAt,
      holder: holderOf(store),
    });
  }
  const bytes = unreachable.filter((s) => deletable(s.holder)).reduce((sum, s) => sum + s.bytes, 0);
  return { workdir: layout.root, reachable, unreachable, bytes };
}

/** What `collectGarbage` did. */
export interface CollectResult {
  deleted: Uid[];
  /** Stores left in place, and why. */
  kept: { uid: Uid; reason: string }[];
  freedBytes: number;
}

/** Delete one store as its owner; returns why not when it cannot be. */
async function deleteStore(layout: WorkdirLayout, uid: Uid, staleMs: number): Promise<string | undefined> {
  const storeDir = layout.storeDir(uid);
  const owner = currentOwner();
  const claim = await claimOwnership(storeDir, owner, { staleMs });
  if (claim.kind === 'missing') return 'already gone';
  if (claim.kind === 'held') {
    return claim.owner === undefined
      ? 'its lock is held (owner unknown)'
      : `in use by pid ${claim.owner.pid} on ${claim.owner.host}`;
  }
  const doomed = join(layout.tmp, `gc.${uid.slice(0, 16)}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    await rename(storeDir, doomed);
  } finally {
    // The lock directory moved with the store; releasing finds it gone, which is fine.
    await claim.lock.release().catch(() => undefined);
  }
  await rm(doomed, { recursive: true, force: true });
  // The failed store of its last forced rerun, kept for its logs, goes with it.
  await rm(forcedFailureDir(layout, uid), { recursive: true, force: true });
  return undefined;
}

/** Delete the deletable stores of a report. A store whose lock turns out to be held is kept and reported. */
export async function collectGarbage(
  report: GarbageReport,
  options: { staleMs?: number } = {},
): Promise<CollectResult> {
  const layout = workdirLayout(report.workdir);
  const result: CollectResult = { deleted: [], kept: [], freedBytes: 0 };
  for (const store of report.unreachable) {
    if (!deletable(store.holder)) {
      result.kept.push({
        uid: store.uid,
        reason:
          store.holder.status === 'live'
            ? `in use by pid ${store.holder.pid} on ${store.holder.host}`
            : 'its lock is held (owner unknown)',
      });
      continue;
    }
    const reason = await deleteStore(layout, store.uid, options.staleMs ?? 30_000);
    if (reason === undefined) {
      result.deleted.push(store.uid);
      result.freedBytes += store.bytes;
    } else {
      result.kept.push({ uid: store.uid, reason });
    }
  }
  return result;
}
