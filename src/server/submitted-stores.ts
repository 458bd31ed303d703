/**
 * Disk taken by the stores a server built for clients, for the quota of
 * `--submit-quota`: measured once from the ledger (every store committed
 * under the submitted label), then kept up to date build by build.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrnoException } from '../errors.js';
import { readLedger } from '../store/ledger.js';
import type { WorkdirLayout } from '../store/workdir.js';

/** Bytes of the files under a store directory (symlinks not followed); 0 for a store that is gone. */
export async function storeSize(dir: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return 0;
    throw error;
  }
  let total = 0;
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await storeSize(path);
    else total += (await lstat(path).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** Bytes of every store the ledger records as committed under `label` (a store counted once however often it was built). */
export async function submittedStoresSize(layout: WorkdirLayout, label: string): Promise<number> {
  const uids = new Set((await readLedger(layout.root)).filter((e) => e.label === label).map((e) => e.uid));
  let total = 0;
  for (const uid of uids) total += await storeSize(layout.storeDir(uid));
  return total;
}
