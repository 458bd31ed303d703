import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RunGraphError } from '../../src/errors.js';
import {
  allocArray,
  decodeNpy,
  dtypeDescr,
  elementCount,
  encodeNpy,
  encodeNpyHeader,
  itemSize,
  parseNpyHeader,
  readNpyHeader,
  type ArrayValue,
  type Dtype,
  type TypedArray,
} from '../../src/values/npy.js';

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'run-graph-npy-'));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/**
 * An .npy file built by hand from a header dict text, independent of encodeNpy.
 * `align` 64 pads like NumPy; `align` 1 leaves the header unpadded (still valid: NumPy reads it).
 */
function handBuiltNpy(dict: string, data: Uint8Array, options: { version?: number; align?: number } = {}): Uint8Array {
  const version = options.version ?? 1;
  const align = options.align ?? 64;
  const prefix = version === 1 ? 10 : 12;
  const unpadded = prefix + dict.length + 1;
  const total = Math.ceil(unpadded / align) * align;
  const header = new Uint8Array(total).fill(0x20);
  header.set(MAGIC, 0);
  header[6] = version;
  header[7] = 0;
  const view = new DataView(header.buffer);
  if (version === 1) view.setUint16(8, total - prefix, true);
  else view.setUint32(8, total - prefix, true);
  for (let i = 0; i < dict.length; i++) header[prefix + i] = dict.charCodeAt(i);
  header[total - 1] = 0x0a;
  const out = new Uint8Array(total + data.length);
  out.set(header, 0);
  out.set(data, total);
  return out;
}

function bigEndianInt64(values: bigint[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, v, false));
  return bytes;
}

function expectNpyError(fn: () => unknown, pattern?: RegExp): RunGraphError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RunGraphError);
    const e = error as RunGraphError;
    expect(e.code).toBe('E_NPY_FORMAT');
    if (pattern !== undefined) expect(e.message).toMatch(pattern);
    return e;
  }
  throw new Error('expected E_NPY_FORMAT, nothing was thrown');
}

/** Element-wise equality that tells NaN and -0 apart as NumPy's bytes do. */
function expectSameElements(actual: TypedArray, expected: TypedArray): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!Object.is(a, e)) throw new Error(`element ${i}: got ${String(a)}, expected ${String(e)}`);
  }
}

const SAMPLES: { [D in Dtype]: () => number[] | bigint[] } = {
  int64: () => [2n ** 62n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 9007199254740993n, -1n, 0n, 42n],
  float64: () => [NaN, -0, Infinity, -Infinity, 0.1, -1e300, 5e-324],
  bool: () => [1, 0, 1, 1, 0],
  int32: () => [-2147483648, 2147483647, 0, -1, 7],
  float32: () => [0.5, -1.25, 3.4028234663852886e38, NaN, -0, Infinity],
  uint8: () => [0, 255, 128, 1, 77],
};

function makeArray(dtype: Dtype, shape: number[]): ArrayValue {
  const array = allocArray(dtype, shape);
  const samples = SAMPLES[dtype]();
  for (let i = 0; i < array.data.length; i++) {
    (array.data as unknown as (number | bigint)[])[i] = samples[i % samples.length] as number | bigint;
  }
  return array;
}

const DTYPES: Dtype[] = ['int64', 'float64', 'bool', 'int32', 'float32', 'uint8'];
const SHAPES: number[][] = [[], [0], [5], [2, 3], [2, 3, 4]];
const STORAGE: { [D in Dtype]: new (length: number) => ArrayBufferView } = {
  int64: BigInt64Array,
  float64: Float64Array,
  bool: Uint8Array,
  int32: Int32Array,
  float32: Float32Array,
  uint8: Uint8Array,
};

