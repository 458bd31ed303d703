/**
 * A long list of plain numbers kept as the JSON text it was read from: what
 * a literal array of millions of elements in a workflow file is, instead of
 * millions of JavaScript values. The text is scanned once (scanNumberList),
 * which tells how its numbers are spelled; from that alone it is known
 * whether the list can stand for a float64 or int64 array without reading
 * its values (numbers that need the exact reading of json-text.ts, such as
 * an integer `-0` or a value past float64's range, do not qualify, and such
 * a list is read as every other value is). Its values are read only when
 * needed, straight into a typed array; its canonical text (the form a uid
 * hashes) is written in pieces.
 *
 * For a float64 list, the canonical text is Python's `repr` of each float,
 * which is the list's own text whenever that text is already canonical
 * (what `JSON.stringify` and Python write for most floats). Checking that
 * takes as long as writing it, so it is not assumed: the text is only a
 * candidate (`rawCandidate`), which a caller may confirm another way (see
 * fingerprint()).
 */
import { parseJsonExactly } from './json-text.js';
import { asFloat, floatText } from './json-numbers.js';

const COMMA = 0x2c;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;

/** How the numbers of a list are spelled, as far as its reading and its canonical text depend on it. */
export interface NumberSpelling {
  /** No whitespace anywhere between the brackets. */
  compact: boolean;
  /** Every number has a fraction or an exponent: Python reads each as a float. */
  allFloats: boolean;
  /** No number has a fraction or an exponent. */
  allIntegers: boolean;
  /** Some exponent is written `E` (the canonical form writes `e`). */
  upperE: boolean;
  /** Some number is the integer `-0`, which reads as 0, not as the float -0.0. */
  negativeZero: boolean;
  /** The most digits of a number written as an integer. */
  maxIntegerDigits: number;
  /** Some number may be 1e308 or more, past float64's range (a float64 holds up to about 1.8e308). */
  mayOverflow: boolean;
  /**
   * Where the numbers not spelled as Python's repr of a float might spell
   * them are (offsets from the `[`, start and end of each): integers,
   * exponents, and positional numbers below 1e-4 or from 1e16 on, or with
   * a trailing zero. Undefined past MAX_ODD of them.
   */
  odd: number[] | undefined;
}

/** Odd numbers recorded at most; a list with more is not given a raw candidate text. */
const MAX_ODD = 1 << 16;

/** A list found by scanNumberList: its closing bracket, its length and its spelling. */
export interface ScannedList {
  close: number;
  length: number;
  spelling: NumberSpelling;
}

const isWhitespace = (c: number | undefined): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number | undefined): boolean => c !== undefined && c >= ZERO && c <= NINE;

/**
 * The flat list of JSON numbers whose `[` is at `open`, or undefined if the
 * text there is anything else: an empty list, a nested list, a string, an
 * object, or not valid JSON (which the caller's parser then reports). Every
 * number is checked against JSON's grammar.
 */
