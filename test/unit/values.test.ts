import { describe, expect, it } from 'vitest';
import { canonicalJson, type JsonValue } from '../../src/identity/canonical-json.js';
import { JsonFloat } from '../../src/identity/json-numbers.js';
import { RunGraphError } from '../../src/errors.js';
import type { ArrayValue } from '../../src/values/npy.js';
import {
  arrayFromNestedList,
  arrayToNestedList,
  arrayType,
  describeType,
  literalArrayType,
  literalAsWritten,
  nestedListShape,
  toFloat64,
} from '../../src/values/values.js';

const site = { node: 'matrix', field: 'input.data' };

function thrown(fn: () => unknown): RunGraphError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RunGraphError);
    return error as RunGraphError;
  }
  throw new Error('nothing was thrown');
}

describe('nestedListShape', () => {
  it('gives the shape of rectangular nested lists', () => {
    expect(nestedListShape(7, site)).toEqual([]);
    expect(nestedListShape([], site)).toEqual([0]);
    expect(nestedListShape([1, 2, 3], site)).toEqual([3]);
    expect(
      nestedListShape(
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        site,
      ),
    ).toEqual([2, 3]);
    expect(
      nestedListShape(
        [
          [[1], [2]],
          [[3], [4]],
          [[5], [6]],
        ],
        site,
      ),
    ).toEqual([3, 2, 1]);
    expect(nestedListShape([[], []], site)).toEqual([2, 0]);
  });

  it('rejects a ragged list with E_INPUT_SHAPE naming the field path and node', () => {
    const error = thrown(() => nestedListShape([[1, 2], [3]], site));
    expect(error.code).toBe('E_INPUT_SHAPE');
    expect(error.location).toEqual({ node: 'matrix', field: 'input.data[1]' });
    expect(error.message).toContain('input.data[1]');
    expect(error.message).toMatch(/expected a list of length 2/);
  });

  it('finds raggedness deep inside', () => {
    const error = thrown(() =>
      nestedListShape(
        [
          [
            [1, 2],
            [3, 4],
          ],
          [
            [5, 6],
            [7, 8, 9],
          ],
        ],
        site,
      ),
    );
    expect(error.code).toBe('E_INPUT_SHAPE');
    expect(error.location.field).toBe('input.data[1][1]');
  });

  it('rejects a number where a row should be', () => {
    const error = thrown(() => nestedListShape([[1, 2], 3], site));
    expect(error.code).toBe('E_INPUT_SHAPE');
    expect(error.location.field).toBe('input.data[1]');
  });

  it('rejects a non-empty row after an empty one', () => {
    expect(thrown(() => nestedListShape([[], [1]], site)).location.field).toBe('input.data[1]');
  });

  it('rejects non-number leaves with E_INPUT_TYPE naming the leaf', () => {
    const cases: [unknown, string][] = [
      [[1, '2'], 'input.data[1]'],
      [
        [
          [1, 2],
          [null, 4],
        ],
        'input.data[1][0]',
      ],
      [[true], 'input.data[0]'],
      [[{ $ref: 'x' }], 'input.data[0]'],
      ['text', 'input.data'],
      [[1, [2]], 'input.data[1]'],
    ];
    for (const [value, field] of cases) {
      const error = thrown(() => nestedListShape(value, site));
      expect(error.code).toBe('E_INPUT_TYPE');
      expect(error.location.field).toBe(field);
    }
  });
});