describe('encodeNpy / decodeNpy round trip', () => {
  for (const dtype of DTYPES) {
    for (const shape of SHAPES) {
      it(`${dtype} shape [${shape.join(', ')}]`, () => {
        const array = makeArray(dtype, shape);
        const bytes = encodeNpy(array);
        expect(bytes.length).toBe(encodeNpyHeader(dtype, shape).length + elementCount(shape) * itemSize(dtype));
        const back = decodeNpy(bytes);
        expect(back.dtype).toBe(dtype);
        expect(back.shape).toEqual(shape);
        expect(back.data).toBeInstanceOf(STORAGE[dtype]);
        expectSameElements(back.data, array.data);
      });
    }
  }

  it('keeps int64 values beyond 2^53 exact', () => {
    const data = new BigInt64Array([2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n]);
    const back = decodeNpy(encodeNpy({ dtype: 'int64', shape: [3], data }));
    expect(Array.from(back.data as BigInt64Array)).toEqual([
      9007199254740993n,
      -9223372036854775808n,
      9223372036854775807n,
    ]);
  });

  it('keeps NaN, -0 and the infinities of float64', () => {
    const back = decodeNpy(
      encodeNpy({ dtype: 'float64', shape: [4], data: new Float64Array([NaN, -0, Infinity, -Infinity]) }),
    );
    const values = Array.from(back.data as Float64Array);
    expect(Number.isNaN(values[0])).toBe(true);
    expect(Object.is(values[1], -0)).toBe(true);
    expect(values.slice(2)).toEqual([Infinity, -Infinity]);
  });

  it('writes element bytes little-endian', () => {
    const bytes = encodeNpy({ dtype: 'int32', shape: [1], data: new Int32Array([0x01020304]) });
    expect(Array.from(bytes.subarray(bytes.length - 4))).toEqual([0x04, 0x03, 0x02, 0x01]);
  });

  it('the decoded array owns its data: changing the source bytes afterwards changes nothing', () => {
    const encoded = encodeNpy({ dtype: 'float64', shape: [2], data: new Float64Array([1, 2]) });
    const back = decodeNpy(encoded);
    encoded.fill(0xff, encoded.length - 16);
    expect(Array.from(back.data as Float64Array)).toEqual([1, 2]);
    expect(back.data.byteOffset).toBe(0);
    expect(back.data.buffer.byteLength).toBe(16);
  });

  it('decodes from a Buffer view at an offset that is not a multiple of 8', () => {
    const encoded = encodeNpy({ dtype: 'int64', shape: [2], data: new BigInt64Array([5n, -6n]) });
    const host = Buffer.alloc(encoded.length + 3);
    encoded.copy(host, 3);
    const back = decodeNpy(host.subarray(3));
    expect(Array.from(back.data as BigInt64Array)).toEqual([5n, -6n]);
  });

  it('decodes a file whose data offset is not a multiple of the element size', () => {
    const dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
    const data = new Uint8Array(new Float64Array([1.5, -2.5]).buffer);
    const file = Buffer.from(handBuiltNpy(dict, data, { align: 1 }));
    expect((10 + dict.length + 1) % 8).not.toBe(0);
    expect(Array.from(decodeNpy(file).data as Float64Array)).toEqual([1.5, -2.5]);
  });

  it('refuses to encode data whose length does not match the shape', () => {
    expectNpyError(
      () => encodeNpy({ dtype: 'int32', shape: [2, 2], data: new Int32Array(3) }),
      /needs 4 elements, got 3/,
    );
  });
});

