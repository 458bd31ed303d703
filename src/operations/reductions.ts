/**
 * Reductions of an array, over all elements (a scalar) or along one axis:
 * Sum and Max/Min keep integers exact in int64; Mean is float64. A NaN
 * makes Max and Min NaN, as in NumPy. With
 * `"axis": 0` over a gathered ensemble output they are the ensemble's
 * reduce step.
 */
import { allocArray, elementCount, type ArrayValue } from '../values/npy.js';
import { toFloat64 } from '../values/values.js';
import { checkAxis, isIntegerArray, resolveArray, toInt64 } from './array-helpers.js';
import { expectArray, expectFields, expectInteger, inputError, isIntegerDtype } from './check.js';
import type { OperationDefinition } from './operation.js';

interface Reducer {
  name: 'Sum' | 'Mean' | 'Max' | 'Min';
  verb: string;
  /** Integer inputs give an int64 result (else float64). */
  keepsIntegers: boolean;
  int?: { first: (x: bigint) => bigint; next: (acc: bigint, x: bigint) => bigint };
  float: {
    first: (x: number) => number;
    next: (acc: number, x: number) => number;
    finish?: (acc: number, count: number) => number;
  };
}

/** For each input element index, the output element it reduces into. */
function outputIndexer(shape: readonly number[], axis: number | undefined): (i: number) => number {
  if (axis === undefined) return () => 0;
  const inner = elementCount(shape.slice(axis + 1));
  const axisLength = shape[axis] ?? 1;
  return (i) => Math.floor(i / (inner * axisLength)) * inner + (i % inner);
}

function reduceArray(array: ArrayValue, axis: number | undefined, reducer: Reducer): ArrayValue {
  const shape = axis === undefined ? [] : array.shape.filter((_, i) => i !== axis);
  const outIndex = outputIndexer(array.shape, axis);
  const count = axis === undefined ? elementCount(array.shape) : (array.shape[axis] ?? 1);
  const seen = new Uint8Array(elementCount(shape));
  if (reducer.keepsIntegers && reducer.int !== undefined && isIntegerArray(array)) {
    const data = toInt64(array).data;
    const out = allocArray('int64', shape);
    for (let i = 0; i < data.length; i++) {
      const j = outIndex(i);
      const x = data[i] ?? 0n;
      out.data[j] = BigInt.asIntN(64, seen[j] === 1 ? reducer.int.next(out.data[j] ?? 0n, x) : reducer.int.first(x));
      seen[j] = 1;
    }
    return out;
  }
  const data = toFloat64(array).data;
  const out = allocArray('float64', shape);
  for (let i = 0; i < data.length; i++) {
    const j = outIndex(i);
    const x = data[i] ?? 0;
    out.data[j] = seen[j] === 1 ? reducer.float.next(out.data[j] ?? 0, x) : reducer.float.first(x);
    seen[j] = 1;
  }
  const finish = reducer.float.finish;
  if (finish !== undefined) for (let j = 0; j < out.data.length; j++) out.data[j] = finish(out.data[j] ?? 0, count);
  return out;
}

function reduction(reducer: Reducer): OperationDefinition {
  return {
    namespace: 'run-graph',
    name: reducer.name,
    version: '1',
    module: import.meta.url,
    inlineSmallInputs: true,
    summary: `${reducer.verb} of all elements of "array", or along "axis"`,
    defaultOutput: 'result',
    check(input, site) {
      expectFields(input, site, ['array'], ['axis']);
      const array = expectArray(input['array'], site, 'input.array');
      if (reducer.name !== 'Sum' && array.shape !== null && elementCount(array.shape) === 0) {
        throw inputError(site, 'input.array', 'E_INPUT_SHAPE', `the ${reducer.verb} of an empty array is undefined`);
      }
      const dtype =
        array.dtype === null ? null : reducer.keepsIntegers && isIntegerDtype(array.dtype) ? 'int64' : 'float64';
      if (input['axis'] === undefined) return { result: { kind: 'array', dtype, shape: [] } };
      const axis = expectInteger(input['axis'], site, 'input.axis');
      checkAxis(axis, array.shape?.length ?? null, site);
      return {
        result: { kind: 'array', dtype, shape: array.shape === null ? null : array.shape.filter((_, i) => i !== axis) },
      };
    },
    async run(input, context) {
      const array = await resolveArray(input['array'], 'input.array', context.label);
      const axis = typeof input['axis'] === 'number' ? input['axis'] : undefined;
      if (axis !== undefined) checkAxis(axis, array.shape.length, { file: undefined, node: context.label });
      return { result: { kind: 'array', value: reduceArray(array, axis, reducer) } };
    },
  };
}

export const sum = reduction({
  name: 'Sum',
  verb: 'sum',
  keepsIntegers: true,
  int: { first: (x) => x, next: (acc, x) => acc + x },
  float: { first: (x) => x, next: (acc, x) => acc + x },
});

export const mean = reduction({
  name: 'Mean',
  verb: 'mean',
  keepsIntegers: false,
  float: { first: (x) => x, next: (acc, x) => acc + x, finish: (acc, count) => acc / count },
});

export const max = reduction({
  name: 'Max',
  verb: 'maximum',
  keepsIntegers: true,
  int: { first: (x) => x, next: (acc, x) => (x > acc ? x : acc) },
  float: { first: (x) => x, next: (acc, x) => Math.max(acc, x) },
});

export const min = reduction({
  name: 'Min',
  verb: 'minimum',
  keepsIntegers: true,
  int: { first: (x) => x, next: (acc, x) => (x < acc ? x : acc) },
  float: { first: (x) => x, next: (acc, x) => Math.min(acc, x) },
});