export function scanNumberList(bytes: Uint8Array, open: number): ScannedList | undefined {
  const spelling: NumberSpelling = {
    compact: true,
    allFloats: true,
    allIntegers: true,
    upperE: false,
    negativeZero: false,
    maxIntegerDigits: 0,
    mayOverflow: false,
    odd: [],
  };
  let i = open + 1;
  let c = bytes[i];
  while (isWhitespace(c)) {
    spelling.compact = false;
    c = bytes[++i];
  }
  let length = 0;
  for (;;) {
    const start = i;
    if (c === MINUS) c = bytes[++i];
    const integerStart = i;
    if (c === ZERO) c = bytes[++i];
    else if (isDigit(c))
      do c = bytes[++i];
      while (isDigit(c));
    else return undefined;
    const integerDigits = i - integerStart;
    let float = false;
    // Spelled as repr spells a float of 1e-4 to 1e16: `d.ddd`, no trailing zero but in `d.0`, 0.000d or more.
    let reprLike = false;
    if (c === DOT) {
      float = true;
      const fractionStart = i + 1;
      c = bytes[++i];
      if (!isDigit(c)) return undefined;
      do c = bytes[++i];
      while (isDigit(c));
      const zeroInteger = integerDigits === 1 && bytes[integerStart] === ZERO;
      const below = zeroInteger && !nonZeroInFirstFour(bytes, fractionStart, i);
      reprLike = integerDigits <= 16 && !below && (bytes[i - 1] !== ZERO || i - fractionStart === 1);
    }
    let exponent = 0;
    if (c === LOWER_E || c === UPPER_E) {
      float = true;
      reprLike = false;
      if (c === UPPER_E) spelling.upperE = true;
      c = bytes[++i];
      const negative = c === MINUS;
      if (c === MINUS || c === PLUS) c = bytes[++i];
      if (!isDigit(c)) return undefined;
      do {
        if (exponent < 100_000) exponent = exponent * 10 + ((c as number) - ZERO);
        c = bytes[++i];
      } while (isDigit(c));
      if (negative) exponent = -exponent;
    }
    if (float) {
      spelling.allIntegers = false;
    } else {
      spelling.allFloats = false;
      if (integerDigits > spelling.maxIntegerDigits) spelling.maxIntegerDigits = integerDigits;
      if (i - start === 2 && integerStart !== start && bytes[integerStart] === ZERO) spelling.negativeZero = true;
    }
    // Decimal digits before the point, plus the exponent: how many digits the value has before its point.
    const leading = integerDigits === 1 && bytes[integerStart] === ZERO ? 0 : integerDigits;
    if (leading + exponent > 308) spelling.mayOverflow = true;
    if (!reprLike && spelling.odd !== undefined) {
      if (spelling.odd.length >= 2 * MAX_ODD) spelling.odd = undefined;
      else spelling.odd.push(start - open, i - open);
    }
    length++;
    while (isWhitespace(c)) {
      spelling.compact = false;
      c = bytes[++i];
    }
    if (c === CLOSE) return { close: i, length, spelling };
    if (c !== COMMA) return undefined;
    c = bytes[++i];
    while (isWhitespace(c)) {
      spelling.compact = false;
      c = bytes[++i];
    }
  }
}

/**
 * Whether the fraction digits `from`..`to` of a `0.` number put its value
 * at 1e-4 or more: a non-zero digit among the first four.
 */
function nonZeroInFirstFour(bytes: Uint8Array, from: number, to: number): boolean {
  for (let k = from; k < from + 4 && k < to; k++) if (bytes[k] !== ZERO) return true;
  return false;
}

/** Characters of text in one piece given to a sink: large enough to hash or write at full speed. */
const PIECE_BYTES = 1 << 16;

/** Bytes of text per JSON.parse call when a list's values are read: below V8's large-object size (128 KiB), so each chunk stays young garbage. */
const CHUNK_BYTES = 1 << 15;

/** Elements per piece when a list whose values were read is written from them. */
const FLOATS_PER_CHUNK = 4096;

/** A list's text, or once a float64 view has read them, its values instead. */
interface ListSource {
  text: Uint8Array | undefined;
  floats: Float64Array | undefined;
}

/**
 * A long list of plain numbers, kept as its JSON text. Without a dtype it
 * stands for the list as parseJsonExactly reads it (`values()`); with one
 * (`withDtype`), for the record form of a literal of that dtype: every
 * element a float (float64) or an integer (int64).
 */
export class NumberList {
  /** Shared by the list and its dtype views: the text, until a float64 view's values are read and replace it. */
  readonly #source: ListSource;
  readonly #length: number;
  readonly #spelling: NumberSpelling;
  readonly #dtype: 'float64' | 'int64' | undefined;

  /** `text` runs from the list's `[` to its `]`, as scanNumberList found it. */
  constructor(text: Uint8Array | ListSource, length: number, spelling: NumberSpelling, dtype?: 'float64' | 'int64') {
    this.#source = text instanceof Uint8Array ? { text, floats: undefined } : text;
    this.#length = length;
    this.#spelling = spelling;
    this.#dtype = dtype;
  }