describe('arrayFromNestedList', () => {
  it('builds an int64 array in C order', () => {
    const array = arrayFromNestedList(
      [
        [1, 2, 3],
        [4, 5, -6],
      ],
      'int64',
      site,
    );
    expect(array.dtype).toBe('int64');
    expect(array.shape).toEqual([2, 3]);
    expect(array.data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(array.data as BigInt64Array)).toEqual([1n, 2n, 3n, 4n, 5n, -6n]);
  });

  it('builds a float64 array and a scalar', () => {
    const array = arrayFromNestedList([[0.5], [-1.25]], 'float64', site);
    expect([array.dtype, array.shape, Array.from(array.data as Float64Array)]).toEqual([
      'float64',
      [2, 1],
      [0.5, -1.25],
    ]);
    const scalar = arrayFromNestedList(3, 'float64', site);
    expect([scalar.shape, Array.from(scalar.data as Float64Array)]).toEqual([[], [3]]);
  });

  it('accepts the largest exact integers', () => {
    const max = Number.MAX_SAFE_INTEGER;
    const array = arrayFromNestedList([max, -max], 'int64', site);
    expect(Array.from(array.data as BigInt64Array)).toEqual([9007199254740991n, -9007199254740991n]);
  });

  it('int64 rejects a fraction and a float past 2^53 with E_INPUT_TYPE, naming the element', () => {
    for (const bad of [1.5, 2 ** 53, -(2 ** 53), 1e300]) {
      const error = thrown(() =>
        arrayFromNestedList(
          [
            [0, 1],
            [2, bad],
          ],
          'int64',
          site,
        ),
      );
      expect(error.code).toBe('E_INPUT_TYPE');
      expect(error.location).toEqual({ node: 'matrix', field: 'input.data[1][1]' });
      expect(error.message).toMatch(/^element \[1\]\[1\] is /);
      expect(error.value).toBe(bad);
    }
  });

  it('int64 holds the whole int64 range as bigints, and 1.0 as 1', () => {
    const array = arrayFromNestedList(
      [
        [9223372036854775807n, -9223372036854775808n],
        [new JsonFloat(3), 2n ** 53n],
      ],
      'int64',
      site,
    );
    expect(Array.from(array.data as BigInt64Array)).toEqual([
      9223372036854775807n,
      -9223372036854775808n,
      3n,
      9007199254740992n,
    ]);
  });

  it('int64 rejects an integer outside int64, quoting all its digits', () => {
    for (const bad of [9223372036854775808n, -9223372036854775809n, 10n ** 30n]) {
      const error = thrown(() => arrayFromNestedList([0, bad], 'int64', site));
      expect(error.location.field).toBe('input.data[1]');
      expect(error.message).toBe(
        `element [1] is ${String(bad)}, outside the int64 range (-9223372036854775808 to 9223372036854775807)`,
      );
    }
  });

  it('float64 rejects a number that overflowed to Infinity, naming the element', () => {
    const error = thrown(() => arrayFromNestedList([[1, Infinity]], 'float64', site));
    expect(error.location.field).toBe('input.data[0][1]');
    expect(error.message).toContain('Infinity');
  });

  it('float64 keeps fractions', () => {
    expect(Array.from(arrayFromNestedList([1.5, 2 ** 53], 'float64', site).data as Float64Array)).toEqual([
      1.5,
      2 ** 53,
    ]);
  });

  it('passes ragged-list errors through', () => {
    expect(thrown(() => arrayFromNestedList([[1], [2, 3]], 'int64', site)).code).toBe('E_INPUT_SHAPE');
  });
});

describe('literalArrayType', () => {
  it('is int64 when every element is an integer, float64 otherwise', () => {
    expect(
      literalArrayType(
        [
          [1, 2],
          [3, 4],
        ],
        site,
      ),
    ).toEqual({ kind: 'array', dtype: 'int64', shape: [2, 2] });
    expect(
      literalArrayType(
        [
          [1, 2],
          [3, 4.5],
        ],
        site,
      ),
    ).toEqual({ kind: 'array', dtype: 'float64', shape: [2, 2] });
    expect(literalArrayType(2, site)).toEqual({ kind: 'array', dtype: 'int64', shape: [] });
    expect(literalArrayType(2.5, site)).toEqual({ kind: 'array', dtype: 'float64', shape: [] });
    // 1.0 written in JSON is the number 1 to an operation: its value is an integer.
    expect(literalArrayType(JSON.parse('[1.0, 2.0]') as JsonValue, site).dtype).toBe('int64');
    expect(literalArrayType([new JsonFloat(1), new JsonFloat(2)], site).dtype).toBe('int64');
    expect(literalArrayType([1, 9223372036854775807n], site).dtype).toBe('int64');
  });

  it('rejects ragged lists', () => {
    expect(thrown(() => literalArrayType([[1, 2], [3]], site)).code).toBe('E_INPUT_SHAPE');
  });
});

