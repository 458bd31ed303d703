/**
 * Streamed outputs: an operation written as an async generator yields array
 * chunks, and each chunk is written durably (temp file, fsync, rename,
 * directory fsync) before the next one is asked for:
 *
 *     <store>/stream/<output>/000000.npy, 000001.npy, ...
 *
 * A chunk file exists only if it is complete, so after a kill the chunks on
 * disk are exactly the durable ones, and a rerun asks the operation to
 * resume at the first missing chunk. On commit the chunk list, with each
 * chunk's size and sha256, becomes the output's artifact; consumers read it
 * chunk by chunk, or whole.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RunGraphError } from '../errors.js';
import { sha256Hex } from '../identity/fingerprint.js';
import { allocArray, decodeNpy, elementCount, encodeNpy, type ArrayValue } from '../values/npy.js';
import { fsyncDirectory, writeFileDurable } from './durable.js';
import type { ArtifactEntry } from './metadata.js';

export const STREAM_DIR = 'stream';

/** File name of chunk `index` in its stream's directory: `000042.npy`. */
export function chunkName(index: number): string {
  return `${String(index).padStart(6, '0')}.npy`;
}

/** Directory of an output's chunks, relative to the store. */
export function streamPath(output: string): string {
  return join(STREAM_DIR, output);
}

/** How many chunks of a stream are durable: the files 0..n-1 present without a gap. */
export async function durableChunkCount(storeDir: string, output: string): Promise<number> {
  const names = new Set(await readdir(join(storeDir, streamPath(output))).catch(() => [] as string[]));
  let count = 0;
  while (names.has(chunkName(count))) count++;
  return count;
}

/**
 * Write every chunk `chunks` yields, starting at index `start`, each durable
 * before the next is pulled; then describe the whole stream as an artifact.
 */
export async function writeStream(
  storeDir: string,
  output: string,
  chunks: AsyncIterable<ArrayValue>,
  start: number,
  signal: AbortSignal,
  label: string,
): Promise<ArtifactEntry> {
  const dir = join(storeDir, streamPath(output));
  await mkdir(dir, { recursive: true });
  let index = start;
  for await (const chunk of chunks) {
    await writeFileDurable(join(dir, chunkName(index)), encodeNpy(chunk));
    await fsyncDirectory(dir);
    index++;
    if (signal.aborted)
      throw new RunGraphError('E_INTERRUPTED', `interrupted after chunk ${index - 1} of stream '${output}'`, {
        node: label,
      });
  }
  return describeStream(storeDir, output, index, label);
}

/** The artifact of a finished stream of `count` chunks: every chunk's size and sha256, all of one dtype and row shape. */
async function describeStream(storeDir: string, output: string, count: number, label: string): Promise<ArtifactEntry> {
  const chunks: NonNullable<ArtifactEntry['chunks']> = [];
  const whole = createHash('sha256');
  let size = 0;
  let rows = 0;
  let first: ArrayValue | undefined;
  for (let i = 0; i < count; i++) {
    const path = join(streamPath(output), chunkName(i));
    const bytes = await readFile(join(storeDir, path));
    const array = decodeNpy(bytes, path);
    first ??= array;
    if (
      array.dtype !== first.dtype ||
      array.shape.length === 0 ||
      array.shape.slice(1).join() !== first.shape.slice(1).join()
    ) {
      throw new RunGraphError(
        'E_NODE_FAILED',
        `chunk ${i} of stream '${output}' is a ${array.dtype} array of shape [${array.shape.join(', ')}], unlike chunk 0 (${first.dtype} [${first.shape.join(', ')}]); chunks must share dtype and row shape`,
        { node: label },
      );
    }
    const sha256 = sha256Hex(bytes);
    chunks.push({ path, size: bytes.length, sha256, rows: array.shape[0] ?? 0 });
    whole.update(sha256);
    size += bytes.length;
    rows += array.shape[0] ?? 0;
  }
  return {
    path: streamPath(output),
    kind: 'stream',
    size,
    sha256: whole.digest('hex'),
    dtype: first?.dtype ?? 'float64',
    shape: [rows, ...(first?.shape.slice(1) ?? [])],
    chunks,
  };
}

/** Read a committed stream chunk by chunk, never holding more than one in memory. */
export async function* readStreamChunks(storeDir: string, entry: ArtifactEntry): AsyncGenerator<ArrayValue> {
  for (const chunk of entry.chunks ?? []) yield decodeNpy(await readFile(join(storeDir, chunk.path)), chunk.path);
}

/** A whole committed stream as one array (chunks joined along the leading axis). */
export async function readStreamWhole(storeDir: string, entry: ArtifactEntry): Promise<ArrayValue> {
  const out = allocArray(entry.dtype ?? 'float64', entry.shape ?? [0]);
  let offset = 0;
  for await (const chunk of readStreamChunks(storeDir, entry)) {
    (out.data as Float64Array).set(chunk.data as unknown as Float64Array, offset);
    offset += elementCount(chunk.shape);
  }
  return out;
}