  get length(): number {
    return this.#length;
  }

  /** The dtype the list stands for, if any. */
  get dtype(): 'float64' | 'int64' | undefined {
    return this.#dtype;
  }

  /**
   * Whether the list can stand for an array of `dtype` without its values
   * being read: for float64, every number reads as the double `Number`
   * gives for its text and none may overflow; for int64, every number is
   * an integer of at most 15 digits. Where this is false, the list is read
   * as values() and goes the way every literal goes.
   */
  holds(dtype: 'float64' | 'int64'): boolean {
    const s = this.#spelling;
    if (s.negativeZero) return false;
    return dtype === 'float64' ? !s.mayOverflow : s.allIntegers && s.maxIntegerDigits <= 15;
  }

  /** The same list standing for a literal of `dtype` (which it must hold). */
  withDtype(dtype: 'float64' | 'int64'): NumberList {
    if (!this.holds(dtype)) throw new Error(`this list cannot stand for a ${dtype} array without being read`);
    return new NumberList(this.#source, this.#length, this.#spelling, dtype);
  }

  /**
   * Whether the list has a candidate canonical text cheaper to write than
   * the canonical text itself: for a compact float64 list with few odd
   * numbers (NumberSpelling.odd), its own text with each odd number
   * rewritten as repr writes it. That is the canonical text exactly if
   * every other number is already spelled as repr would spell it, which is
   * not checked here.
   */
  get rawCandidate(): boolean {
    const s = this.#spelling;
    return this.#dtype === 'float64' && s.compact && s.odd !== undefined && this.#source.text !== undefined;
  }

  /** The values exactly as parseJsonExactly reads the text (numbers, bigints, JsonFloats). */
  values(): unknown[] {
    return parseJsonExactly(this.#latin1(0, this.#text().length)) as unknown[];
  }

  /** The record form as plain values: every element a float (float64) or integer (int64), else values(). */
  recordValues(): unknown[] {
    if (this.#dtype === 'float64') return Array.from(this.float64(), (x) => asFloat(x));
    return this.values();
  }

  /** What JSON.stringify and formatJson write for the list: its record form. */
  toJSON(): unknown[] {
    return this.recordValues();
  }

  /**
   * The elements as doubles (float64: `Number` of each number's text). On a
   * float64 view, the array is kept and the text let go: the array is what
   * the list is from then on (its canonical text is repr of each element),
   * and it is less than half the size of the text.
   */
  float64(): Float64Array {
    const source = this.#source;
    if (source.floats !== undefined) return source.floats;
    const out = new Float64Array(this.#length);
    let n = 0;
    this.#forEachChunk((numbers) => {
      for (const x of numbers) out[n++] = x;
    });
    if (this.#dtype === 'float64') {
      source.floats = out;
      source.text = undefined;
    }
    return out;
  }

  /** The elements as int64 (for a list that holds int64: integers of at most 15 digits, exact as doubles). */
  int64(): BigInt64Array {
    const out = new BigInt64Array(this.#length);
    let n = 0;
    this.#forEachChunk((numbers) => {
      for (const x of numbers) out[n++] = BigInt(x);
    });
    return out;
  }

  /**
   * The canonical text of the record form, to `sink` in pieces of about
   * 64 KiB (a piece is ASCII text, or its bytes, which are the sink's only
   * during the call). With `trustRaw` and a
   * rawCandidate, the candidate text is written instead: the caller then
   * has to know, another way, that it is the same text.
   */
  writeCanonical(sink: (piece: string | Uint8Array) => void, trustRaw = false): void {
    if (this.#dtype === undefined) throw new Error('an untyped number list has no canonical form of its own');
    if (this.#dtype === 'float64' && trustRaw && this.rawCandidate) {
      this.#writeCandidate(sink);
      return;
    }
    if (this.#dtype === 'int64' && this.#spelling.compact) {
      // Integers of at most 15 digits, none `-0`: JSON's spelling of each is the canonical one.
      this.#writeBytes(sink, 0, this.#text().length);
      return;
    }
    // A float64 list is read into its array here (kept, the text let go): writing its canonical text is what
    // a first run does before it runs the node, which needs the array.
    if (this.#dtype === 'float64') this.float64();
    // Written into one buffer, reused: strings gathered into pieces would outlive young collections, and pile up.
    const write = this.#dtype === 'float64' ? floatText : String;
    const out = Buffer.allocUnsafe(PIECE_BYTES + 64);
    out[0] = OPEN;
    let n = 1;
    let first = true;
    this.#forEachChunk((numbers) => {
      for (const x of numbers) {
        if (!first) out[n++] = COMMA;
        first = false;
        n += out.write(write(x), n, 'latin1');
        if (n >= PIECE_BYTES) {
          sink(out.subarray(0, n));
          n = 0;
        }
      }
    });
    out[n++] = CLOSE;
    sink(out.subarray(0, n));
  }

  /** The text as it is, but each odd number as repr writes its value. */
  #writeCandidate(sink: (piece: string | Uint8Array) => void): void {
    const odd = this.#spelling.odd ?? [];
    let from = 0;
    for (let k = 0; k < odd.length; k += 2) {
      const start = odd[k] as number;
      const end = odd[k + 1] as number;
      this.#writeBytes(sink, from, start);
      sink(floatText(Number(this.#latin1(start, end))));
      from = end;
    }
    this.#writeBytes(sink, from, this.#text().length);
  }

  #writeBytes(sink: (piece: string | Uint8Array) => void, from: number, to: number): void {
    const text = this.#text();
    for (let at = from; at < to; at += PIECE_BYTES) sink(text.subarray(at, Math.min(to, at + PIECE_BYTES)));
  }

  /** The text; a list whose text was let go (float64()) is read only through its values. */
  #text(): Uint8Array {
    const { text } = this.#source;
    if (text === undefined) throw new Error('the text of this number list was let go when its values were read');
    return text;
  }

  #latin1(from: number, to: number): string {
    const text = this.#text();
    return Buffer.from(text.buffer, text.byteOffset + from, to - from).toString('latin1');
  }

