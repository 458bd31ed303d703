// A long literal list kept as its text (NumberList): what the scan says of its spelling, that its values and
// typed arrays are what the exact reader gives, and that its canonical text is the one the plain values have
// (and Python's json.dumps), with a candidate text that equals it exactly when every number is spelled as repr.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { canonicalJson, type JsonValue } from '../../src/identity/canonical-json.js';
import { fingerprint, recordText, type NodeRecord, type Uid } from '../../src/identity/fingerprint.js';
import { asFloat, floatText } from '../../src/identity/json-numbers.js';
import { parseJsonExactly } from '../../src/identity/json-text.js';
import { NumberList, scanNumberList } from '../../src/identity/number-list.js';
import { literalAsWritten } from '../../src/values/values.js';

const hasPython = spawnSync('python3', ['-c', 'import json'], { encoding: 'utf8' }).status === 0;
const inCi = process.env['CI'] === 'true';
if (!hasPython && !inCi) console.log('number-list.test: python3 not found, the comparison with json.dumps is skipped');

function listOf(text: string): NumberList {
  const bytes = Buffer.from(text);
  const scanned = scanNumberList(bytes, 0);
  if (scanned === undefined) throw new Error(`not a number list: ${text}`);
  expect(scanned.close).toBe(bytes.length - 1);
  return new NumberList(bytes, scanned.length, scanned.spelling);
}

function canonicalOf(list: NumberList, trustRaw = false): string {
  let text = '';
  list.writeCanonical(
    (piece) => (text += typeof piece === 'string' ? piece : Buffer.from(piece).toString('latin1')),
    trustRaw,
  );
  return text;
}

/** Tokens of every spelling a float64 literal may use, `n` of them. */
function oddFloatTokens(n: number): string[] {
  const spell = [
    (i: number) => String((i * 0.618033988749895) % 1),
    (i: number) => String(i),
    (i: number) => `${i}.0`,
    (i: number) => `${i}e-3`,
    (i: number) => `${i}E2`,
    (i: number) => String(i * 1e-9),
    () => '-0.0',
    (i: number) => `1234567890123456789${i % 10}`,
    () => '0.1000',
    (i: number) => String(i * 1e13 + 0.5),
    () => '5e-324',
    () => '1.7976931348623157e307',
    () => '0.1234567890123456789',
  ];
  return Array.from({ length: n }, (_, i) => (spell[i % spell.length] as (i: number) => string)(i));
}

describe('scanNumberList', () => {
  it('finds the end, the length and the spelling of a flat list of numbers', () => {
    const text = '[1, -2.5e3,0.25 ,7]';
    const scanned = scanNumberList(Buffer.from(text), 0);
    expect(scanned?.close).toBe(text.length - 1);
    expect(scanned?.length).toBe(4);
    expect(scanned?.spelling).toMatchObject({
      compact: false,
      allFloats: false,
      allIntegers: false,
      negativeZero: false,
      maxIntegerDigits: 1,
      mayOverflow: false,
    });
    expect(scanNumberList(Buffer.from('[-0,1]'), 0)?.spelling.negativeZero).toBe(true);
    expect(scanNumberList(Buffer.from('[-0.0,1.5]'), 0)?.spelling).toMatchObject({
      negativeZero: false,
      allFloats: true,
    });
    expect(scanNumberList(Buffer.from('[1e307,1]'), 0)?.spelling.mayOverflow).toBe(false);
    expect(scanNumberList(Buffer.from('[1e308,1]'), 0)?.spelling.mayOverflow).toBe(true);
    expect(scanNumberList(Buffer.from('[10e308,1]'), 0)?.spelling.mayOverflow).toBe(true);
    expect(scanNumberList(Buffer.from(`[${'9'.repeat(310)}]`), 0)?.spelling.mayOverflow).toBe(true);
    expect(scanNumberList(Buffer.from('[0.5E3]'), 0)?.spelling.upperE).toBe(true);
  });

  it('refuses anything that is not a flat list of JSON numbers', () => {
    for (const text of [
      '[]',
      '[[1]]',
      '[1,[2]]',
      '["1"]',
      '[1,]',
      '[,1]',
      '[01]',
      '[1.]',
      '[.5]',
      '[+1]',
      '[1e]',
      '[1 2]',
      '[1,2',
      '[true]',
      '[-]',
      '[1,{}]',
    ])
      expect(scanNumberList(Buffer.from(text), 0), text).toBeUndefined();
  });

  it('marks the numbers not spelled as repr would spell them', () => {
    const text = '[0.5,1,2.0,0.00001,0.0001,1e-07,0.50,12345678901234567.5,3.25]';
    const scanned = scanNumberList(Buffer.from(text), 0);
    const odd = scanned?.spelling.odd ?? [];
    const tokens: string[] = [];
    for (let k = 0; k < odd.length; k += 2) tokens.push(text.slice(odd[k], odd[k + 1]));
    expect(tokens).toEqual(['1', '0.00001', '1e-07', '0.50', '12345678901234567.5']);
  });
});