describe('encodeNpyHeader', () => {
  function headerDict(header: Uint8Array): string {
    const length = new DataView(header.buffer, header.byteOffset).getUint16(8, true);
    return Buffer.from(header.subarray(10, 10 + length)).toString('latin1');
  }

  it("writes NumPy's dict text for a 2-d shape", () => {
    const header = encodeNpyHeader('int64', [2, 3]);
    expect(headerDict(header).trimEnd()).toBe("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }");
  });

  it('writes a 1-d shape with a trailing comma and a scalar as ()', () => {
    expect(headerDict(encodeNpyHeader('float64', [5])).trimEnd()).toBe(
      "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }",
    );
    expect(headerDict(encodeNpyHeader('float64', [])).trimEnd()).toBe(
      "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
    );
  });

  it('uses the descr NumPy uses for each dtype', () => {
    const expected: { [D in Dtype]: string } = {
      int64: '<i8',
      float64: '<f8',
      bool: '|b1',
      int32: '<i4',
      float32: '<f4',
      uint8: '|u1',
    };
    for (const dtype of DTYPES) {
      expect(dtypeDescr(dtype)).toBe(expected[dtype]);
      expect(headerDict(encodeNpyHeader(dtype, [1]))).toContain(`'descr': '${expected[dtype]}'`);
    }
  });

  it('starts with the magic and version 1.0, pads with spaces to a multiple of 64, ends with a newline', () => {
    for (const shape of [[], [5], [2, 3], [123456789, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]]) {
      const header = encodeNpyHeader('float32', shape);
      expect(Array.from(header.subarray(0, 6))).toEqual(MAGIC);
      expect([header[6], header[7]]).toEqual([1, 0]);
      expect(header.length % 64).toBe(0);
      const length = new DataView(header.buffer, header.byteOffset).getUint16(8, true);
      expect(10 + length).toBe(header.length);
      expect(header[header.length - 1]).toBe(0x0a);
      const dict = headerDict(header);
      expect(dict.trimEnd().endsWith('}')).toBe(true);
      expect(dict.slice(dict.trimEnd().length, -1)).toMatch(/^ *$/);
    }
  });

  it('switches to format 2.0 (4-byte length) when the header does not fit in 65535 bytes', () => {
    const shape = new Array<number>(25_000).fill(1);
    const header = encodeNpyHeader('uint8', shape);
    expect(header[6]).toBe(2);
    expect(header.length % 64).toBe(0);
    expect(12 + new DataView(header.buffer, header.byteOffset).getUint32(8, true)).toBe(header.length);
    const parsed = parseNpyHeader(header);
    expect(parsed.shape).toHaveLength(25_000);
    expect(parsed.dataOffset).toBe(header.length);
  });
});

