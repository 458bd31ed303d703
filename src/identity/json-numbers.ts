/**
 * Numbers as Python's `json` module reads and writes them, which is what a
 * uid is computed from. Python tells an integer (`1`, any size) from a float
 * (`1.0`, `1e20`, `-0.0`) by how the text spells it, and writes each back in
 * its own form: integers with every digit, floats as `repr` does. A
 * JavaScript value says which it is like this:
 *
 * | JavaScript value | is | written as |
 * |---|---|---|
 * | a `number` for which `Number.isSafeInteger` holds (so `-0` too) | an integer | its digits: `3`, `0` |
 * | any other finite `number` | a float | `repr`: `2.5`, `1e+20`, `1e-07` |
 * | a `bigint` | an integer | its digits, any size |
 * | a `JsonFloat` | a float | `repr`: `1.0`, `-0.0`, `100000.0` |
 *
 * `JsonFloat` exists for the floats whose value is a safe integer (`1.0`,
 * `-0.0`, `1e5`): as a `number` they would read as integers. Reading JSON
 * text (`parseJsonExactly`) makes one for every such literal, and a float64
 * array's elements become floats through `asFloat`.
 */

/**
 * A float whose value a `number` alone would present as an integer: `1.0`
 * read from a file, or an element of a float64 array. Arithmetic sees its
 * value (`valueOf`); `JSON.stringify` writes the value (`1`); `String` and
 * the canonical and exact writers write `1.0`.
 */
export class JsonFloat {
  readonly value: number;

  constructor(value: number) {
    this.value = value;
    Object.freeze(this);
  }

  valueOf(): number {
    return this.value;
  }

  toString(): string {
    return floatText(this.value);
  }

  toJSON(): number {
    return this.value;
  }
}

/** Whether a value is a JsonFloat (of this or of another copy of run-graph). */
export function isJsonFloat(value: unknown): value is JsonFloat {
  return (
    value instanceof JsonFloat ||
    (typeof value === 'object' &&
      value !== null &&
      value.constructor?.name === 'JsonFloat' &&
      typeof (value as { value?: unknown }).value === 'number')
  );
}

/** A number in any of the three forms a JSON value may hold it. */
export type JsonNumber = number | bigint | JsonFloat;

/** Whether a value is a number in one of the forms of JsonNumber. */
export function isJsonNumber(value: unknown): value is JsonNumber {
  return typeof value === 'number' || typeof value === 'bigint' || isJsonFloat(value);
}

/** The value of a number as a JavaScript `number` (a bigint past 2^53 rounds to the nearest double). */
export function numberValue(value: JsonNumber): number {
  return typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : value.value;
}

/**
 * The float a number stands for, in the form that writes as a float: a
 * `JsonFloat` where a `number` would read as an integer, else the number.
 * What every element of a float64 array is in a record.
 */
export function asFloat(value: JsonNumber): number | JsonFloat {
  if (isJsonFloat(value)) return value;
  const x = typeof value === 'bigint' ? Number(value) : value;
  return Number.isSafeInteger(x) ? new JsonFloat(x) : x;
}

/**
 * Python's `repr` of a finite float: the shortest digits that read back as
 * the same double; `.0` on an integral value; exponent form below 1e-4 and
 * from 1e16 on, with a sign and at least two exponent digits; `-0.0`.
 */
export function floatText(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const magnitude = Math.abs(x);
  // In this range JavaScript's String() uses positional notation with the same shortest digits.
  if (magnitude >= 1e-4 && magnitude < 1e16) {
    const text = String(x);
    return Number.isInteger(x) ? `${text}.0` : text;
  }
  // toExponential() with no argument also gives the shortest round-trip digits: `1.5e+20`, `1e-7`.
  const [mantissa = '', exponent = '0'] = x.toExponential().split('e');
  const power = Number(exponent);
  return `${mantissa}e${power < 0 ? '-' : '+'}${String(Math.abs(power)).padStart(2, '0')}`;
}

/** The text of a finite number as Python writes it. */
export function numberText(value: JsonNumber): string {
  if (typeof value === 'bigint') return String(value);
  if (typeof value === 'number') return Number.isSafeInteger(value) ? String(value) : floatText(value);
  return floatText(value.value);
}

/** Whether a number is finite (a bigint always is). */
export function isFiniteNumber(value: JsonNumber): boolean {
  return typeof value === 'bigint' || Number.isFinite(typeof value === 'number' ? value : value.value);
}

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

/** Whether a bigint is within int64. */
export function fitsInt64(value: bigint): boolean {
  return value >= INT64_MIN && value <= INT64_MAX;
}

/**
 * The exact integer a number stands for, or why it is not one an int64
 * array can hold (to follow "is <the number>, "): a fraction; a float past
 * 2^53, whose digits may have been rounded away already; an integer outside
 * int64.
 */
export function exactInt64(value: JsonNumber): { value: bigint } | { problem: string } {
  if (typeof value === 'bigint') {
    return fitsInt64(value)
      ? { value }
      : { problem: `outside the int64 range (${String(INT64_MIN)} to ${String(INT64_MAX)})` };
  }
  const x = numberValue(value);
  if (Number.isSafeInteger(x)) return { value: BigInt(x) };
  if (!Number.isFinite(x) || !Number.isInteger(x)) return { problem: 'not an integer' };
  return {
    problem:
      'a float past 2^53, whose digits may be rounded already; write the integer itself, without a fraction or exponent',
  };
}

/** A number as an error message quotes it: its digits, or Python's form of a float (`Infinity` for an overflow). */
export function quoteNumber(value: JsonNumber): string {
  return isFiniteNumber(value) ? numberText(value) : String(numberValue(value));
}
