/**
 * Types of the values that flow along edges, known before anything runs so
 * that a wrong input type or shape is an error at validation, not hours into
 * a run. Arrays carry dtype and shape when they are known statically (`null`
 * where only the run can tell, as for an `.npy` a subprocess writes).
 */
import type { JsonValue } from '../identity/canonical-json.js';
import { RunGraphError, describeValue } from '../errors.js';
import {
  asFloat,
  exactInt64,
  isJsonNumber,
  numberValue,
  quoteNumber,
  type JsonNumber,
} from '../identity/json-numbers.js';
import { NumberList } from '../identity/number-list.js';
import { checkLiteralSize } from './memory-limit.js';
import { allocArray, elementCount, type ArrayValue, type Dtype } from './npy.js';

export type ValueType =
  { kind: 'array'; dtype: Dtype | null; shape: number[] | null } | { kind: 'json' } | { kind: 'file' };

/** Human-readable form of a type: `int64 array [2, 2]`, `file`, `JSON value`. */
export function describeType(type: ValueType): string {
  switch (type.kind) {
    case 'array': {
      const dtype = type.dtype ?? 'numeric';
      return type.shape === null ? `${dtype} array` : `${dtype} array [${type.shape.join(', ')}]`;
    }
    case 'json':
      return 'JSON value';
    case 'file':
      return 'file';
  }
}

/** The type of an array value. */
export function arrayType(value: ArrayValue): ValueType {
  return { kind: 'array', dtype: value.dtype, shape: [...value.shape] };
}

/** Where a literal came from, for error messages. */
export interface LiteralSite {
  /** The workflow file, so the error names it like every other check does. Default: none. */
  file?: string | undefined;
  node: string;
  field: string;
}

/** Where a nested list stops being rectangular, or holds an element the test refuses. `path` is relative (`[1][0]`). */
export type NestedListProblem =
  | { kind: 'element'; path: string; value: unknown }
  | { kind: 'ragged'; path: string; expected: number; value: unknown };

/**
 * Shape of a rectangular nested list whose every element passes `accepts`
 * (its depth is the depth of the first element's nesting), or the first
 * place where it is not. A bare element is a scalar (shape `[]`).
 */
export function findNestedShape(
  value: unknown,
  accepts: (element: unknown) => boolean,
): { shape: number[] } | { problem: NestedListProblem } {
  const shape: number[] = [];
  let level: unknown = value;
  while (Array.isArray(level)) {
    shape.push(level.length);
    if (level.length === 0) break;
    level = level[0];
  }
  const visit = (item: unknown, depth: number, path: string): NestedListProblem | undefined => {
    if (depth === shape.length) return accepts(item) ? undefined : { kind: 'element', path, value: item };
    const expected = shape[depth] ?? 0;
    if (!Array.isArray(item) || item.length !== expected) return { kind: 'ragged', path, expected, value: item };
    if (depth + 1 === shape.length) {
      // The innermost lists, which hold nearly every element: their paths are made only for a problem.
      for (let i = 0; i < item.length; i++)
        if (!accepts(item[i])) return { kind: 'element', path: `${path}[${i}]`, value: item[i] };
      return undefined;
    }
    for (let i = 0; i < item.length; i++) {
      const problem = visit(item[i], depth + 1, `${path}[${i}]`);
      if (problem !== undefined) return problem;
    }
    return undefined;
  };
  const problem = visit(value, 0, '');
  return problem === undefined ? { shape } : { problem };
}

/** "a list of length 3", or the value described: what a ragged place held. */
export function describeRaggedItem(value: unknown): string {
  return Array.isArray(value) ? `a list of length ${value.length}` : describeValue(value);
}

/**
 * Shape of a nested list of numbers (`number`, `bigint` or `JsonFloat`), or
 * an error naming the first ragged or non-numeric place. A bare number is a
 * scalar (shape `[]`).
 */
