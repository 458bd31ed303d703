/**
 * Canonical JSON: the byte string a record is hashed as, which is the text
 * Python's `json.dumps(json.loads(text), separators=(',', ':'),
 * sort_keys=True, ensure_ascii=True)` gives for the record's JSON text (see
 * docs/identity.md). Keys sorted by code point at every level, no
 * whitespace, every non-ASCII character escaped as `\uXXXX` (lowercase hex,
 * surrogate pairs for astral characters), integers with every digit and
 * floats as Python's `repr` writes them (`json-numbers.ts`). This is the form
 * SCALE-MS hashes, so uids agree with it.
 *
 * fast-json-stable-stringify writes every value whose numbers JavaScript
 * and Python spell alike (safe integers, and floats with a fraction between
 * 1e-4 and 1e16), which is most records: integer data, strings, labels.
 * It writes numbers as JavaScript does (`1` for 1.0, `1e-7`,
 * `100000000000000000000` for 1e20) and cannot write a bigint, so a value
 * holding any other number is written by run-graph's own writer below.
 * Either would coerce what JSON cannot hold (NaN becomes null, a typed array
 * an object of indices), giving two different records one uid; so only plain
 * JSON is written: null, booleans, finite numbers (`number`, `bigint`,
 * `JsonFloat`), strings, arrays and plain objects. Anything else is
 * E_NOT_CANONICAL naming its path.
 */
import untypedStableStringify from 'fast-json-stable-stringify';
import { RunGraphError, describeValue } from '../errors.js';
import { floatText, isJsonFloat, type JsonFloat } from './json-numbers.js';
import { NumberList } from './number-list.js';

/**
 * A value JSON can represent exactly. Numbers are integers or floats as
 * json-numbers.ts says: a safe-integer `number` or a `bigint` is an
 * integer; any other `number` or a `JsonFloat` is a float.
 */
