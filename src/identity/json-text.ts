/**
 * Reading and writing JSON files without losing a number: what run-graph
 * uses for every text a record comes from or goes to (workflow files,
 * SCALE-MS documents, submitted records, `metadata.json`).
 *
 * `JSON.parse` rounds every integer past 2^53 and forgets that `1.0` was a
 * float, so a record read with it hashes to another uid than the one
 * written. `parseJsonExactly` reads numbers as Python's `json.loads` does
 * (json-numbers.ts): an integer keeps every digit (a `bigint` past 2^53), a
 * float that a `number` would present as an integer becomes a `JsonFloat`.
 * The lossless parser (lossless-json) is several times slower than
 * `JSON.parse`, so it reads only texts that hold such a number; ordinary
 * texts go through `JSON.parse`, which gives the same values for them.
 */
import { createRequire } from 'node:module';
import type { parse as LosslessParse } from 'lossless-json';
import { JsonFloat, isJsonFloat, numberText } from './json-numbers.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

function isDigit(code: number): boolean {
  return code >= ZERO && code <= NINE;
}

/** Where the string opening at `open` closes (-1 if it does not: JSON.parse will say so). */
function closingQuote(text: string, open: number): number {
  let close = text.indexOf('"', open + 1);
  for (;;) {
    if (close < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(close - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return close;
    close = text.indexOf('"', close + 1);
  }
}

/**
 * Whether the text holds a number token that `JSON.parse` would misread:
 * `-0` (the integer 0, not the float -0.0), an integer part of 16 digits or
 * more (past 2^53), a fraction that may round to an integer, a fraction of
 * zeros (`1.0`), or an exponent on an integral value (`1e5`, `2.5e1`). Strings are skipped, so the digits
 * of a uid or a sha256 do not count. A scan by hand: a regular expression
 * for the same took three times as long as JSON.parse of a metadata.json.
 */
export function needsLosslessParse(text: string): boolean {
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      // indexOf jumps over a uid or a path far quicker than a loop would step through it.
      i = closingQuote(text, i);
      if (i < 0) return false;
    } else if (code === MINUS || isDigit(code)) {
      const integerStart = code === MINUS ? i + 1 : i;
      let end = integerStart;
      while (end < length && isDigit(text.charCodeAt(end))) end++;
      const digits = end - integerStart;
      let after = text.charCodeAt(end);
      if (after === DOT) {
        const fractionStart = end + 1;
        let zeros = true;
        for (end = fractionStart; end < length && isDigit(text.charCodeAt(end)); end++)
          if (text.charCodeAt(end) !== ZERO) zeros = false;
        if (zeros || mayRoundToInteger(text, integerStart, digits, fractionStart, end)) return true;
        after = text.charCodeAt(end);
      }
      if (digits >= 16) return true;
      if (after === 0x65 || after === 0x45) {
        // An exponent: JSON.parse misreads only one that reads as a safe integer (`1e5`), which would be written back as an integer.
        let exponentEnd = end + 1;
        while (exponentEnd < length && /[-+0-9]/.test(text.charAt(exponentEnd))) exponentEnd++;
        if (Number.isSafeInteger(Number(text.slice(i, exponentEnd)))) return true;
        end = exponentEnd;
      }
      if (code === MINUS && digits === 1 && text.charCodeAt(integerStart) === ZERO && end === integerStart + 1)
        return true;
      i = end - 1;
    }
  }
  return false;
}

/**
 * Whether a number with a non-zero fraction might read as a float of
 * integral value (`1.00000000000000001` is the double 1), which JSON.parse
 * would take for an integer. A double below 10^d (d integer digits) is
 * within about 1.2e-16 * 10^d of its neighbours, so it can round to an
 * integer only if its fraction is that close to 0 or 1: only if the first
 * 15 - d fraction digits are all 0 or all 9 (one digit of margin kept). A
 * random float such as 0.8444218515250481 fails that at its first digit.
 */
function mayRoundToInteger(text: string, integerStart: number, digits: number, from: number, to: number): boolean {
  // `0.x` has no integer digit that counts.
  const integerDigits = digits === 1 && text.charCodeAt(integerStart) === ZERO ? 0 : digits;
  const checked = 14 - integerDigits;
  if (checked <= 0 || to - from <= 0) return true;
  if (to - from < checked) return false;
  const first = text.charCodeAt(from);
  if (first !== ZERO && first !== NINE) return false;
  for (let i = from + 1; i < from + checked; i++) if (text.charCodeAt(i) !== first) return false;
  return true;
}