export function nestedListShape(value: unknown, site: LiteralSite): number[] {
  const found = findNestedShape(value, isJsonNumber);
  if ('shape' in found) {
    checkLiteralSize(elementCount(found.shape), site);
    return found.shape;
  }
  const { problem } = found;
  const field = `${site.field}${problem.path}`;
  const where = {
    ...(site.file === undefined ? {} : { file: site.file }),
    node: site.node,
    field,
    value: problem.value,
  };
  if (problem.kind === 'element') {
    throw new RunGraphError(
      'E_INPUT_TYPE',
      `expected a number at ${field}, got ${describeValue(problem.value)}`,
      where,
    );
  }
  throw new RunGraphError(
    'E_INPUT_SHAPE',
    `ragged nested list: expected a list of length ${problem.expected} at ${field}, got ${describeRaggedItem(problem.value)}`,
    {
      ...where,
      hint: 'every row of an array must have the same length',
    },
  );
}

function flatten(value: JsonValue, out: JsonNumber[]): void {
  if (Array.isArray(value)) for (const item of value) flatten(item, out);
  else out.push(value as JsonNumber);
}

/** `[1][0]`: where element `index` (in C order) of an array of `shape` is. */
function elementPath(index: number, shape: readonly number[]): string {
  let path = '';
  let rest = index;
  let stride = elementCount(shape);
  for (const dim of shape) {
    stride /= dim;
    path += `[${Math.floor(rest / stride)}]`;
    rest %= stride;
  }
  return path;
}

/**
 * Turn a nested list into an array of the given dtype. Integers must be
 * exact: an int64 element is an integer within int64 (a `bigint` past
 * 2^53); a value outside int64, or a float past 2^53 whose digits may be
 * rounded already, is an error quoting the number, never silently rounded.
 */
export function arrayFromNestedList(value: JsonValue, dtype: 'int64' | 'float64', site: LiteralSite): ArrayValue {
  const shape = nestedListShape(value, site);
  const array = allocArray(dtype, shape);
  convertElements(value, shape, dtype, site, array.data as BigInt64Array | Float64Array);
  return array;
}

/**
 * The checks of arrayFromNestedList without the array: every element exact
 * for its dtype, else the same error. Gives the shape.
 */
export function checkNestedList(value: JsonValue, dtype: 'int64' | 'float64', site: LiteralSite): number[] {
  const shape = nestedListShape(value, site);
  convertElements(value, shape, dtype, site, undefined);
  return shape;
}

/** Each element of a nested list of numbers, in C order, with its index. */
function forEachElement(value: JsonValue, visit: (element: JsonNumber, index: number) => void): void {
  let index = 0;
  const walk = (item: JsonValue): void => {
    if (Array.isArray(item)) for (let i = 0; i < item.length; i++) walk(item[i] as JsonValue);
    else visit(item as JsonNumber, index++);
  };
  walk(value);
}

/** Check each element of a nested list of `shape` for `dtype`, and write it to `out` if given. */
function convertElements(
  value: JsonValue,
  shape: readonly number[],
  dtype: 'int64' | 'float64',
  site: LiteralSite,
  out: BigInt64Array | Float64Array | undefined,
): void {
  const fail = (i: number, problem: string, element: JsonNumber, hint: string): never => {
    const at = elementPath(i, shape);
    const field = `${site.field}${at}`;
    throw new RunGraphError('E_INPUT_TYPE', `element ${at === '' ? '(the scalar)' : at} is ${problem}`, {
      ...(site.file === undefined ? {} : { file: site.file }),
      node: site.node,
      field,
      value: element,
      hint,
    });
  };
  if (dtype === 'int64') {
    const data = out as BigInt64Array | undefined;
    forEachElement(value, (n, i) => {
      const exact = exactInt64(n);
      if ('problem' in exact)
        return fail(
          i,
          `${quoteNumber(n)}, ${exact.problem}`,
          n,
          'Integer64 data must be whole numbers from -9223372036854775808 to 9223372036854775807; use scalems.Float64 for fractions',
        );
      if (data !== undefined) data[i] = exact.value;
    });
  } else {
    const data = out as Float64Array | undefined;
    forEachElement(value, (n, i) => {
      const x = numberValue(n);
      if (!Number.isFinite(x))
        fail(
          i,
          `${quoteNumber(n)}, which a float64 cannot hold`,
          n,
          'a float64 holds finite numbers up to about 1.8e308',
        );
      if (data !== undefined) data[i] = x;
    });
  }
}