describe('literalAsWritten', () => {
  it('makes every element of a float64 literal a float, whatever its spelling', () => {
    expect(
      canonicalJson(
        literalAsWritten(
          [
            [1, 2.5],
            [-0, 2n ** 70n],
          ],
          'float64',
        ),
      ),
    ).toBe('[[1.0,2.5],[-0.0,1.1805916207174113e+21]]');
    expect(canonicalJson(literalAsWritten([[new JsonFloat(1), 2.5]], 'float64'))).toBe('[[1.0,2.5]]');
  });

  it('makes every element of an int64 literal an exact integer', () => {
    expect(
      canonicalJson(
        literalAsWritten(
          [
            [new JsonFloat(1), -0],
            [9223372036854775807n, 2n],
          ],
          'int64',
        ),
      ),
    ).toBe('[[1,0],[9223372036854775807,2]]');
  });

  it('leaves what is not a number alone', () => {
    const ref = { $ref: 'x' };
    expect(literalAsWritten([ref, 'text', null], 'float64')).toEqual([ref, 'text', null]);
  });
});

describe('arrayToNestedList', () => {
  it('keeps int64 values past 2^53 exact, as bigints', () => {
    const value: ArrayValue = {
      dtype: 'int64',
      shape: [1, 3],
      data: new BigInt64Array([9223372036854775807n, -9223372036854775808n, 5n]),
    };
    expect(arrayToNestedList(value)).toEqual([[9223372036854775807n, -9223372036854775808n, 5]]);
  });

  it('round-trips nested lists through arrayFromNestedList', () => {
    const lists: [JsonValue, 'int64' | 'float64'][] = [
      [
        [
          [1, 2],
          [3, 4],
        ],
        'int64',
      ],
      [
        [
          [
            [1, 2, 3, 4],
            [5, 6, 7, 8],
            [9, 10, 11, 12],
          ],
          [
            [13, 14, 15, 16],
            [17, 18, 19, 20],
            [21, 22, 23, 24],
          ],
        ],
        'int64',
      ],
      [[0.5, -1.5, 1e-9], 'float64'],
      [[], 'float64'],
      [[[], []], 'int64'],
      [42, 'int64'],
    ];
    for (const [list, dtype] of lists) {
      expect(arrayToNestedList(arrayFromNestedList(list, dtype, site))).toEqual(list);
    }
  });

  it('handles a zero-length middle dimension and other dtypes', () => {
    const value: ArrayValue = { dtype: 'int32', shape: [2, 0, 3], data: new Int32Array(0) };
    expect(arrayToNestedList(value)).toEqual([[], []]);
    const bytes: ArrayValue = { dtype: 'uint8', shape: [3, 1], data: new Uint8Array([7, 8, 9]) };
    expect(arrayToNestedList(bytes)).toEqual([[7], [8], [9]]);
  });
});

describe('toFloat64 / arrayType / describeType', () => {
  it('converts int64 and bool arrays to float64, keeping the shape', () => {
    const out = toFloat64({ dtype: 'int64', shape: [1, 2], data: new BigInt64Array([3n, -4n]) });
    expect([out.dtype, out.shape, Array.from(out.data)]).toEqual(['float64', [1, 2], [3, -4]]);
    expect(Array.from(toFloat64({ dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) }).data)).toEqual([1, 0]);
  });

  it('describes types for messages', () => {
    const value: ArrayValue = { dtype: 'int64', shape: [2, 2], data: new BigInt64Array(4) };
    const type = arrayType(value);
    expect(type).toEqual({ kind: 'array', dtype: 'int64', shape: [2, 2] });
    expect(describeType(type)).toBe('int64 array [2, 2]');
    expect(describeType({ kind: 'array', dtype: null, shape: null })).toBe('numeric array');
    expect(describeType({ kind: 'file' })).toBe('file');
    expect(describeType({ kind: 'json' })).toBe('JSON value');
  });

  it('arrayType copies the shape rather than sharing it', () => {
    const value: ArrayValue = { dtype: 'float64', shape: [3], data: new Float64Array(3) };
    const type = arrayType(value);
    value.shape.push(1);
    expect(type.kind === 'array' ? type.shape : null).toEqual([3]);
  });
});