describe('parseNpyHeader / decodeNpy on hand-built files', () => {
  it('reports dtype, shape, data offset and length', () => {
    const file = handBuiltNpy("{'descr': '<i4', 'fortran_order': False, 'shape': (3, 2), }", new Uint8Array(24));
    const header = parseNpyHeader(file);
    expect(header).toEqual({
      dtype: 'int32',
      shape: [3, 2],
      dataOffset: file.length - 24,
      dataLength: 24,
      littleEndian: true,
    });
    expect(header.dataOffset % 64).toBe(0);
  });

  it("decodes a big-endian '>i8' file", () => {
    const values = [1n, -2n, 2n ** 40n + 5n, -(2n ** 63n), 2n ** 62n + 3n, 255n];
    const file = handBuiltNpy("{'descr': '>i8', 'fortran_order': False, 'shape': (2, 3), }", bigEndianInt64(values));
    expect(parseNpyHeader(file).littleEndian).toBe(false);
    const array = decodeNpy(file);
    expect(array.dtype).toBe('int64');
    expect(array.shape).toEqual([2, 3]);
    expect(Array.from(array.data as BigInt64Array)).toEqual(values);
  });

  it("decodes a big-endian '>f8' file", () => {
    const bytes = new Uint8Array(16);
    const view = new DataView(bytes.buffer);
    view.setFloat64(0, 1.5, false);
    view.setFloat64(8, -1e-300, false);
    const array = decodeNpy(handBuiltNpy("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", bytes));
    expect(Array.from(array.data as Float64Array)).toEqual([1.5, -1e-300]);
  });

  it('reads a format 2.0 header', () => {
    const data = new Uint8Array(new Int32Array([7, -8]).buffer);
    const file = handBuiltNpy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", data, { version: 2 });
    expect(parseNpyHeader(file).dataOffset).toBe(file.length - 8);
    expect(Array.from(decodeNpy(file).data as Int32Array)).toEqual([7, -8]);
  });

  it('accepts Python 2 long suffixes in the shape and dict keys in any order', () => {
    const file = handBuiltNpy("{'shape': (2L, 1L), 'fortran_order': False, 'descr': '|u1'}", new Uint8Array([3, 4]));
    const array = decodeNpy(file);
    expect(array.dtype).toBe('uint8');
    expect(array.shape).toEqual([2, 1]);
    expect(Array.from(array.data as Uint8Array)).toEqual([3, 4]);
  });

  it('rejects bad magic bytes', () => {
    const file = encodeNpy(makeArray('int64', [2]));
    file[1] = 0x4f;
    expectNpyError(() => decodeNpy(file), /bad magic/);
  });

  it('rejects a file shorter than the fixed prefix', () => {
    expectNpyError(() => decodeNpy(new Uint8Array([0x93, 0x4e, 0x55])), /bad magic/);
  });

  it('rejects a truncated header', () => {
    const file = encodeNpy(makeArray('int64', [2]));
    expectNpyError(() => parseNpyHeader(file.subarray(0, 40)), /truncated header/);
  });

  it('rejects truncated data', () => {
    const file = encodeNpy(makeArray('int64', [2, 3]));
    expectNpyError(() => decodeNpy(file.subarray(0, file.length - 1)), /truncated/);
  });

  it('rejects trailing bytes after the data', () => {
    const file = encodeNpy(makeArray('uint8', [4]));
    expectNpyError(() => decodeNpy(Buffer.concat([file, Buffer.from([0])])), /1 trailing bytes/);
  });

  it('rejects Fortran order', () => {
    const file = handBuiltNpy("{'descr': '<i8', 'fortran_order': True, 'shape': (2, 2), }", new Uint8Array(32));
    expectNpyError(() => decodeNpy(file), /Fortran/);
  });

  for (const descr of ['<c16', '<i2', '|i1', '<U5', '|O', '<M8[s]', '^i8']) {
    it(`rejects the unsupported dtype '${descr}'`, () => {
      const file = handBuiltNpy(`{'descr': '${descr}', 'fortran_order': False, 'shape': (1,), }`, new Uint8Array(16));
      expectNpyError(() => decodeNpy(file), /unsupported dtype/);
    });
  }

  it('rejects an unknown format version', () => {
    const file = encodeNpy(makeArray('int64', [1]));
    file[6] = 4;
    expectNpyError(() => decodeNpy(file), /version 4/);
  });

  it('rejects a header without the required keys, and a bad shape', () => {
    expectNpyError(
      () => decodeNpy(handBuiltNpy("{'descr': '<i8', 'shape': (1,), }", new Uint8Array(8))),
      /unreadable header/,
    );
    expectNpyError(
      () => decodeNpy(handBuiltNpy("{'descr': '<i8', 'fortran_order': False, 'shape': (2, x), }", new Uint8Array(8))),
      /bad shape/,
    );
    expectNpyError(
      () => decodeNpy(handBuiltNpy("{'descr': '<i8', 'fortran_order': False, 'shape': (-1,), }", new Uint8Array(8))),
      /bad shape/,
    );
  });

  it('names the source file in the message and the error location', () => {
    const error = expectNpyError(() => decodeNpy(new Uint8Array(12), 'data/x.npy'));
    expect(error.message.startsWith('data/x.npy: ')).toBe(true);
    expect(error.location.file).toBe('data/x.npy');
  });
});