/** Inferred type of a literal nested list: int64 if every element's value is an integer, else float64. */
export function literalArrayType(value: JsonValue, site: LiteralSite): ValueType & { kind: 'array' } {
  const shape = nestedListShape(value, site);
  const flat: JsonNumber[] = [];
  flatten(value, flat);
  const dtype = flat.every((n) => typeof n === 'bigint' || Number.isInteger(numberValue(n))) ? 'int64' : 'float64';
  return { kind: 'array', dtype, shape };
}

/**
 * A literal as a record writes it for a typed input: every number of a
 * float64 input a float (`1` becomes `1.0`), every number of an int64 input
 * an integer (`1.0` becomes `1`, past 2^53 a bigint). The input has passed
 * its check; anything that is not a number (a reference) is left as it is.
 */
export function literalAsWritten(value: JsonValue, dtype: 'int64' | 'float64'): JsonValue {
  // A kept list stands for its dtype already (see literalListsFor in workflow/assemble.ts).
  if (value instanceof NumberList) return value;
  if (Array.isArray(value)) {
    // Copied only where an element changes: a float64 literal of non-integral numbers is kept as it is.
    let out: JsonValue[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item = value[i] as JsonValue;
      const written = literalAsWritten(item, dtype);
      if (written !== item) {
        out ??= value.slice();
        out[i] = written;
      }
    }
    return out ?? value;
  }
  if (!isJsonNumber(value)) return value;
  if (dtype === 'float64') return asFloat(value);
  const exact = exactInt64(value);
  if ('problem' in exact) return value;
  return exact.value >= BigInt(Number.MIN_SAFE_INTEGER) && exact.value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(exact.value)
    : exact.value;
}

/**
 * The checks of checkNestedList for a literal list kept as text, which
 * stands for its dtype (NumberList.holds): only its size is checked, as
 * each of its numbers is known to fit the dtype. Gives the shape.
 */
export function checkNumberList(list: NumberList, site: LiteralSite): number[] {
  checkLiteralSize(list.length, site);
  return [list.length];
}

/** The array a kept literal list stands for, read straight from its text. */
export function arrayFromNumberList(list: NumberList): ArrayValue {
  const shape = [list.length];
  if (list.dtype === 'int64') return { dtype: 'int64', shape, data: list.int64() } as ArrayValue;
  return { dtype: 'float64', shape, data: list.float64() } as ArrayValue;
}

/** Convert an int64 or bool array to float64 (for mixed arithmetic). */
export function toFloat64(value: ArrayValue): ArrayValue<'float64'> {
  const out = allocArray('float64', value.shape);
  const n = elementCount(value.shape);
  for (let i = 0; i < n; i++) out.data[i] = Number(value.data[i]);
  return out;
}

/**
 * Plain nested-list form of an array (for previews and JSON output). Exact:
 * an int64 element past 2^53 stays a bigint (write it with formatJson).
 */
export function arrayToNestedList(value: ArrayValue): JsonValue {
  const flat = Array.from(value.data as ArrayLike<number | bigint>, (x) =>
    typeof x === 'bigint' && x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(x)
      : x,
  );
  if (value.shape.length === 0) return flat[0] ?? null;
  let offset = 0;
  const build = (depth: number): JsonValue => {
    const size = value.shape[depth] ?? 0;
    const out: JsonValue[] = [];
    for (let i = 0; i < size; i++) {
      if (depth === value.shape.length - 1) out.push(flat[offset++] ?? null);
      else out.push(build(depth + 1));
    }
    return out;
  };
  return build(0);
}
