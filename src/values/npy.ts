/**
 * NumPy `.npy` codec, so that arrays run-graph writes are read by
 * `numpy.load` and arrays users bring from Python are read here. Writes format
 * 1.0 (2.0 when the header needs it), little-endian, C order, header padded
 * to 64 bytes as NumPy does; reads formats 1.0 to 3.0 in either byte order.
 */
import { open } from 'node:fs/promises';
import { RunGraphError } from '../errors.js';

/** Element types run-graph arrays can hold. */
export type Dtype = 'int64' | 'float64' | 'bool' | 'int32' | 'float32' | 'uint8';

/** The typed array that holds each dtype's elements. */
export interface DtypeStorage {
  int64: BigInt64Array;
  float64: Float64Array;
  bool: Uint8Array;
  int32: Int32Array;
  float32: Float32Array;
  uint8: Uint8Array;
}

export type TypedArray = DtypeStorage[Dtype];

/** An n-dimensional array in C order. `shape` `[]` is a scalar (one element). */
export interface ArrayValue<D extends Dtype = Dtype> {
  dtype: D;
  shape: number[];
  data: DtypeStorage[D];
}

/** What an `.npy` header says, and where the data starts. */
export interface NpyHeader {
  dtype: Dtype;
  shape: number[];
  /** Byte offset of the first element. */
  dataOffset: number;
  /** Bytes of element data the header promises. */
  dataLength: number;
  littleEndian: boolean;
}

interface DtypeInfo {
  code: string;
  itemSize: number;
  make(buffer: ArrayBuffer, byteOffset: number, length: number): TypedArray;
  alloc(length: number): TypedArray;
}

const DTYPES: { [D in Dtype]: DtypeInfo } = {
  int64: { code: 'i8', itemSize: 8, make: (b, o, n) => new BigInt64Array(b, o, n), alloc: (n) => new BigInt64Array(n) },
  float64: { code: 'f8', itemSize: 8, make: (b, o, n) => new Float64Array(b, o, n), alloc: (n) => new Float64Array(n) },
  bool: { code: 'b1', itemSize: 1, make: (b, o, n) => new Uint8Array(b, o, n), alloc: (n) => new Uint8Array(n) },
  int32: { code: 'i4', itemSize: 4, make: (b, o, n) => new Int32Array(b, o, n), alloc: (n) => new Int32Array(n) },
  float32: { code: 'f4', itemSize: 4, make: (b, o, n) => new Float32Array(b, o, n), alloc: (n) => new Float32Array(n) },
  uint8: { code: 'u1', itemSize: 1, make: (b, o, n) => new Uint8Array(b, o, n), alloc: (n) => new Uint8Array(n) },
};

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const ALIGN = 64;

/** Bytes per element of a dtype. */
export function itemSize(dtype: Dtype): number {
  return DTYPES[dtype].itemSize;
}

/** NumPy's `descr` string for a dtype (`<i8`, `|b1`). */
export function dtypeDescr(dtype: Dtype): string {
  const info = DTYPES[dtype];
  return info.itemSize === 1 ? `|${info.code}` : `<${info.code}`;
}

/** Number of elements of a shape (1 for a scalar). */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** A zero-filled array of the given dtype and shape. */
export function allocArray<D extends Dtype>(dtype: D, shape: number[]): ArrayValue<D> {
  return { dtype, shape: [...shape], data: DTYPES[dtype].alloc(elementCount(shape)) as DtypeStorage[D] };
}

function formatShape(shape: readonly number[]): string {
  if (shape.length === 0) return '()';
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** The header bytes (magic, version, length, padded dict) for an array. */
export function encodeNpyHeader(dtype: Dtype, shape: readonly number[]): Buffer {
  const dict = `{'descr': '${dtypeDescr(dtype)}', 'fortran_order': False, 'shape': ${formatShape(shape)}, }`;
  // Version 1.0 stores the header length in 2 bytes; 2.0 in 4.
  let version = 1;
  let prefix = 10;
  let padded = Math.ceil((prefix + dict.length + 1) / ALIGN) * ALIGN;
  if (padded - prefix > 0xffff) {
    version = 2;
    prefix = 12;
    padded = Math.ceil((prefix + dict.length + 1) / ALIGN) * ALIGN;
  }
  const headerLength = padded - prefix;
  const out = Buffer.alloc(padded, 0x20);
  MAGIC.copy(out, 0);
  out[6] = version;
  out[7] = 0;
  if (version === 1) out.writeUInt16LE(headerLength, 8);
  else out.writeUInt32LE(headerLength, 8);
  out.write(dict, prefix, 'latin1');
  out[padded - 1] = 0x0a;
  return out;
}

/** The element bytes of an array, little-endian, as a view where possible. */
export function arrayBytes(value: ArrayValue): Uint8Array {
  const { data } = value;
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_LITTLE_ENDIAN || itemSize(value.dtype) === 1) return view;
  return swapBytes(view, itemSize(value.dtype));
}

function swapBytes(bytes: Uint8Array, size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) {
    for (let j = 0; j < size; j++) out[i + j] = bytes[i + size - 1 - j] ?? 0;
  }
  return out;
}

/**
 * A whole `.npy` file for an array, as its two parts: the header and the
 * element bytes (a view of the array's own memory where possible), so a
 * large array is written without a copy of it.
 */
