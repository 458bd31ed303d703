/**
 * Every store of a working directory with its metadata, read without locks:
 * what `status`, `explain`, `inspect` and `gc` compare a graph against. One
 * readdir plus one metadata read per store.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Uid } from '../identity/fingerprint.js';
import { readStoreMetadata, type StoreMetadata } from './metadata.js';
import { listStoreUids, type WorkdirLayout } from './workdir.js';

/** Metadata of every store by uid; undefined for a store whose metadata cannot be read. */
export async function readStoreIndex(layout: WorkdirLayout): Promise<Map<Uid, StoreMetadata | undefined>> {
  const uids = [...(await listStoreUids(layout))].sort();
  const metadata = await Promise.all(uids.map((uid) => readStoreMetadata(layout.storeDir(uid))));
  return new Map(uids.map((uid, i) => [uid, metadata[i]]));
}

/** Bytes a directory tree takes (sum of file sizes; symbolic links count as themselves). */
export async function directorySize(path: string): Promise<number> {
  const info = await lstat(path).catch(() => undefined);
  if (info === undefined) return 0;
  if (!info.isDirectory()) return info.size;
  const entries = await readdir(path).catch(() => [] as string[]);
  let total = 0;
  for (const name of entries) total += await directorySize(join(path, name));
  return total;
}

/** `1.2 MiB`, `512 B`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit] ?? 'TiB'}`;
}