export type JsonValue =
  null | boolean | number | bigint | JsonFloat | string | JsonValue[] | { [key: string]: JsonValue };

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
    case 'bigint':
      return true;
    case 'object': {
      if (value === null) return true;
      if (isJsonFloat(value)) return Number.isFinite(value.value);
      // A typed list holds only finite numbers (NumberList.holds); an untyped one is judged by its values.
      if (value instanceof NumberList) return value.dtype !== undefined || isPlainJson(value.values(), depth);
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
      if (!Number.isFinite(value)) rejectNonFinite(value, path);
      return;
    case 'bigint':
      return;
    case 'object': {
      if (value === null) return;
      if (isJsonFloat(value)) {
        if (!Number.isFinite(value.value)) rejectNonFinite(value.value, path);
        return;
      }
      if (value instanceof NumberList) {
        if (value.dtype === undefined) checkPlainJson(value.values(), path, ancestors);
        return;
      }
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

// A JSON text can spell no NaN or Infinity: a non-finite number read from a file was a literal past float64's range.
function rejectNonFinite(value: number, path: string): never {
  reject(
    value,
    path,
    'is not a finite number',
    Number.isNaN(value)
      ? 'JSON has no NaN: use null or leave the element out'
      : 'a literal beyond about ±1.8e308 (such as 1e999) reads as Infinity, which has no JSON form: write a finite number',
  );
}

function reject(value: unknown, path: string, problem: string, hint?: string): never {
  throw new RunGraphError(
    'E_NOT_CANONICAL',
    `value at ${path} ${problem}: ${describeValue(value)}; only plain JSON can be fingerprinted`,
    {
      field: path,
      value,
      hint: hint ?? 'use null, booleans, finite numbers (number, bigint, JsonFloat), strings, arrays and plain objects',
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

// Python's ensure_ascii passes only printable ASCII through, so DEL (U+007F)
// is escaped too; JSON.stringify has already escaped U+0000..U+001F.
const NON_ASCII = /[\u007f-\uffff]/g;

function escapeNonAscii(json: string): string {
  return json.replace(NON_ASCII, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Thrown by the writer at anything it does not write; the checking walk then names the place. */
class NotWritten {}
const NOT_WRITTEN = new NotWritten();
/** Thrown by the writer once a value holds more values than its budget. */
const TOO_MANY = new NotWritten();
/** No budget: the writer counts down from Infinity, which stays Infinity. */
const UNBOUNDED = { left: Infinity };

function byCodePoint(keys: string[]): string[] {
  return keys.sort(compareCodePoints);
}

/**
 * The canonical text of a value, or NOT_WRITTEN at anything that is not plain
 * JSON (or nesting deeper than `depthLeft`, which is where a cycle would
 * recurse forever), or TOO_MANY once it has met more values than `budget`
 * allows. One walk both checks and writes.
 */
function writeCanonical(value: unknown, depthLeft: number, budget: { left: number } = UNBOUNDED): string {
  if (--budget.left < 0) throw TOO_MANY;
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (Number.isSafeInteger(value)) return String(value);
      if (!Number.isFinite(value)) throw NOT_WRITTEN;
      return floatText(value);
    case 'bigint':
      return String(value);
    case 'object': {
      if (value === null) return 'null';
      if (depthLeft === 0) throw NOT_WRITTEN;
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) throw NOT_WRITTEN;
          out += `${i === 0 ? '' : ','}${writeCanonical(value[i], depthLeft - 1, budget)}`;
        }
        return `${out}]`;
      }
      if (isJsonFloat(value)) {
        if (!Number.isFinite(value.value)) throw NOT_WRITTEN;
        return floatText(value.value);
      }
      if (value instanceof NumberList) {
        if (value.dtype === undefined) return writeCanonical(value.values(), depthLeft, budget);
        budget.left -= value.length;
        if (budget.left < 0) throw TOO_MANY;
        let text = '';
        value.writeCanonical(
          (piece) => (text += typeof piece === 'string' ? piece : Buffer.from(piece).toString('latin1')),
        );
        return text;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw NOT_WRITTEN;
      const object = value as { [key: string]: unknown };
      let out = '{';
      let first = true;
      for (const key of byCodePoint(Object.keys(object))) {
        out += `${first ? '' : ','}${JSON.stringify(key)}:${writeCanonical(object[key], depthLeft - 1, budget)}`;
        first = false;
      }
      return `${out}}`;
    }
    default:
      throw NOT_WRITTEN;
  }
}

// The package's own typings leave out its options argument.
const stableStringify = untypedStableStringify as unknown as (
  value: JsonValue,
  options: { cmp: (a: { key: string }, b: { key: string }) => number },
) => string;

/**
 * Whether `value` is plain JSON whose every number JavaScript writes as
 * Python does: a safe integer, or a float with a fraction and a magnitude
 * from 1e-4 to below 1e16 (where both write the shortest digits without an
 * exponent). No bigint, no JsonFloat. Anything else, odd values included,
 * goes to run-graph's own writer, which also checks.
 */
function spelledAlike(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number': {
      if (Number.isSafeInteger(value)) return true;
      const magnitude = Math.abs(value);
      return Number.isFinite(value) && !Number.isInteger(value) && magnitude >= 1e-4 && magnitude < 1e16;
    }
    case 'object': {
      if (value === null) return true;
      if (depth > MAX_QUICK_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!(i in value) || !spelledAlike(value[i], depth + 1)) return false;
        return true;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key of Object.keys(value)) {
        if (!spelledAlike((value as { [key: string]: unknown })[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/** Values past which quickCanonical leaves a value to the writers that follow it. */
const QUICK_VALUES = 512;

/**
 * The canonical text of a small value of plain JSON, written by
 * writeCanonical's one walk that checks and writes, counting; undefined for
 * a larger value, or anything writeCanonical does not write (left to the writers
 * below, which name the offending path). A node's record is most often
 * such a value, and thousands are hashed as a graph is built: one walk
 * takes about a third of the time of spelledAlike's walk, a count of the
 * values and fast-json-stable-stringify's.
 */
function quickCanonical(value: unknown): string | undefined {
  try {
    return escapeNonAscii(writeCanonical(value, MAX_QUICK_DEPTH, { left: QUICK_VALUES }));
  } catch (error) {
    if (error instanceof NotWritten) return undefined;
    throw error;
  }
}

/** The canonical JSON text of a plain JSON value; throws E_NOT_CANONICAL otherwise. */
export function canonicalJson(value: unknown): string {
  const quick = quickCanonical(value);
  if (quick !== undefined) return quick;
  if (spelledAlike(value, 0)) {
    return escapeNonAscii(stableStringify(value as JsonValue, { cmp: (a, b) => compareCodePoints(a.key, b.key) }));
  }
  let text: string;
  try {
    text = writeCanonical(value, MAX_QUICK_DEPTH);
  } catch (error) {
    if (error !== NOT_WRITTEN) throw error;
    // Names the offending path, or passes a deep but acyclic value, which is then written without a depth limit.
    checkPlainJson(value, '$', new Set());
    text = writeCanonical(value, Infinity);
  }
  return escapeNonAscii(text);
}

/** Receives canonical text piece by piece, in order; every piece is ASCII, as a string or as its bytes. */
export type TextSink = (piece: string | Uint8Array) => void;

/** Pieces are about this many characters: large enough to hash or write at full speed, small enough to stay young garbage. */
const PIECE_CHARS = 1 << 16;

/** Gathers text into pieces of about PIECE_CHARS for a sink. */
class PieceWriter {
  #text = '';
  constructor(readonly sink: TextSink) {}
  write(text: string): void {
    this.#text += text;
    if (this.#text.length >= PIECE_CHARS) this.flush();
  }
  flush(): void {
    if (this.#text === '') return;
    this.sink(this.#text);
    this.#text = '';
  }
}

/** A string literal as the canonical text writes it: JSON.stringify's escapes, then every non-ASCII character as `\uXXXX`. */
function stringText(value: string): string {
  return escapeNonAscii(JSON.stringify(value));
}

/**
 * writeCanonical's text, into `out`, for a value already known to be plain
 * JSON. With `trustRaw`, a float64 NumberList that is a rawCandidate is
 * written as its own text (see fingerprint()).
 */
function streamCanonical(value: unknown, out: PieceWriter, trustRaw: boolean): void {
  switch (typeof value) {
    case 'string':
      out.write(stringText(value));
      return;
    case 'boolean':
      out.write(value ? 'true' : 'false');
      return;
    case 'number':
      out.write(Number.isSafeInteger(value) ? String(value) : floatText(value));
      return;
    case 'bigint':
      out.write(String(value));
      return;
    default: {
      if (value === null) {
        out.write('null');
        return;
      }
      if (Array.isArray(value)) {
        out.write('[');
        for (let i = 0; i < value.length; i++) {
          if (i !== 0) out.write(',');
          streamCanonical(value[i], out, trustRaw);
        }
        out.write(']');
        return;
      }
      if (isJsonFloat(value)) {
        out.write(floatText(value.value));
        return;
      }
      if (value instanceof NumberList) {
        if (value.dtype === undefined) {
          streamCanonical(value.values(), out, trustRaw);
          return;
        }
        out.flush();
        value.writeCanonical(out.sink, trustRaw);
        return;
      }
      const object = value as { [key: string]: unknown };
      out.write('{');
      let first = true;
      for (const key of byCodePoint(Object.keys(object))) {
        out.write(`${first ? '' : ','}${stringText(key)}:`);
        streamCanonical(object[key], out, trustRaw);
        first = false;
      }
      out.write('}');
    }
  }
}

/** Values a record may hold and still be written as one string (canonicalJson's fast path); past this it is streamed. */
const STRING_VALUES = 4096;

/** Whether a value holds more than `budget` values (numbers, strings, ...), counted only as far as needed. */
function holdsMoreThan(value: unknown, budget: number): boolean {
  let left = budget;
  const visit = (item: unknown): boolean => {
    if (--left < 0) return true;
    if (item instanceof NumberList) {
      left -= item.length;
      return left < 0;
    }
    if (Array.isArray(item)) return item.some(visit);
    if (typeof item === 'object' && item !== null && !isJsonFloat(item)) return Object.values(item).some(visit);
    return false;
  };
  return visit(value);
}

/**
 * The canonical text of a plain JSON value, given to `sink` in pieces
 * rather than built as one string: what a record of millions of values is
 * hashed and stored through, at the cost of a piece at a time. The text is
 * canonicalJson's exactly (with `trustRaw`, see streamCanonical). Throws E_NOT_CANONICAL, before `sink` sees
 * anything, if the value is not plain JSON.
 */
export function writeCanonicalJson(value: unknown, sink: TextSink, options: { trustRaw?: boolean } = {}): void {
  // A list's candidate text (trustRaw) is the streaming writer's to give.
  const quick = options.trustRaw === true ? undefined : quickCanonical(value);
  if (quick !== undefined) {
    sink(quick);
    return;
  }
  if (!holdsMoreThan(value, STRING_VALUES)) {
    sink(canonicalJson(value));
    return;
  }
  // Checked first, whole: a value found wrong halfway would have given the sink part of a text.
  assertPlainJson(value);
  const out = new PieceWriter(sink);
  streamCanonical(value, out, options.trustRaw === true);
  out.flush();
}