describe('readNpyHeader', () => {
  it('reads the header of a file on disk', async () => {
    const dir = tempDir();
    const path = join(dir, 'a.npy');
    const array = makeArray('float32', [2, 3, 4]);
    writeFileSync(path, encodeNpy(array));
    const header = await readNpyHeader(path);
    expect(header).toEqual(parseNpyHeader(readFileSync(path)));
    expect(header).toMatchObject({
      dtype: 'float32',
      shape: [2, 3, 4],
      dataOffset: 128,
      dataLength: 96,
      littleEndian: true,
    });
  });

  it('reads a format 1.0 header longer than 4 KiB', async () => {
    // Valid: format 1.0 allows headers up to 65535 bytes, and NumPy reads padded headers.
    const dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }" + ' '.repeat(5000);
    const file = handBuiltNpy(dict, bigEndianInt64([0n, 0n]));
    expect(parseNpyHeader(file).dataOffset).toBeGreaterThan(4096);
    const path = join(tempDir(), 'long-header.npy');
    writeFileSync(path, file);
    const header = await readNpyHeader(path);
    expect(header.dtype).toBe('int64');
    expect(header.shape).toEqual([2]);
    expect(header.dataOffset).toBe(file.length - 16);
  });

  it('reads a format 2.0 header longer than 4 KiB', async () => {
    const dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }" + ' '.repeat(70_000);
    const file = handBuiltNpy(dict, new Uint8Array(4), { version: 2 });
    const path = join(tempDir(), 'v2.npy');
    writeFileSync(path, file);
    expect((await readNpyHeader(path)).dataOffset).toBe(file.length - 4);
  });

  it('rejects a file cut inside its header with E_NPY_FORMAT naming the path', async () => {
    const dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }" + ' '.repeat(5000);
    const file = handBuiltNpy(dict, new Uint8Array(16));
    const path = join(tempDir(), 'cut.npy');
    writeFileSync(path, file.subarray(0, 4500));
    await expect(readNpyHeader(path)).rejects.toMatchObject({ code: 'E_NPY_FORMAT', location: { file: path } });
  });

  it('rejects a file that is not .npy', async () => {
    const path = join(tempDir(), 'text.npy');
    writeFileSync(path, 'just some text, long enough to pass the length check');
    await expect(readNpyHeader(path)).rejects.toMatchObject({ code: 'E_NPY_FORMAT' });
  });
});

describe('elementCount / itemSize', () => {
  it('counts elements, a scalar as one', () => {
    expect(elementCount([])).toBe(1);
    expect(elementCount([0])).toBe(0);
    expect(elementCount([2, 0, 3])).toBe(0);
    expect(elementCount([2, 3, 4])).toBe(24);
  });

  it('knows the item sizes', () => {
    expect(DTYPES.map(itemSize)).toEqual([8, 8, 1, 4, 4, 1]);
  });
});

