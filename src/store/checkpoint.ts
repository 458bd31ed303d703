/**
 * CheckpointFacility: the state a long operation publishes while it runs, so
 * that a run killed midway hands the operation its last state and it goes on
 * from there instead of from the start.
 *
 *     <store>/checkpoint/
 *       000041/  state.json, a0.npy, ...   the previous state
 *       000042/  state.json, a0.npy, ...   the latest state
 *
 * Each version is built in a staging directory, every file fsynced, and
 * renamed into place; the directory is fsynced; then all but the last two
 * versions are removed. A version directory exists only if it is complete, so
 * `load()` takes the highest one. State is JSON in which arrays may appear
 * anywhere; they are stored as `.npy` files beside `state.json`.
 */
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { JsonValue } from '../identity/canonical-json.js';
import { isJsonFloat } from '../identity/json-numbers.js';
import { RunGraphError } from '../errors.js';
import { decodeNpy, encodeNpy, type ArrayValue } from '../values/npy.js';
import { fsyncDirectory, writeFileDurable } from './durable.js';

export const CHECKPOINT_DIR = 'checkpoint';
const KEEP_VERSIONS = 2;
const VERSION_PATTERN = /^\d{6,}$/;

/** What a checkpoint holds: JSON values and arrays, nested freely. */
export type CheckpointState = JsonValue | ArrayValue | CheckpointState[] | { [key: string]: CheckpointState };

/** Published state of one concrete node. */
export interface CheckpointFacility {
  /** Publish `state` durably; when this resolves, a kill no longer loses it. */
  write(state: CheckpointState): Promise<void>;
  /** The last published state, or undefined if none was ever written. */
  load(): Promise<CheckpointState | undefined>;
}

const ARRAY_MARK = '$checkpointArray';

function isArrayValue(value: unknown): value is ArrayValue {
  return (
    typeof value === 'object' &&
    value !== null &&
    'dtype' in value &&
    'shape' in value &&
    'data' in value &&
    ArrayBuffer.isView((value as ArrayValue).data)
  );
}

/** Split a state into its JSON skeleton and the arrays it holds. */
function splitState(state: CheckpointState, arrays: ArrayValue[]): JsonValue {
  if (isArrayValue(state)) {
    arrays.push(state);
    return { [ARRAY_MARK]: `a${arrays.length - 1}.npy` };
  }
  if (Array.isArray(state)) return state.map((item) => splitState(item, arrays));
  if (typeof state === 'object' && state !== null) {
    const out: { [key: string]: JsonValue } = {};
    for (const [key, value] of Object.entries(state)) out[key] = splitState(value, arrays);
    return out;
  }
  return state;
}

async function joinState(skeleton: JsonValue, dir: string): Promise<CheckpointState> {
  if (Array.isArray(skeleton)) return Promise.all(skeleton.map((item) => joinState(item, dir)));
  if (typeof skeleton === 'object' && skeleton !== null && !isJsonFloat(skeleton)) {
    const file = skeleton[ARRAY_MARK];
    if (typeof file === 'string' && Object.keys(skeleton).length === 1)
      return decodeNpy(await readFile(join(dir, file)), join(dir, file));
    const out: { [key: string]: CheckpointState } = {};
    for (const [key, value] of Object.entries(skeleton)) out[key] = await joinState(value, dir);
    return out;
  }
  return skeleton;
}

async function versions(root: string): Promise<string[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  return names.filter((n) => VERSION_PATTERN.test(n)).sort();
}

/** The checkpoint facility of the store at `storeDir`. */
export function checkpointFacility(storeDir: string): CheckpointFacility {
  const root = join(storeDir, CHECKPOINT_DIR);
  let next: number | undefined;
  return {
    async write(state) {
      const arrays: ArrayValue[] = [];
      const skeleton = splitState(state, arrays);
      await mkdir(root, { recursive: true });
      const existing = await versions(root);
      next ??= existing.length === 0 ? 1 : Number(existing[existing.length - 1]) + 1;
      const name = String(next++).padStart(6, '0');
      const staging = join(root, `.staging-${name}`);
      await rm(staging, { recursive: true, force: true });
      await mkdir(staging);
      for (const [i, array] of arrays.entries()) await writeFileDurable(join(staging, `a${i}.npy`), encodeNpy(array));
      await writeFileDurable(join(staging, 'state.json'), JSON.stringify(skeleton));
      await fsyncDirectory(staging);
      await rename(staging, join(root, name));
      await fsyncDirectory(root);
      const all = await versions(root);
      for (const old of all.slice(0, Math.max(0, all.length - KEEP_VERSIONS)))
        await rm(join(root, old), { recursive: true, force: true });
    },
    async load() {
      const all = await versions(root);
      const latest = all[all.length - 1];
      if (latest === undefined) return undefined;
      const dir = join(root, latest);
      try {
        return await joinState(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as JsonValue, dir);
      } catch (error) {
        throw new RunGraphError('E_CORRUPT_STORE', `checkpoint ${dir} cannot be read: ${String(error)}`, {
          cause: error,
          hint: 'remove that checkpoint directory to fall back to the previous one',
        });
      }
    },
  };
}

/** The iteration or progress a store's checkpoints have reached, for `status`: the number of versions written. */
export async function latestCheckpointVersion(storeDir: string): Promise<number | undefined> {
  const all = await versions(join(storeDir, CHECKPOINT_DIR));
  const latest = all[all.length - 1];
  return latest === undefined ? undefined : Number(latest);
}