export function npyParts(value: ArrayValue): [Buffer, Uint8Array] {
  const expected = elementCount(value.shape);
  if (value.data.length !== expected) {
    throw new RunGraphError(
      'E_NPY_FORMAT',
      `array of shape [${value.shape.join(', ')}] needs ${expected} elements, got ${value.data.length}`,
    );
  }
  return [encodeNpyHeader(value.dtype, value.shape), arrayBytes(value)];
}

/** A whole `.npy` file for an array. */
export function encodeNpy(value: ArrayValue): Buffer {
  return Buffer.concat(npyParts(value));
}

function npyError(message: string, source: string | undefined): RunGraphError {
  return new RunGraphError('E_NPY_FORMAT', source === undefined ? message : `${source}: ${message}`, {
    ...(source === undefined ? {} : { file: source }),
    hint: 'write it with numpy.save from a C-ordered array of a supported dtype (int64, float64, bool, int32, float32, uint8)',
  });
}

/** Parse the header at the start of `bytes` (which may hold only the header). */
export function parseNpyHeader(bytes: Uint8Array, source?: string): NpyHeader {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC))
    throw npyError('not an .npy file (bad magic bytes)', source);
  const major = buf[6];
  let headerLength: number;
  let prefix: number;
  if (major === 1) {
    headerLength = buf.readUInt16LE(8);
    prefix = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw npyError('truncated header', source);
    headerLength = buf.readUInt32LE(8);
    prefix = 12;
  } else {
    throw npyError(`unsupported .npy format version ${String(major)}`, source);
  }
  if (buf.length < prefix + headerLength) throw npyError('truncated header', source);
  const dict = buf.toString(major === 3 ? 'utf8' : 'latin1', prefix, prefix + headerLength);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(dict)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(dict)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(dict)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw npyError(`unreadable header ${JSON.stringify(dict.trim())}`, source);
  if (fortran === 'True') throw npyError('Fortran-ordered arrays are not supported', source);
  const order = descr[0];
  const code = descr.slice(1);
  const dtype = (Object.keys(DTYPES) as Dtype[]).find((d) => DTYPES[d].code === code);
  if (dtype === undefined || (order !== '<' && order !== '>' && order !== '|' && order !== '=')) {
    throw npyError(`unsupported dtype '${descr}'`, source);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number(s.replace(/L$/, '')));
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw npyError(`bad shape (${shapeText})`, source);
  return {
    dtype,
    shape,
    dataOffset: prefix + headerLength,
    dataLength: elementCount(shape) * itemSize(dtype),
    littleEndian: order !== '>' && !(order === '=' && !HOST_LITTLE_ENDIAN),
  };
}

/**
 * Decode a whole `.npy` file. The result owns a fresh, aligned copy of the
 * data, unless `owned` says the caller hands the bytes over (a buffer read
 * for this alone, shared with nothing): then, where the data is aligned
 * and in the host's byte order, the array is a view of them, so a large
 * file is not held twice.
 */
export function decodeNpy(bytes: Uint8Array, source?: string, options: { owned?: boolean } = {}): ArrayValue {
  const header = parseNpyHeader(bytes, source);
  const end = header.dataOffset + header.dataLength;
  if (bytes.length < end)
    throw npyError(
      `truncated: header promises ${header.dataLength} data bytes, file has ${bytes.length - header.dataOffset}`,
      source,
    );
  if (bytes.length > end) throw npyError(`${bytes.length - end} trailing bytes after the array data`, source);
  const size = itemSize(header.dtype);
  const view = bytes.subarray(header.dataOffset, end);
  const viewable = options.owned === true && view.byteOffset % size === 0 && header.littleEndian === HOST_LITTLE_ENDIAN;
  // Otherwise a copy, not `bytes.slice`: on a Buffer that is a view, which would share
  // memory with the caller and may sit at an offset the typed array rejects.
  let raw: Uint8Array = viewable ? view : new Uint8Array(view);
  if (size > 1 && header.littleEndian !== HOST_LITTLE_ENDIAN) raw = swapBytes(raw, size);
  const data = DTYPES[header.dtype].make(raw.buffer as ArrayBuffer, raw.byteOffset, elementCount(header.shape));
  return { dtype: header.dtype, shape: header.shape, data };
}

/** Read only the header of an `.npy` file on disk (cheap: for type checks before a run). */
export async function readNpyHeader(path: string): Promise<NpyHeader> {
  const handle = await open(path, 'r');
  try {
    const first = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(first, 0, first.length, 0);
    let bytes = first.subarray(0, bytesRead);
    // The header length is 2 bytes in format 1.0 (up to 65535) and 4 bytes in 2.0 and 3.0.
    const needed =
      bytesRead < 10
        ? 0
        : bytes[6] === 1
          ? 10 + bytes.readUInt16LE(8)
          : bytesRead >= 12
            ? 12 + bytes.readUInt32LE(8)
            : 0;
    if (needed > bytesRead) {
      const more = Buffer.alloc(needed);
      const { bytesRead: got } = await handle.read(more, 0, needed, 0);
      bytes = more.subarray(0, got);
    }
    return parseNpyHeader(bytes, path);
  } finally {
    await handle.close();
  }
}
