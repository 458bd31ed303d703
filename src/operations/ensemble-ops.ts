/**
 * Operations ensembles and loops are made of: Index takes one member out of
 * an array (a map over an array makes one per member), Stack gathers member
 * arrays along a new leading axis (a map's gathered output), and Compare and
 * All turn numbers into the boolean a loop condition needs.
 */
import { allocArray, elementCount, type ArrayValue } from '../values/npy.js';
import { toFloat64 } from '../values/values.js';
import { formatShape, isIntegerArray, resolveArray, resolveArrays, shapesEqual, toInt64 } from './array-helpers.js';
import {
  expectArray,
  expectFields,
  expectInteger,
  expectList,
  expectString,
  inputError,
  promoteDtype,
  type ArrayType,
} from './check.js';
import type { ArtifactRef, InputTree, OperationDefinition } from './operation.js';

/** `{"array": a, "index": i}`: `a[i]` along the leading axis. */
export const index: OperationDefinition = {
  namespace: 'run-graph',
  name: 'Index',
  version: '1',
  module: import.meta.url,
  inlineSmallInputs: true,
  summary: 'element "index" of "array" along its leading axis',
  defaultOutput: 'result',
  check(input, site) {
    expectFields(input, site, ['array', 'index']);
    const array = expectArray(input['array'], site, 'input.array');
    const i = expectInteger(input['index'], site, 'input.index');
    if (array.shape !== null && array.shape.length === 0)
      throw inputError(site, 'input.array', 'E_INPUT_SHAPE', 'cannot index a scalar');
    const length = array.shape?.[0];
    if (i < 0 || (length !== undefined && i >= length))
      throw inputError(
        site,
        'input.index',
        'E_INPUT_SHAPE',
        `index ${i} is out of range for a leading axis of ${length ?? '?'}`,
        i,
      );
    return { result: { kind: 'array', dtype: array.dtype, shape: array.shape === null ? null : array.shape.slice(1) } };
  },
  async run(input, context) {
    const array = await resolveArray(input['array'], 'input.array', context.label);
    const i = input['index'] as number;
    const block = elementCount(array.shape.slice(1));
    if (array.shape.length === 0 || i >= (array.shape[0] ?? 0))
      throw inputError(
        { file: undefined, node: context.label },
        'input.index',
        'E_INPUT_SHAPE',
        `index ${i} is out of range for shape ${formatShape(array.shape)}`,
      );
    const data = array.data.slice(i * block, (i + 1) * block);
    return {
      result: { kind: 'array', value: { dtype: array.dtype, shape: array.shape.slice(1), data } as ArrayValue },
    };
  },
};

/** `{"arrays": [a, b, ...]}`: the arrays, of equal shape, stacked along a new leading axis. */
export const stack: OperationDefinition = {
  namespace: 'run-graph',
  name: 'Stack',
  version: '1',
  module: import.meta.url,
  inlineSmallInputs: true,
  summary: 'arrays of equal shape stacked along a new leading axis (gathers an ensemble)',
  defaultOutput: 'result',
  check(input, site) {
    expectFields(input, site, ['arrays']);
    const list = expectList(input['arrays'], site, 'input.arrays');
    if (list.length === 0) throw inputError(site, 'input.arrays', 'E_INPUT_TYPE', 'needs at least one array');
    const types = list.map((item, k) => expectArray(item, site, `input.arrays[${k}]`));
    const first = types[0] as ArrayType;
    types.forEach((t, k) => {
      if (first.shape !== null && t.shape !== null && !shapesEqual(first.shape, t.shape)) {
        throw inputError(
          site,
          `input.arrays[${k}]`,
          'E_INPUT_SHAPE',
          `shape ${formatShape(t.shape)} differs from shape ${formatShape(first.shape)} of arrays[0]`,
        );
      }
    });
    const dtype = types.reduce<'int64' | 'float64' | null>(
      (d, t) => (d === null ? null : promoteDtype({ kind: 'array', dtype: d, shape: null }, t)),
      'int64',
    );
    const shape = types.every((t) => t.shape !== null) && first.shape !== null ? [list.length, ...first.shape] : null;
    return { result: { kind: 'array', dtype, shape } };
  },
  async run(input, context) {
    const list = input['arrays'] as InputTree<ArtifactRef>[];
    const arrays = await resolveArrays(list, 'input.arrays', context.label);
    const first = arrays[0] as ArrayValue;
    for (const [k, a] of arrays.entries()) {
      if (!shapesEqual(a.shape, first.shape))
        throw inputError(
          { file: undefined, node: context.label },
          `input.arrays[${k}]`,
          'E_INPUT_SHAPE',
          `shape ${formatShape(a.shape)} differs from ${formatShape(first.shape)}`,
        );
    }
    const integer = arrays.every(isIntegerArray);
    const out = allocArray(integer ? 'int64' : 'float64', [arrays.length, ...first.shape]);
    const block = elementCount(first.shape);
    arrays.forEach((a, k) =>
      (out.data as Float64Array).set((integer ? toInt64(a) : toFloat64(a)).data as unknown as Float64Array, k * block),
    );
    return { result: { kind: 'array', value: out } };
  },
};