describe('NumberList', () => {
  const tokens = oddFloatTokens(6000);
  const text = `[${tokens.join(',')}]`;

  it('reads its values as parseJsonExactly does, and as doubles and int64s', () => {
    const list = listOf(text);
    expect(list.length).toBe(tokens.length);
    expect(list.values()).toEqual(parseJsonExactly(text));
    expect([...list.float64()]).toEqual(tokens.map(Number));
    const ints = listOf('[1,-2,345678901234567,0]');
    expect(ints.holds('int64')).toBe(true);
    expect([...ints.withDtype('int64').int64()]).toEqual([1n, -2n, 345678901234567n, 0n]);
  });

  it('stands for a dtype only where that needs none of its values read', () => {
    expect(listOf(text).holds('float64')).toBe(true);
    expect(listOf(text).holds('int64')).toBe(false);
    expect(listOf('[1,-0,2]').holds('float64')).toBe(false);
    expect(listOf('[1,1e999]').holds('float64')).toBe(false);
    expect(listOf('[1,1234567890123456]').holds('int64')).toBe(false);
    expect(() => listOf('[1,-0]').withDtype('int64')).toThrow(/cannot stand for a int64/);
  });

  it("writes the canonical text of the record form, the plain values' canonical text", () => {
    const float64 = listOf(text).withDtype('float64');
    const plain = literalAsWritten(parseJsonExactly(text) as JsonValue, 'float64');
    expect(canonicalOf(float64)).toBe(canonicalJson(plain));
    const ints = '[1,-2,345678901234567,0,-99]';
    expect(canonicalOf(listOf(ints).withDtype('int64'))).toBe(canonicalJson(parseJsonExactly(ints)));
    expect(canonicalOf(listOf('[ 1 , -2 ]').withDtype('int64'))).toBe('[1,-2]');
    // As the record holds it, inside a record, for the writer of whole records.
    expect(canonicalJson({ data: float64, b: 1 })).toBe(canonicalJson({ data: plain, b: 1 }));
  });

  it('has a candidate text that is the canonical text exactly when its numbers are spelled as repr', () => {
    // Every spelling but one that repr would shorten (19 significant digits), which the scan does not mark.
    const reprOrOdd = listOf(`[${tokens.filter((t) => t !== '0.1234567890123456789').join(',')}]`).withDtype('float64');
    expect(reprOrOdd.rawCandidate).toBe(true);
    expect(canonicalOf(reprOrOdd, true) === canonicalOf(reprOrOdd)).toBe(true);
    const odd = listOf(text).withDtype('float64');
    expect(canonicalOf(odd, true) === canonicalOf(odd)).toBe(false);
    // Spelled as repr but for trailing zeros the scan does not see as odd: a candidate, and not the canonical text.
    const trailing = listOf('[0.5,0.25,1.5,0.10000000000000001]').withDtype('float64');
    expect(canonicalOf(trailing, true)).toBe('[0.5,0.25,1.5,0.10000000000000001]');
    expect(canonicalOf(trailing)).toBe('[0.5,0.25,1.5,0.1]');
    expect(listOf('[0.5, 0.25]').withDtype('float64').rawCandidate).toBe(false);
  });

  it('once its doubles are read, lets its text go and is written from them', () => {
    const list = listOf(text);
    const float64 = list.withDtype('float64');
    const before = canonicalOf(float64);
    const doubles = float64.float64();
    expect(float64.float64()).toBe(doubles);
    expect(float64.rawCandidate).toBe(false);
    expect(canonicalOf(float64)).toBe(before);
    expect(float64.recordValues()).toEqual(tokens.map((t) => asFloat(Number(t))));
    expect(() => list.values()).toThrow(/let go/);
  });

  it.skipIf(!hasPython && !inCi)("agrees with Python's json.dumps of the floats", () => {
    if (!hasPython) throw new Error('python3 is needed in CI for this comparison');
    const script =
      "import json,sys; d=json.load(sys.stdin); sys.stdout.write(json.dumps([float(x) for x in d], separators=(',', ':'), ensure_ascii=True))";
    const python = spawnSync('python3', ['-c', script], { input: text, encoding: 'utf8', maxBuffer: 1 << 26 });
    expect(python.status, python.stderr).toBe(0);
    expect(canonicalOf(listOf(text).withDtype('float64'))).toBe(python.stdout);
    expect(floatText(5e-324)).toBe('5e-324');
  });
});

describe('fingerprint, given the records a working directory holds', () => {
  const tokens = Array.from({ length: 6000 }, (_, i) => String(((i * 0.618033988749895) % 1) * 10 ** ((i % 9) - 6)));
  const recordOf = (text: string): NodeRecord => ({
    depends: [],
    input: { data: listOf(text).withDtype('float64') as unknown as JsonValue },
    operation: ['scalems', 'Float64'],
  });
  const plainUid = (text: string): Uid =>
    fingerprint({
      depends: [],
      input: { data: literalAsWritten(parseJsonExactly(text) as JsonValue, 'float64') },
      operation: ['scalems', 'Float64'],
    });

  it("takes the candidate's uid when a store of it is known, without reading a number", () => {
    const text = `[${tokens.join(',')}]`;
    const uid = plainUid(text);
    const asked: [string, number][] = [];
    const record = recordOf(text);
    const known = (candidate: Uid, bytes: number): boolean => {
      asked.push([candidate, bytes]);
      return candidate === uid;
    };
    expect(fingerprint(record, known)).toBe(uid);
    // Its text is still there: its numbers were never read (reading them lets it go).
    expect((record.input['data'] as unknown as NumberList).rawCandidate).toBe(true);
    expect(asked).toEqual([[uid, recordText(record).length]]);
  });

  it('hashes the ordinary way when the candidate is not the canonical text, or no store of it is known', () => {
    // 19 significant digits, which repr shortens: the candidate text is not the canonical one.
    const text = `[${tokens.join(',')},0.1234567890123456789]`;
    const uid = plainUid(text);
    const asked: string[] = [];
    const onlyTheRealOne = (candidate: Uid): boolean => {
      asked.push(candidate);
      return candidate === uid;
    };
    expect(fingerprint(recordOf(text), onlyTheRealOne)).toBe(uid);
    expect(asked).toHaveLength(1);
    expect(asked[0]).not.toBe(uid);
    expect(fingerprint(recordOf(`[${tokens.join(',')}]`), () => false)).toBe(plainUid(`[${tokens.join(',')}]`));
  });
});