const INTEGER_TEXT = /^-?\d+$/;

/** A number token as Python reads it. Overflowing floats read as ±Infinity, which every check then refuses. */
function exactNumber(text: string): number | bigint | JsonFloat {
  if (INTEGER_TEXT.test(text)) {
    const value = Number(text);
    // `-0` is the integer 0: only a float is negative zero.
    return Number.isSafeInteger(value) ? value + 0 : BigInt(text);
  }
  const value = Number(text);
  return Number.isSafeInteger(value) ? new JsonFloat(value) : value;
}

/** Duplicate keys: the last one wins, as in `JSON.parse` and Python's `json.loads`. */
const lastValueWins = ({ newValue }: { newValue: unknown }): unknown => newValue;

/**
 * Parse JSON text, keeping every number exact. Invalid text throws the
 * SyntaxError `JSON.parse` throws for it, so callers report syntax errors one
 * way whichever parser read the text.
 */
/** lossless-json, loaded at the first text that needs it: most runs read none, and start sooner without it. */
let parseLossless: typeof LosslessParse | undefined;

export function parseJsonExactly(text: string): unknown {
  if (!needsLosslessParse(text)) return JSON.parse(text) as unknown;
  try {
    parseLossless ??= (createRequire(import.meta.url)('lossless-json') as { parse: typeof LosslessParse }).parse;
    return parseLossless(text, null, { parseNumber: exactNumber, onDuplicateKey: lastValueWins });
  } catch (error) {
    JSON.parse(text);
    throw error;
  }
}

/**
 * JSON text like `JSON.stringify(value, null, indent)`, key order kept, but
 * with a list of plain values on one line when indenting, and with numbers exact: a bigint with all its digits, a JsonFloat as a float
 * (`1.0`), other numbers as Python writes them. Where JSON.stringify would
 * throw on a bigint, this writes it. Default indent: none.
 */
export function formatJson(value: unknown, indent = 0): string {
  return writeExact(value, indent === 0 ? '' : '\n', ' '.repeat(indent)) ?? 'null';
}

/** A value written without nesting: a number, string, boolean, null, bigint or JsonFloat. */
function isScalar(value: unknown): boolean {
  return typeof value !== 'object' || value === null || isJsonFloat(value);
}

function writeExact(value: unknown, newline: string, step: string): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return Number.isFinite(value) ? numberText(value) : 'null';
    case 'bigint':
      return String(value);
    case 'object': {
      if (value === null) return 'null';
      if (isJsonFloat(value)) return Number.isFinite(value.value) ? numberText(value) : 'null';
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') return writeExact((toJSON as () => unknown).call(value), newline, step);
      const inner = newline === '' ? '' : newline + step;
      if (Array.isArray(value)) {
        if (value.length === 0) return '[]';
        const items = value.map((item) => writeExact(item, inner, step) ?? 'null');
        // A list of plain values stays on one line: data spread one number a line takes several times its size.
        if (newline !== '' && value.every(isScalar)) return `[${items.join(',')}]`;
        return `[${inner}${items.join(`,${inner}`)}${newline}]`;
      }
      const members: string[] = [];
      for (const [key, child] of Object.entries(value)) {
        const text = writeExact(child, inner, step);
        if (text !== undefined) members.push(`${JSON.stringify(key)}:${newline === '' ? '' : ' '}${text}`);
      }
      return members.length === 0 ? '{}' : `{${inner}${members.join(`,${inner}`)}${newline}}`;
    }
    default:
      // undefined, functions and symbols: left out of objects, null in arrays, as JSON.stringify does.
      return undefined;
  }
}

/**
 * The same value with every JsonFloat replaced by its number, sharing every
 * part that holds none: what an operation sees of a literal, so that `1.0`
 * is the number 1 to it as it always was. Only arrays and plain objects are
 * looked into.
 */
export function withPlainFloats<T>(value: T): T {
  return plainFloats(value as unknown) as T;
}

function plainFloats(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (isJsonFloat(value)) return value.value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const plain = plainFloats(item);
      if (plain !== item) {
        out ??= value.slice();
        out[i] = plain;
      }
    }
    return out ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  let out: { [key: string]: unknown } | undefined;
  for (const [key, child] of Object.entries(value)) {
    const plain = plainFloats(child);
    if (plain !== child) {
      out ??= { ...value };
      out[key] = plain;
    }
  }
  return out ?? value;
}