  /** The numbers, a chunk at a time, as JSON.parse reads them (correctly rounded doubles). */
  #forEachChunk(visit: (numbers: ArrayLike<number> & Iterable<number>) => void): void {
    const { floats } = this.#source;
    if (floats !== undefined) {
      for (let at = 0; at < floats.length; at += FLOATS_PER_CHUNK) visit(floats.subarray(at, at + FLOATS_PER_CHUNK));
      return;
    }
    const text = this.#text();
    const end = text.length - 1;
    let from = 1;
    while (from < end) {
      let to = Math.min(end, from + CHUNK_BYTES);
      if (to < end) {
        to = text.indexOf(COMMA, to);
        if (to < 0 || to > end) to = end;
      }
      visit(JSON.parse(`[${this.#latin1(from, to)}]`) as number[]);
      from = to + 1;
    }
  }
}

/** Whether a value is a NumberList. */
export function isNumberList(value: unknown): value is NumberList {
  return value instanceof NumberList;
}

/** A value with each NumberList replaced by its record form (plain values), for code that walks values. */
export function withListsRead(value: unknown): unknown {
  if (value instanceof NumberList) return value.recordValues();
  if (Array.isArray(value))
    return value.some((item) => withListsRead(item) !== item) ? value.map(withListsRead) : value;
  if (typeof value !== 'object' || value === null) return value;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  let out: { [key: string]: unknown } | undefined;
  for (const [key, child] of Object.entries(value)) {
    const read = withListsRead(child);
    if (read !== child) {
      out ??= { ...(value as { [key: string]: unknown }) };
      out[key] = read;
    }
  }
  return out ?? value;
}
