/**
 * Canonical JSON: the byte string a record is hashed as. Keys sorted by code
 * point at every level, no whitespace, every non-ASCII character escaped as
 * `\uXXXX` (lowercase hex, surrogate pairs for astral characters). This is the
 * form SCALE-MS hashes, so uids agree with it.
 *
 * A generic stable stringifier coerces what JSON cannot hold (NaN becomes
 * null, a typed array becomes an object of indices), which would give two
 * different records one uid. So every value passes a guard first that accepts
 * only plain JSON: null, booleans, finite numbers, strings, arrays and plain
 * objects.
 */
import untypedStableStringify from 'fast-json-stable-stringify';
import { RunGraphError, describeValue } from '../errors.js';

/** A value JSON can represent exactly. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Throw E_NOT_CANONICAL if `value` holds anything but plain JSON. `path` names
 * the place in the error (`input.data[1][0]`).
 */
export function assertPlainJson(value: unknown, path = '$'): asserts value is JsonValue {
  // The walk that names the offending path is only needed when there is one.
  if (!isPlainJson(value, 0)) checkPlainJson(value, path, new Set());
}

/** Deeper than this, isPlainJson gives up and the checking walk decides (it also detects cycles). */
const MAX_QUICK_DEPTH = 1_000;

/** The same rules as checkPlainJson, without building paths or tracking ancestors. */
function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (depth > MAX_QUICK_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!(i in value) || !isPlainJson(value[i], depth + 1)) return false;
        return true;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key of Object.keys(value))
        if (!isPlainJson((value as { [key: string]: unknown })[key], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

function checkPlainJson(value: unknown, path: string, ancestors: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) reject(value, path, 'is not a finite number');
      return;
    case 'object': {
      if (value === null) return;
      if (ancestors.has(value)) reject(value, path, 'is a circular reference');
      if (ArrayBuffer.isView(value)) {
        reject(value, path, 'is a typed array', 'pass arrays as nested lists, or through an .npy file input');
      }
      ancestors.add(value);
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) reject(undefined, `${path}[${i}]`, 'is a hole in a sparse array');
          checkPlainJson(value[i], `${path}[${i}]`, ancestors);
        }
      } else {
        const proto: unknown = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          reject(value, path, `is a ${value.constructor?.name ?? 'non-plain'} object, not a plain object`);
        }
        for (const [key, child] of Object.entries(value)) {
          checkPlainJson(child, `${path}.${key}`, ancestors);
        }
      }
      ancestors.delete(value);
      return;
    }
    default:
      reject(value, path, `is ${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`}`);
  }
}

function reject(value: unknown, path: string, problem: string, hint?: string): never {
  throw new RunGraphError(
    'E_NOT_CANONICAL',
    `value at ${path} ${problem}: ${describeValue(value)}; only plain JSON can be fingerprinted`,
    {
      field: path,
      value,
      hint: hint ?? 'use null, booleans, finite numbers, strings, arrays and plain objects',
    },
  );
}

// Python sorts keys by code point; JavaScript's default sort compares UTF-16
// code units, which differs for characters above U+FFFF.
function compareCodePointsSlow(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const ca = ia.next();
    const cb = ib.next();
    if (ca.done === true) return cb.done === true ? 0 : -1;
    if (cb.done === true) return 1;
    const diff = (ca.value.codePointAt(0) ?? 0) - (cb.value.codePointAt(0) ?? 0);
    if (diff !== 0) return diff;
  }
}

// Code-unit order is code-point order unless, where the strings first differ,
// both units are at or above U+D800 (a surrogate against U+E000..U+FFFF):
// only then is the character-by-character comparison needed.
function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return x >= 0xd800 && y >= 0xd800 ? compareCodePointsSlow(a, b) : x - y;
  }
  return a.length - b.length;
}

// The package's own typings leave out its options argument.
const stableStringify = untypedStableStringify as unknown as (
  value: JsonValue,
  options: { cmp: (a: { key: string }, b: { key: string }) => number },
) => string;

// Python's ensure_ascii passes only printable ASCII through, so DEL (U+007F)
// is escaped too; JSON.stringify has already escaped U+0000..U+001F.
const NON_ASCII = /[\u007f-\uffff]/g;

function escapeNonAscii(json: string): string {
  return json.replace(NON_ASCII, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The canonical JSON text of a plain JSON value; throws E_NOT_CANONICAL otherwise. */
export function canonicalJson(value: unknown): string {
  assertPlainJson(value);
  return escapeNonAscii(stableStringify(value, { cmp: (a, b) => compareCodePoints(a.key, b.key) }));
}
