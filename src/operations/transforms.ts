/**
 * Array transforms for building real pipelines: elementwise add and
 * multiply (equal shapes, or a scalar with anything), sum (all elements or
 * along an axis), and concatenate (along an axis). Integer arithmetic stays
 * int64 and wraps as NumPy's does; any float input makes the result float64.
 */
import type { JsonValue } from '../canonical-json.js';
import { RunGraphError } from '../errors.js';
import { allocArray, elementCount, type ArrayValue } from '../npy.js';
import { arrayFromNestedList, literalArrayType, toFloat64 } from '../values.js';
import { expectArray, expectFields, expectInteger, expectList, inputError, isIntegerDtype, promoteDtype, type ArrayType } from './check.js';
import { isInputRef, type CheckSite, type InputTree, type OperationDefinition, type ArtifactRef } from './operation.js';

/** The array an input holds at run time: a loaded upstream artifact or a literal list. */
async function resolveArray(value: InputTree<ArtifactRef> | undefined, field: string, label: string): Promise<ArrayValue> {
  if (value !== undefined && isInputRef(value)) return value.array();
  const site = { node: label, field };
  const literal = value as JsonValue;
  const { dtype } = literalArrayType(literal, site);
  return arrayFromNestedList(literal, dtype === 'int64' ? 'int64' : 'float64', site);
}

function isIntegerArray(value: ArrayValue): boolean {
  return isIntegerDtype(value.dtype);
}

