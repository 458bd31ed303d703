/**
 * Numbers in canonical JSON, checked against Python's own json module: the
 * text `json.dumps(json.loads(text), separators=(',', ':'), sort_keys=True,
 * ensure_ascii=True)` gives is what parseJsonExactly + canonicalJson must
 * give, for floats of every form, integers at and past 2^53, the int64
 * extremes, and a record that mixes them with references.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/identity/canonical-json.js';
import { fingerprint, type NodeRecord } from '../../src/identity/fingerprint.js';
import { JsonFloat, asFloat, exactInt64, floatText, numberText } from '../../src/identity/json-numbers.js';
import { formatJson, needsLosslessParse, parseJsonExactly, withPlainFloats } from '../../src/identity/json-text.js';

const hasPython = spawnSync('python3', ['-c', 'import json'], { encoding: 'utf8' }).status === 0;

/** Python's canonical text for each JSON text, one per line. */
function pythonCanonical(texts: readonly string[]): string[] {
  const script = [
    'import json, sys',
    'for line in sys.stdin:',
    '    print(json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"), ensure_ascii=True))',
  ].join('\n');
  const result = spawnSync('python3', ['-c', script], {
    input: `${texts.join('\n')}\n`,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout.trimEnd().split('\n');
}

const UID = '266bb4e33dfb7be89c04735cebe31cae8d7714243ccb9d137a1a37a46a645365';

/** Number literals as a file may spell them: every float form Python's repr distinguishes, and integers around 2^53 and int64. */
const NUMBER_TEXTS = [
  // floats: integral, fractional, exponent forms on both sides of 1e-4 and 1e16, signs, negative zero
  '1.0',
  '2.5',
  '-1.0',
  '0.0',
  '-0.0',
  '100.0',
  '1e5',
  '1E5',
  '1e+5',
  '2.50',
  '0.1',
  '0.3333333333333333',
  '1e20',
  '1e-7',
  '1.5e-7',
  '1e16',
  '1e15',
  '9999999999999998.0',
  '1e-4',
  '0.0001',
  '0.00001',
  '0.00011',
  '123456789.125',
  '1.5e300',
  '5e-324',
  '1.7976931348623157e308',
  '-2.5e-310',
  '1.9999999999999999',
  '9007199254740993.0',
  '1e22',
  '1e21',
  '12345678901234567890.0',
  '0.5e1',
  '-0e0',
  // integers: small, at and past 2^53, the int64 extremes and beyond, and -0
  '0',
  '-0',
  '7',
  '-12',
  '9007199254740991',
  '9007199254740992',
  '9007199254740993',
  '-9007199254740993',
  '1234567890123456',
  '9223372036854775807',
  '-9223372036854775808',
  '9223372036854775808',
  '18446744073709551616',
  '1000000000000000000000000000000',
];

/** Whole records, as a workflow or a submission spells them. */
const RECORD_TEXTS = [
  '{"depends":[],"input":{"data":[[1.0,2.5]]},"operation":["scalems","Float64"]}',
  '{"depends":[],"input":{"data":[[9223372036854775807,-9223372036854775808]]},"operation":["scalems","Integer64"]}',
  `{"operation":["run-graph","Mix","1"],"depends":["${UID}"],"input":{"a":{"$ref":"${UID}.data"},"scale":1.0,"big":12345678901234567890,` +
    `"tiny":1e-7,"zero":-0.0,"huge":1e20,"rows":[[1.0,2],[3e20,-4.5]],"list":[{"$ref":"${UID}"},0.1,-9223372036854775808],"name":"caf\\u00e9"}}`,
  '{"nested":{"deep":[[[1.0]]],"ints":[1,2,3]},"e":1E-10,"f":[1.0e0,10.0e-1]}',
];

describe('floatText is Python repr', () => {
  it('writes the forms the issue names', () => {
    expect(floatText(1)).toBe('1.0');
    expect(floatText(1e20)).toBe('1e+20');
    expect(floatText(1e-7)).toBe('1e-07');
    expect(floatText(-0)).toBe('-0.0');
    expect(floatText(1e16)).toBe('1e+16');
    expect(floatText(9999999999999998)).toBe('9999999999999998.0');
    expect(floatText(1e-4)).toBe('0.0001');
    expect(floatText(1e-5)).toBe('1e-05');
    expect(floatText(1.5e300)).toBe('1.5e+300');
  });

  it.skipIf(!hasPython)('agrees with Python on thousands of random doubles of every magnitude', () => {
    const view = new DataView(new ArrayBuffer(8));
    const values: number[] = [];
    // A fixed-seed generator, so a failure can be reproduced.
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    while (values.length < 5000) {
      view.setUint32(0, Math.floor(random() * 2 ** 32));
      view.setUint32(4, Math.floor(random() * 2 ** 32));
      const bits = view.getFloat64(0);
      if (Number.isFinite(bits)) values.push(bits);
      values.push(Number((random() * 10 ** Math.floor(random() * 44 - 22)).toPrecision(1 + Math.floor(random() * 17))));
    }
    const texts = values.map((x) => x.toExponential(20));
    const python = pythonCanonical(texts.map((t) => `[${t}]`));
    values.forEach((x, i) => expect(`[${floatText(x)}]`).toBe(python[i]));
  });
});

describe('parseJsonExactly', () => {
  it('keeps integers past 2^53 whole, as bigints, and safe ones as numbers', () => {
    expect(parseJsonExactly('[9223372036854775807,-9223372036854775808,9007199254740993,9007199254740991,-0]')).toEqual(
      [9223372036854775807n, -9223372036854775808n, 9007199254740993n, 9007199254740991, 0],
    );
  });

  it('keeps a float that a number would present as an integer a float', () => {
    const [one, zero, big, fraction] = parseJsonExactly('[1.0, -0.0, 1e20, 2.5]') as unknown[];
    expect(one).toEqual(new JsonFloat(1));
    expect(Object.is((zero as JsonFloat).value, -0)).toBe(true);
    expect(big).toBe(1e20);
    expect(fraction).toBe(2.5);
  });

  it('reads ordinary texts with JSON.parse and the rest losslessly', () => {
    expect(needsLosslessParse('{"uid":"266bb4e33dfb7be89c04735cebe31cae","size":144,"shape":[2,2],"x":0.5}')).toBe(
      false,
    );
    for (const text of [
      '[1.0]',
      '[1e5]',
      '{"a": 12345678901234567}',
      '[-0]',
      '-0.0',
      '[1.00000000000000001]',
      '[0.99999999999999999]',
      '[-123.999999999999999]',
      '[123456789012345.5]',
      '[2.50E1]',
      '{"s":"\\\\","n":3.0}',
    ]) {
      expect(needsLosslessParse(text)).toBe(true);
    }
    // Digits, exponents and zero fractions inside strings, escaped quotes included, are not numbers.
    for (const text of [
      '{"a":"x\\"1.0","b":2}',
      '["4e3", "1234567890123456789", "-0"]',
      '[-1, 0, 0.5, -0.25, 123456789012345]',
      // Long fractions far from an integer: JSON.parse reads them as Python does.
      '{"a":[0.12345678901234567, 0.8444218515250481, 12.000000000001234]}',
      '[1.5e-07, -2.25E-5, 3.3e+300]',
    ]) {
      expect(needsLosslessParse(text)).toBe(false);
    }
  });

  it('sends through JSON.parse no float whose value is an integer', () => {
    // Tokens with 15 to 19 significant digits, many close to an integer: a miss would read as an integer.
    let seed = 7;
    const random = (): number => (seed = (seed * 48271) % 2147483647) / 2147483647;
    for (let n = 0; n < 20000; n++) {
      const integer = String(Math.floor(random() * 10 ** Math.floor(random() * 16)));
      const fill = random() < 0.5 ? '0' : '9';
      const run = fill.repeat(Math.floor(random() * 19));
      const token = `${integer}.${run}${Math.floor(random() * 1000) + 1}`;
      if (!needsLosslessParse(`[${token}]`)) expect(Number.isInteger(Number(token)), token).toBe(false);
    }
  });

  it('lets the last of duplicate keys win, as JSON.parse and Python do', () => {
    expect(parseJsonExactly('{"a": 1.0, "a": 2.0}')).toEqual({ a: new JsonFloat(2) });
  });

  it('throws the SyntaxError JSON.parse throws for invalid text, on either path', () => {
    for (const text of ['[1.0,]', '{"a": 1e5', '[1, 2']) {
      let expected: unknown;
      try {
        JSON.parse(text);
      } catch (error) {
        expected = error;
      }
      expect(() => parseJsonExactly(text)).toThrow((expected as Error).message);
    }
  });

  it('keeps a "__proto__" key an own property', () => {
    const value = parseJsonExactly('{"__proto__": {"x": 1.0}}') as object;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__']);
  });
});

describe('formatJson', () => {
  it('writes like JSON.stringify, but exactly: bigints whole, JsonFloats as floats', () => {
    const value = {
      b: [1, 2n ** 64n, new JsonFloat(1)],
      a: { s: 'é', n: null, skip: undefined },
      e: [] as unknown[],
      o: {},
    };
    expect(formatJson(value)).toBe('{"b":[1,18446744073709551616,1.0],"a":{"s":"é","n":null},"e":[],"o":{}}');
    expect(formatJson({ a: [1, { b: 2 }] }, 2)).toBe(JSON.stringify({ a: [1, { b: 2 }] }, null, 2));
  });

  it('round-trips through parseJsonExactly', () => {
    const value = { x: [new JsonFloat(1), -9223372036854775808n, 1e20, 1e-7, new JsonFloat(-0), 3] };
    expect(canonicalJson(parseJsonExactly(formatJson(value, 2)))).toBe(canonicalJson(value));
  });
});

describe('withPlainFloats', () => {
  it('turns JsonFloats into numbers and shares whatever holds none', () => {
    const untouched = { a: [1, 2] };
    const value = { untouched, f: [new JsonFloat(1), 2n] };
    const plain = withPlainFloats(value);
    expect(plain).toEqual({ untouched, f: [1, 2n] });
    expect(plain.untouched).toBe(untouched);
    expect(withPlainFloats(untouched)).toBe(untouched);
  });
});

describe('asFloat / exactInt64 / numberText', () => {
  it('asFloat gives the form that writes as a float', () => {
    expect(numberText(asFloat(1))).toBe('1.0');
    expect(numberText(asFloat(2n ** 70n))).toBe('1.1805916207174113e+21');
    expect(asFloat(2.5)).toBe(2.5);
  });

  it('exactInt64 accepts the int64 range and says why anything else is not in it', () => {
    expect(exactInt64(-9223372036854775808n)).toEqual({ value: -9223372036854775808n });
    expect(exactInt64(new JsonFloat(3))).toEqual({ value: 3n });
    expect(exactInt64(9223372036854775808n)).toEqual({ problem: expect.stringContaining('outside the int64 range') });
    expect(exactInt64(1e19)).toEqual({ problem: expect.stringContaining('past 2^53') });
    expect(exactInt64(0.5)).toEqual({ problem: 'not an integer' });
  });
});

describe.skipIf(!hasPython)(
  'canonical JSON of exactly-read text agrees with Python json.dumps(json.loads(text))',
  () => {
    it('for every number form, alone and in a list', () => {
      const texts = [...NUMBER_TEXTS, `[${NUMBER_TEXTS.join(',')}]`];
      const python = pythonCanonical(texts);
      texts.forEach((text, i) =>
        expect(`${text} -> ${canonicalJson(parseJsonExactly(text))}`).toBe(`${text} -> ${python[i]}`),
      );
    });

    it('for records mixing them with references, uid included', () => {
      const python = pythonCanonical(RECORD_TEXTS);
      RECORD_TEXTS.forEach((text, i) => {
        const value = parseJsonExactly(text);
        expect(canonicalJson(value)).toBe(python[i]);
        if ((value as Partial<NodeRecord>).depends !== undefined) {
          expect(fingerprint(value as NodeRecord)).toBe(
            createHash('sha256')
              .update(python[i] ?? '', 'utf8')
              .digest('hex'),
          );
        }
      });
    });

    it('gives SCALE-MS uids for Float64 [[1.0, 2.5]] and Integer64 at the int64 extremes', () => {
      expect(fingerprint(parseJsonExactly(RECORD_TEXTS[0] ?? '') as NodeRecord)).toBe(
        '8a93d11a535791d6c3fcc5a1cc7994ae25a692fa544d779a73aadf1ece3fe66c',
      );
      expect(fingerprint(parseJsonExactly(RECORD_TEXTS[1] ?? '') as NodeRecord)).toBe(
        '9b3c06e5eed92288553b30d91ceb1dcf2b5d1dc608566e7f1577e2d817e95cc8',
      );
      // The same records built in code: a bigint for the extremes, a JsonFloat for 1.0.
      expect(
        fingerprint({ depends: [], input: { data: [[new JsonFloat(1), 2.5]] }, operation: ['scalems', 'Float64'] }),
      ).toBe('8a93d11a535791d6c3fcc5a1cc7994ae25a692fa544d779a73aadf1ece3fe66c');
      expect(
        fingerprint({
          depends: [],
          input: { data: [[9223372036854775807n, -9223372036854775808n]] },
          operation: ['scalems', 'Integer64'],
        }),
      ).toBe('9b3c06e5eed92288553b30d91ceb1dcf2b5d1dc608566e7f1577e2d817e95cc8');
    });
  },
);
