/** Reading what a run left in a working directory, as the tests check it from outside the engine. */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const UID_PATTERN = /^[0-9a-f]{64}$/;

/** Names of the store directories (64-hex uids) in a working directory, sorted. */
export async function storeUids(workdir: string): Promise<string[]> {
  return (await readdir(workdir)).filter((name) => UID_PATTERN.test(name)).sort();
}

/** A store's metadata.json as far as these tests read it. */
export interface StoreMetadataJson {
  format: string;
  uid: string;
  state: string;
  record: { depends: string[]; input: unknown; operation: string[] };
  artifacts?: {
    [output: string]: { path: string; kind: string; size: number; sha256: string; dtype?: string; shape?: number[] };
  };
  /** The attempt that committed, when earlier ones failed. */
  attempt?: number;
}

export async function readMetadata(workdir: string, uid: string): Promise<StoreMetadataJson> {
  return JSON.parse(await readFile(join(workdir, uid, 'metadata.json'), 'utf8')) as StoreMetadataJson;
}

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}