function toInt64(value: ArrayValue): ArrayValue<'int64'> {
  if (value.dtype === 'int64') return value as ArrayValue<'int64'>;
  const out = allocArray('int64', value.shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = BigInt(value.data[i] as number);
  return out;
}

function shapesEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function formatShape(shape: readonly number[] | null): string {
  return shape === null ? '[?]' : `[${shape.join(', ')}]`;
}

/** Result shape of an elementwise operation, or null when unknown before the run. */
function broadcastShape(a: ArrayType, b: ArrayType, site: CheckSite): number[] | null {
  if (a.shape === null || b.shape === null) return null;
  if (a.shape.length === 0) return b.shape;
  if (b.shape.length === 0) return a.shape;
  if (!shapesEqual(a.shape, b.shape)) {
    throw new RunGraphError('E_INPUT_SHAPE', `shape of b ${formatShape(b.shape)} does not match shape of a ${formatShape(a.shape)}`, {
      ...(site.file === undefined ? {} : { file: site.file }),
      node: site.node,
      field: 'input.b',
      hint: 'elementwise operations take arrays of equal shape, or a scalar and an array',
    });
  }
  return a.shape;
}

function elementwise(name: 'Add' | 'Multiply', intOp: (x: bigint, y: bigint) => bigint, floatOp: (x: number, y: number) => number): OperationDefinition {
  return {
    namespace: 'run-graph',
    name,
    version: '1',
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
      const shape = broadcastShape({ kind: 'array', dtype: a.dtype, shape: a.shape }, { kind: 'array', dtype: b.dtype, shape: b.shape }, { file: undefined, node: context.label }) ?? a.shape;
      const n = elementCount(shape);
      const aScalar = a.shape.length === 0;
      const bScalar = b.shape.length === 0;
      if (isIntegerArray(a) && isIntegerArray(b)) {
        const x = toInt64(a).data;
        const y = toInt64(b).data;
        const out = allocArray('int64', shape);
        for (let i = 0; i < n; i++) out.data[i] = BigInt.asIntN(64, intOp(x[aScalar ? 0 : i] ?? 0n, y[bScalar ? 0 : i] ?? 0n));
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

export const add = elementwise('Add', (x, y) => x + y, (x, y) => x + y);
export const multiply = elementwise('Multiply', (x, y) => x * y, (x, y) => x * y);

function checkAxis(axis: number, rank: number | null, site: CheckSite): void {
  if (axis < 0 || (rank !== null && axis >= Math.max(rank, 1))) {
    throw inputError(site, 'input.axis', 'E_INPUT_SHAPE', `axis ${axis} is out of range for an array of rank ${rank ?? '?'}`, axis);
  }
}

/** `{"array": ..., "axis"?: k}`: the sum of all elements (a scalar) or along one axis. */
export const sum: OperationDefinition = {
  namespace: 'run-graph',
  name: 'Sum',
  version: '1',
  summary: 'sum of all elements of "array", or along "axis"',
  defaultOutput: 'result',
  check(input, site) {
    expectFields(input, site, ['array'], ['axis']);
    const array = expectArray(input['array'], site, 'input.array');
    const dtype = array.dtype === null ? null : isIntegerDtype(array.dtype) ? 'int64' : 'float64';
    if (input['axis'] === undefined) return { result: { kind: 'array', dtype, shape: [] } };
    const axis = expectInteger(input['axis'], site, 'input.axis');
    checkAxis(axis, array.shape?.length ?? null, site);
    return { result: { kind: 'array', dtype, shape: array.shape === null ? null : array.shape.filter((_, i) => i !== axis) } };
  },
  async run(input, context) {
    const array = await resolveArray(input['array'], 'input.array', context.label);
    const axisInput = input['axis'];
    const axis = typeof axisInput === 'number' ? axisInput : undefined;
    if (axis !== undefined) checkAxis(axis, array.shape.length, { file: undefined, node: context.label });
    const shape = axis === undefined ? [] : array.shape.filter((_, i) => i !== axis);
    // Element i of the input adds into output element outIndex(i).
    const inner = axis === undefined ? 1 : elementCount(array.shape.slice(axis + 1));
    const axisLength = axis === undefined ? 1 : (array.shape[axis] ?? 1);
    const outIndex = (i: number): number => (axis === undefined ? 0 : Math.floor(i / (inner * axisLength)) * inner + (i % inner));
    const n = array.data.length;
    if (isIntegerArray(array)) {
      const data = toInt64(array).data;
      const out = allocArray('int64', shape);
      for (let i = 0; i < n; i++) {
        const j = outIndex(i);
        out.data[j] = BigInt.asIntN(64, (out.data[j] ?? 0n) + (data[i] ?? 0n));
      }
      return { result: { kind: 'array', value: out } };
    }
    const data = toFloat64(array).data;
    const out = allocArray('float64', shape);
    for (let i = 0; i < n; i++) {
      const j = outIndex(i);
      out.data[j] = (out.data[j] ?? 0) + (data[i] ?? 0);
    }
    return { result: { kind: 'array', value: out } };
  },
};

function concatenatedShape(shapes: (number[] | null)[], axis: number, site: CheckSite): number[] | null {
  if (shapes.some((s) => s === null)) return null;
  const known = shapes as number[][];
  const first = known[0] ?? [];
  if (first.length === 0) throw inputError(site, 'input.arrays[0]', 'E_INPUT_SHAPE', 'cannot concatenate scalars (shape [])');
  checkAxis(axis, first.length, site);
  let total = 0;
  known.forEach((shape, k) => {
    const same = shape.length === first.length && shape.every((d, i) => i === axis || d === first[i]);
    if (!same) {
      throw inputError(site, `input.arrays[${k}]`, 'E_INPUT_SHAPE', `shape ${formatShape(shape)} does not match shape ${formatShape(first)} of arrays[0] outside axis ${axis}`);
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
  summary: 'the arrays of "arrays" joined along "axis" (default 0)',
  defaultOutput: 'result',
  check(input, site) {
    expectFields(input, site, ['arrays'], ['axis']);
    const list = expectList(input['arrays'], site, 'input.arrays');
    if (list.length === 0) throw inputError(site, 'input.arrays', 'E_INPUT_TYPE', 'needs at least one array');
    const types = list.map((item, k) => expectArray(item, site, `input.arrays[${k}]`));
    const axis = input['axis'] === undefined ? 0 : expectInteger(input['axis'], site, 'input.axis');
    const dtype = types.reduce<'int64' | 'float64' | null>((d, t) => (d === null ? null : promoteDtype({ kind: 'array', dtype: d, shape: null }, t)), 'int64');
    return { result: { kind: 'array', dtype, shape: concatenatedShape(types.map((t) => t.shape), axis, site) } };
  },
  async run(input, context) {
    const list = input['arrays'] as InputTree<ArtifactRef>[];
    const arrays = await Promise.all(list.map((item, k) => resolveArray(item, `input.arrays[${k}]`, context.label)));
    const axisInput = input['axis'];
    const axis = typeof axisInput === 'number' ? axisInput : 0;
    const site = { file: undefined, node: context.label };
    const shape = concatenatedShape(arrays.map((a) => a.shape), axis, site) ?? [];
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
