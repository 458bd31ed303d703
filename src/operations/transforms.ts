/**
 * Array transforms for building real pipelines: elementwise add and
 * multiply (equal shapes, or a scalar with anything) and concatenate (along
 * an axis). Reductions are in reductions.ts, ensemble helpers in
 * ensemble-ops.ts. Integer arithmetic stays
 * int64 and wraps as NumPy's does; any float input makes the result float64.
 */
import { RunGraphError } from '../errors.js';
import { allocArray, elementCount } from '../values/npy.js';
import { toFloat64 } from '../values/values.js';
import {
  checkAxis,
  formatShape,
  isIntegerArray,
  resolveArray,
  resolveArrays,
  shapesEqual,
  toInt64,
} from './array-helpers.js';
import {
  expectArray,
  expectFields,
  expectInteger,
  expectList,
  inputError,
  promoteDtype,
  type ArrayType,
} from './check.js';
import type { ArtifactRef, CheckSite, InputTree, OperationDefinition } from './operation.js';

/** Result shape of an elementwise operation, or null when unknown before the run. */
function broadcastShape(a: ArrayType, b: ArrayType, site: CheckSite): number[] | null {
  if (a.shape === null || b.shape === null) return null;
  if (a.shape.length === 0) return b.shape;
  if (b.shape.length === 0) return a.shape;
  if (!shapesEqual(a.shape, b.shape)) {
    throw new RunGraphError(
      'E_INPUT_SHAPE',
      `shape of b ${formatShape(b.shape)} does not match shape of a ${formatShape(a.shape)}`,
      {
        ...(site.file === undefined ? {} : { file: site.file }),
        node: site.node,
        field: 'input.b',
        hint: 'elementwise operations take arrays of equal shape, or a scalar and an array',
      },
    );
  }
  return a.shape;
}

function elementwise(
  name: 'Add' | 'Multiply',
  intOp: (x: bigint, y: bigint) => bigint,
  floatOp: (x: number, y: number) => number,
): OperationDefinition {
  return {
    namespace: 'run-graph',
    name,
    version: '1',
    module: import.meta.url,
    inlineSmallInputs: true,
    summary: `elementwise ${name.toLowerCase()} of arrays "a" and "b"`,
    defaultOutput: 'result',
    check(input, site) {
      expectFields(input, site, ['a', 'b']);
      const a = expectArray(input['a'], site, 'input.a');
      const b = expectArray(input['b'], site, 'input.b');
      return { result: { kind: 'array', dtype: promoteDtype(a, b), shape: broadcastShape(a, b, site) } };
    },
    async run(input, context) {
      const a = await resolveArray(input['a'], 'input.a', context.label);
      const b = await resolveArray(input['b'], 'input.b', context.label);
      const shape =
        broadcastShape(
          { kind: 'array', dtype: a.dtype, shape: a.shape },
          { kind: 'array', dtype: b.dtype, shape: b.shape },
          { file: undefined, node: context.label },
        ) ?? a.shape;
      const n = elementCount(shape);
      const aScalar = a.shape.length === 0;
      const bScalar = b.shape.length === 0;
      if (isIntegerArray(a) && isIntegerArray(b)) {
        const x = toInt64(a).data;
        const y = toInt64(b).data;
        const out = allocArray('int64', shape);
        for (let i = 0; i < n; i++)
          out.data[i] = BigInt.asIntN(64, intOp(x[aScalar ? 0 : i] ?? 0n, y[bScalar ? 0 : i] ?? 0n));
        return { result: { kind: 'array', value: out } };
      }
      const x = toFloat64(a).data;
      const y = toFloat64(b).data;
      const out = allocArray('float64', shape);
      for (let i = 0; i < n; i++) out.data[i] = floatOp(x[aScalar ? 0 : i] ?? 0, y[bScalar ? 0 : i] ?? 0);
      return { result: { kind: 'array', value: out } };
    },
  };
}

export const add = elementwise(
  'Add',
  (x, y) => x + y,
  (x, y) => x + y,
);
export const multiply = elementwise(
  'Multiply',
  (x, y) => x * y,
  (x, y) => x * y,
);

function concatenatedShape(shapes: (number[] | null)[], axis: number, site: CheckSite): number[] | null {
  if (shapes.some((s) => s === null)) return null;
  const known = shapes as number[][];
  const first = known[0] ?? [];
  if (first.length === 0)
    throw inputError(site, 'input.arrays[0]', 'E_INPUT_SHAPE', 'cannot concatenate scalars (shape [])');
  checkAxis(axis, first.length, site);
  let total = 0;
  known.forEach((shape, k) => {
    const same = shape.length === first.length && shape.every((d, i) => i === axis || d === first[i]);
    if (!same) {
      throw inputError(
        site,
        `input.arrays[${k}]`,
        'E_INPUT_SHAPE',
        `shape ${formatShape(shape)} does not match shape ${formatShape(first)} of arrays[0] outside axis ${axis}`,
      );
    }
    total += shape[axis] ?? 0;
  });
  return first.map((d, i) => (i === axis ? total : d));
}

/** `{"arrays": [a, b, ...], "axis"?: 0}`: the arrays joined along an axis (fan-in). */
export const concatenate: OperationDefinition = {
  namespace: 'run-graph',
  name: 'Concatenate',
  version: '1',
  module: import.meta.url,
  inlineSmallInputs: true,
  summary: 'the arrays of "arrays" joined along "axis" (default 0)',
  defaultOutput: 'result',
  check(input, site) {
    expectFields(input, site, ['arrays'], ['axis']);
    const list = expectList(input['arrays'], site, 'input.arrays');
    if (list.length === 0) throw inputError(site, 'input.arrays', 'E_INPUT_TYPE', 'needs at least one array');
    const types = list.map((item, k) => expectArray(item, site, `input.arrays[${k}]`));
    const axis = input['axis'] === undefined ? 0 : expectInteger(input['axis'], site, 'input.axis');
    const dtype = types.reduce<'int64' | 'float64' | null>(
      (d, t) => (d === null ? null : promoteDtype({ kind: 'array', dtype: d, shape: null }, t)),
      'int64',
    );
    return {
      result: {
        kind: 'array',
        dtype,
        shape: concatenatedShape(
          types.map((t) => t.shape),
          axis,
          site,
        ),
      },
    };
  },
  async run(input, context) {
    const list = input['arrays'] as InputTree<ArtifactRef>[];
    const arrays = await resolveArrays(list, 'input.arrays', context.label);
    const axisInput = input['axis'];
    const axis = typeof axisInput === 'number' ? axisInput : 0;
    const site = { file: undefined, node: context.label };
    const shape =
      concatenatedShape(
        arrays.map((a) => a.shape),
        axis,
        site,
      ) ?? [];
    const integer = arrays.every(isIntegerArray);
    const parts = arrays.map((a) => (integer ? toInt64(a) : toFloat64(a)));
    const out = allocArray(integer ? 'int64' : 'float64', shape);
    // Copy block by block: for each index of the dimensions before `axis`, each part contributes a contiguous run.
    const outer = elementCount(shape.slice(0, axis));
    let offset = 0;
    for (let o = 0; o < outer; o++) {
      for (const part of parts) {
        const block = elementCount(part.shape.slice(axis));
        const start = o * block;
        (out.data as Float64Array).set((part.data as Float64Array).subarray(start, start + block), offset);
        offset += block;
      }
    }
    return { result: { kind: 'array', value: out } };
  },
};