function python(script: string, args: string[]): string {
  const result = spawnSync('python3', ['-c', script, ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`python3 failed: ${result.stderr}`);
  return result.stdout;
}

describe.skipIf(!hasNumpy)('NumPy interop', () => {
  it('numpy.load reads what encodeNpy writes', () => {
    const dir = tempDir();
    const arrays: Record<string, ArrayValue> = {
      int64: {
        dtype: 'int64',
        shape: [2, 3],
        data: new BigInt64Array([2n ** 62n + 1n, -(2n ** 63n), 2n ** 63n - 1n, 9007199254740993n, -1n, 0n]),
      },
      float64: { dtype: 'float64', shape: [6], data: new Float64Array([NaN, -0, Infinity, -Infinity, 0.1, 1e-300]) },
      bool: { dtype: 'bool', shape: [3], data: new Uint8Array([1, 0, 1]) },
      int32: { dtype: 'int32', shape: [2, 2], data: new Int32Array([-2147483648, 2147483647, 0, -5]) },
      float32: { dtype: 'float32', shape: [3], data: new Float32Array([0.5, -1.25, 3]) },
      uint8: { dtype: 'uint8', shape: [2, 1, 2], data: new Uint8Array([0, 255, 128, 1]) },
      scalar: { dtype: 'int64', shape: [], data: new BigInt64Array([7n]) },
      empty: { dtype: 'float64', shape: [0], data: new Float64Array(0) },
      cube: { dtype: 'int32', shape: [2, 3, 4], data: Int32Array.from({ length: 24 }, (_, i) => i) },
    };
    for (const [name, array] of Object.entries(arrays)) writeFileSync(join(dir, `${name}.npy`), encodeNpy(array));
    const script = [
      'import json, sys, os, numpy as np',
      'out = {}',
      'for name in sys.argv[2:]:',
      '    a = np.load(os.path.join(sys.argv[1], name + ".npy"), allow_pickle=False)',
      '    out[name] = {"dtype": str(a.dtype), "shape": list(a.shape), "values": [repr(x) for x in np.ravel(a).tolist()]}',
      'print(json.dumps(out))',
    ].join('\n');
    const seen = JSON.parse(python(script, [dir, ...Object.keys(arrays)])) as Record<
      string,
      { dtype: string; shape: number[]; values: string[] }
    >;
    expect(seen['int64']).toEqual({
      dtype: 'int64',
      shape: [2, 3],
      values: ['4611686018427387905', '-9223372036854775808', '9223372036854775807', '9007199254740993', '-1', '0'],
    });
    expect(seen['float64']).toEqual({
      dtype: 'float64',
      shape: [6],
      values: ['nan', '-0.0', 'inf', '-inf', '0.1', '1e-300'],
    });
    expect(seen['bool']).toEqual({ dtype: 'bool', shape: [3], values: ['True', 'False', 'True'] });
    expect(seen['int32']).toEqual({ dtype: 'int32', shape: [2, 2], values: ['-2147483648', '2147483647', '0', '-5'] });
    expect(seen['float32']).toEqual({ dtype: 'float32', shape: [3], values: ['0.5', '-1.25', '3.0'] });
    expect(seen['uint8']).toEqual({ dtype: 'uint8', shape: [2, 1, 2], values: ['0', '255', '128', '1'] });
    expect(seen['scalar']).toEqual({ dtype: 'int64', shape: [], values: ['7'] });
    expect(seen['empty']).toEqual({ dtype: 'float64', shape: [0], values: [] });
    expect(seen['cube']).toEqual({
      dtype: 'int32',
      shape: [2, 3, 4],
      values: Array.from({ length: 24 }, (_, i) => String(i)),
    });
  });

  it("encodeNpyHeader's dict is the one numpy.save writes", () => {
    const dir = tempDir();
    const script = [
      'import sys, os, numpy as np',
      'd = sys.argv[1]',
      'np.save(os.path.join(d, "a.npy"), np.zeros((2, 3), dtype="<i8"))',
      'np.save(os.path.join(d, "b.npy"), np.zeros((5,), dtype="<f4"))',
      'np.save(os.path.join(d, "c.npy"), np.array(True))',
    ].join('\n');
    python(script, [dir]);
    const cases: [string, Dtype, number[]][] = [
      ['a', 'int64', [2, 3]],
      ['b', 'float32', [5]],
      ['c', 'bool', []],
    ];
    for (const [name, dtype, shape] of cases) {
      const theirs = readFileSync(join(dir, `${name}.npy`));
      const theirLength = theirs.readUInt16LE(8);
      const ours = encodeNpyHeader(dtype, shape);
      expect(ours.toString('latin1', 10, ours.length).trimEnd()).toBe(
        theirs.toString('latin1', 10, 10 + theirLength).trimEnd(),
      );
      expect((10 + theirLength) % 64).toBe(0);
    }
  });

  it('decodeNpy reads what numpy.save writes', () => {
    const dir = tempDir();
    const script = [
      'import sys, os, numpy as np',
      'd = sys.argv[1]',
      'save = lambda name, a: np.save(os.path.join(d, name + ".npy"), a)',
      'save("int64", np.array([[1, -2, 2**62 + 1], [-(2**63), 2**63 - 1, 0]], dtype="<i8"))',
      'save("float64", np.array([np.nan, -0.0, np.inf, -np.inf, 0.1]))',
      'save("bool", np.array([True, False, True]))',
      'save("cube", np.arange(24, dtype=np.int32).reshape(2, 3, 4))',
      'save("big_i8", np.array([1, 256, -3, 2**40], dtype=">i8"))',
      'save("big_f8", np.array([[1.5], [-2.25]], dtype=">f8"))',
      'save("uint8", np.arange(250, 256, dtype=np.uint8))',
      'save("float32", np.array([0.5, -1.5], dtype=np.float32))',
      'save("scalar", np.array(7, dtype=np.int64))',
      'save("empty", np.zeros((0, 3)))',
      'save("fortran", np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3)))',
      'save("complex", np.array([1 + 2j]))',
    ].join('\n');
    python(script, [dir]);
    const load = (name: string): ArrayValue => decodeNpy(readFileSync(join(dir, `${name}.npy`)), `${name}.npy`);

    const int64 = load('int64');
    expect([int64.dtype, int64.shape]).toEqual(['int64', [2, 3]]);
    expect(Array.from(int64.data as BigInt64Array)).toEqual([
      1n,
      -2n,
      2n ** 62n + 1n,
      -(2n ** 63n),
      2n ** 63n - 1n,
      0n,
    ]);

    const float64 = load('float64');
    expect([float64.dtype, float64.shape]).toEqual(['float64', [5]]);
    const f = Array.from(float64.data as Float64Array);
    expect(Number.isNaN(f[0])).toBe(true);
    expect(Object.is(f[1], -0)).toBe(true);
    expect(f.slice(2)).toEqual([Infinity, -Infinity, 0.1]);

    const bool = load('bool');
    expect([bool.dtype, bool.shape, Array.from(bool.data as Uint8Array)]).toEqual(['bool', [3], [1, 0, 1]]);

    const cube = load('cube');
    expect([cube.dtype, cube.shape]).toEqual(['int32', [2, 3, 4]]);
    expect(Array.from(cube.data as Int32Array)).toEqual(Array.from({ length: 24 }, (_, i) => i));

    const bigInt = load('big_i8');
    expect([bigInt.dtype, bigInt.shape]).toEqual(['int64', [4]]);
    expect(Array.from(bigInt.data as BigInt64Array)).toEqual([1n, 256n, -3n, 2n ** 40n]);

    const bigFloat = load('big_f8');
    expect([bigFloat.dtype, bigFloat.shape, Array.from(bigFloat.data as Float64Array)]).toEqual([
      'float64',
      [2, 1],
      [1.5, -2.25],
    ]);

    const uint8 = load('uint8');
    expect([uint8.dtype, Array.from(uint8.data as Uint8Array)]).toEqual(['uint8', [250, 251, 252, 253, 254, 255]]);

    const float32 = load('float32');
    expect([float32.dtype, Array.from(float32.data as Float32Array)]).toEqual(['float32', [0.5, -1.5]]);

    const scalar = load('scalar');
    expect([scalar.dtype, scalar.shape, Array.from(scalar.data as BigInt64Array)]).toEqual(['int64', [], [7n]]);

    const empty = load('empty');
    expect([empty.dtype, empty.shape, empty.data.length]).toEqual(['float64', [0, 3], 0]);

    expectNpyError(() => load('fortran'), /Fortran/);
    expectNpyError(() => load('complex'), /unsupported dtype '<c16'/);
  });

  it('NumPy reads a format 1.0 file with a header longer than 4 KiB (so readNpyHeader must too)', () => {
    const dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }" + ' '.repeat(5000);
    const path = join(tempDir(), 'long.npy');
    writeFileSync(path, handBuiltNpy(dict, new Uint8Array(new Int32Array([3, -4]).buffer)));
    const out = python('import sys, numpy as np; print(np.load(sys.argv[1]).tolist())', [path]);
    expect(out.trim()).toBe('[3, -4]');
  });
});
