/**
 * How an artifact is cut into chunks, computed the same way by server and
 * client from the artifact's info: an array in whole rows along axis 0, so
 * each chunk is an array of its own (shape `[rows, ...rest]`), decodable
 * without the others; any other file in plain byte ranges.
 */
import { RunGraphError } from '../../errors.js';
import { allocArray, type ArrayValue, type Dtype } from '../../values/npy.js';
import type { ArtifactInfo, ChunkLayout, ChunkSpan } from './types.js';

export const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;
/** Chunk sizes outside these bounds are refused: tiny ones flood the server with requests, huge ones its memory. */
export const MIN_CHUNK_BYTES = 4 * 1024;
export const MAX_CHUNK_BYTES = 256 * 1024 * 1024;

/** Check a chunk size taken from a user or a query string. */
export function checkChunkBytes(value: number): number {
  if (!Number.isSafeInteger(value) || value < MIN_CHUNK_BYTES || value > MAX_CHUNK_BYTES) {
    throw new RunGraphError(
      'E_USAGE',
      `chunk size must be an integer between ${MIN_CHUNK_BYTES} and ${MAX_CHUNK_BYTES} bytes, got ${String(value)}`,
      { value },
    );
  }
  return value;
}

/** The chunk layout of an artifact for a target chunk size. */
export function chunkLayout(artifact: ArtifactInfo, chunkBytes: number): ChunkLayout {
  const array = artifact.array;
  if (array === undefined) return { kind: 'bytes', chunkBytes, count: Math.ceil(artifact.size / chunkBytes) };
  // A row bigger than the target makes a chunk of one row: chunks never split a row.
  const rowsPerChunk = Math.max(1, Math.floor(chunkBytes / Math.max(1, array.rowBytes)));
  return {
    kind: 'rows',
    chunkBytes,
    rowsPerChunk,
    count: array.rowBytes === 0 ? 0 : Math.ceil(array.rows / rowsPerChunk),
  };
}

/** Where chunk `index` lies, or undefined when there is no such chunk. */
export function chunkSpan(artifact: ArtifactInfo, layout: ChunkLayout, index: number): ChunkSpan | undefined {
  if (!Number.isSafeInteger(index) || index < 0 || index >= layout.count) return undefined;
  const array = artifact.array;
  if (layout.kind === 'bytes' || array === undefined) {
    const start = index * layout.chunkBytes;
    return { index, start, end: Math.min(artifact.size, start + layout.chunkBytes) };
  }
  const perChunk = layout.rowsPerChunk ?? 1;
  const first = index * perChunk;
  const end = Math.min(array.rows, first + perChunk);
  const rest = (artifact.shape ?? []).slice(1);
  // A scalar (shape []) is one chunk of shape [].
  const shape = (artifact.shape ?? []).length === 0 ? [] : [end - first, ...rest];
  return {
    index,
    start: array.dataOffset + first * array.rowBytes,
    end: array.dataOffset + end * array.rowBytes,
    rows: [first, end],
    shape,
  };
}

/** The row layout of an array of this dtype and shape whose data starts at `dataOffset`. */
export function arrayLayout(
  shape: readonly number[],
  itemSize: number,
  dataOffset: number,
  littleEndian: boolean,
): NonNullable<ArtifactInfo['array']> {
  const rows = shape.length === 0 ? 1 : (shape[0] ?? 0);
  const rowBytes = shape.slice(1).reduce((n, d) => n * d, itemSize);
  return { dataOffset, littleEndian, itemSize, rows, rowBytes };
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverse the bytes of every item in place (for arrays stored in the other byte order). */
export function swapItemBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i + size <= bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a] as number;
      bytes[a] = bytes[b] as number;
      bytes[b] = t;
    }
  }
}

/**
 * A fresh, aligned array of `dtype` and `shape` and the bytes over its
 * storage: fill `bytes` with element data as stored, then call `finish` to
 * fix the byte order.
 */
export function arrayReceiver(
  dtype: Dtype,
  shape: number[],
  littleEndian: boolean,
  itemSize: number,
): { value: ArrayValue; bytes: Uint8Array; finish(): void } {
  const value = allocArray(dtype, shape);
  const bytes = new Uint8Array(value.data.buffer, value.data.byteOffset, value.data.byteLength);
  return {
    value,
    bytes,
    finish: () => {
      if (itemSize > 1 && littleEndian !== HOST_LITTLE_ENDIAN) swapItemBytes(bytes, itemSize);
    },
  };
}