const COMPARISONS: { [op: string]: (x: number, y: number) => boolean } = {
  lt: (x, y) => x < y,
  le: (x, y) => x <= y,
  gt: (x, y) => x > y,
  ge: (x, y) => x >= y,
  eq: (x, y) => x === y,
  ne: (x, y) => x !== y,
};

/** `{"a": ..., "b": ..., "op": "lt"}`: elementwise comparison, a bool array (b may be a scalar). */
export const compare: OperationDefinition = {
  namespace: 'run-graph',
  name: 'Compare',
  version: '1',
  module: import.meta.url,
  inlineSmallInputs: true,
  summary: 'elementwise a <op> b as a bool array; op is lt, le, gt, ge, eq or ne',
  defaultOutput: 'result',
  check(input, site) {
    expectFields(input, site, ['a', 'b', 'op']);
    const a = expectArray(input['a'], site, 'input.a');
    const b = expectArray(input['b'], site, 'input.b');
    const op = expectString(input['op'], site, 'input.op');
    if (!(op in COMPARISONS))
      throw inputError(
        site,
        'input.op',
        'E_INPUT_TYPE',
        `unknown comparison '${op}'; use one of ${Object.keys(COMPARISONS).join(', ')}`,
        op,
      );
    if (a.shape !== null && b.shape !== null && b.shape.length > 0 && !shapesEqual(a.shape, b.shape)) {
      throw inputError(
        site,
        'input.b',
        'E_INPUT_SHAPE',
        `shape of b ${formatShape(b.shape)} does not match shape of a ${formatShape(a.shape)}; b may also be a scalar`,
      );
    }
    return { result: { kind: 'array', dtype: 'bool', shape: a.shape } };
  },
  async run(input, context) {
    const a = toFloat64(await resolveArray(input['a'], 'input.a', context.label));
    const b = toFloat64(await resolveArray(input['b'], 'input.b', context.label));
    const test = COMPARISONS[input['op'] as string] as (x: number, y: number) => boolean;
    const out = allocArray('bool', a.shape);
    const scalar = b.shape.length === 0;
    for (let i = 0; i < out.data.length; i++) out.data[i] = test(a.data[i] ?? 0, b.data[scalar ? 0 : i] ?? 0) ? 1 : 0;
    return { result: { kind: 'array', value: out } };
  },
};

/** `{"array": ...}`: true when every element is non-zero (true for an empty array): a loop condition. */
export const all: OperationDefinition = {
  namespace: 'run-graph',
  name: 'All',
  version: '1',
  module: import.meta.url,
  inlineSmallInputs: true,
  summary: 'a bool scalar: whether every element of "array" is true (non-zero)',
  defaultOutput: 'result',
  check(input, site) {
    expectFields(input, site, ['array']);
    expectArray(input['array'], site, 'input.array');
    return { result: { kind: 'array', dtype: 'bool', shape: [] } };
  },
  async run(input, context) {
    const array = toFloat64(await resolveArray(input['array'], 'input.array', context.label));
    const out = allocArray('bool', []);
    out.data[0] = array.data.every((x) => x !== 0) ? 1 : 0;
    return { result: { kind: 'array', value: out } };
  },
};
