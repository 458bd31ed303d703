import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { assertPlainJson, canonicalJson, writeCanonicalJson } from '../../src/identity/canonical-json.js';
import { RunGraphError } from '../../src/errors.js';
import { JsonFloat } from '../../src/identity/json-numbers.js';

const hasPython = spawnSync('python3', ['-c', 'import json'], { encoding: 'utf8' }).status === 0;

/** Independent reference for ASCII keys: recursively rebuild objects with keys in sorted order, then JSON.stringify. */
function sortedCopy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedCopy);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortedCopy((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

function notCanonical(value: unknown): RunGraphError {
  try {
    canonicalJson(value);
  } catch (error) {
    expect(error).toBeInstanceOf(RunGraphError);
    const e = error as RunGraphError;
    expect(e.code).toBe('E_NOT_CANONICAL');
    return e;
  }
  throw new Error(`canonicalJson accepted ${String(value)}`);
}

describe('canonicalJson: form', () => {
  it('sorts keys at every level and leaves no whitespace', () => {
    const value = { z: 1, a: { y: [{ d: 1, c: 2 }], b: null }, m: 'x y' };
    expect(canonicalJson(value)).toBe('{"a":{"b":null,"y":[{"c":2,"d":1}]},"m":"x y","z":1}');
  });

  it('matches JSON.stringify of a manually key-sorted copy for ASCII input', () => {
    const samples: unknown[] = [
      { b: [3, 2, 1], a: { d: 'quote " and backslash \\', c: [true, false, null] }, C: -0.5, '': 0.25 },
      [{ zz: { yy: { xx: 1 } }, aa: [] }, 'tab\tnewline\n', 12345678901234],
      { nested: [[[{ k2: 1, k1: 2 }]]], empty: {}, list: [{}] },
    ];
    for (const sample of samples) {
      expect(canonicalJson(sample)).toBe(JSON.stringify(sortedCopy(sample)));
    }
  });

  it('writes the same text for a value small enough for the one-walk writer and for one just past it', () => {
    // Past a few hundred values a record goes to the writers that count and check first: both must agree.
    for (const count of [10, 500, 520, 3000]) {
      const sample = {
        z: Array.from({ length: count }, (_, i) => (i % 3 === 0 ? i : i % 3 === 1 ? i + 0.5 : `s${i}`)),
        a: { y: [0.25, -0, 12345678901234], x: '\u00e9\u{1F600}' },
      };
      const expected = `{"a":{"x":"\\u00e9\\ud83d\\ude00","y":[0.25,0,12345678901234]},"z":${JSON.stringify(sample.z)}}`;
      expect(canonicalJson(sample), `${count} values`).toBe(expected);
      let streamed = '';
      writeCanonicalJson(
        sample,
        (piece) => (streamed += typeof piece === 'string' ? piece : Buffer.from(piece).toString('latin1')),
      );
      expect(streamed, `${count} values, streamed`).toBe(expected);
    }
  });

  it('writes numbers as Python does: bigints whole, floats as repr, JsonFloat as a float', () => {
    expect(canonicalJson({ i: 9223372036854775807n, j: -(2n ** 80n), k: 7n })).toBe(
      '{"i":9223372036854775807,"j":-1208925819614629174706176,"k":7}',
    );
    expect(canonicalJson([1, new JsonFloat(1), -0, new JsonFloat(-0), 1e20, 1e-7, 2.5, 2 ** 53])).toBe(
      '[1,1.0,0,-0.0,1e+20,1e-07,2.5,9007199254740992.0]',
    );
  });

  it('keeps array order (arrays are not sorted)', () => {
    expect(canonicalJson([3, 1, 2, 'b', 'a'])).toBe('[3,1,2,"b","a"]');
  });

  it('serializes top-level scalars', () => {
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson(true)).toBe('true');
    expect(canonicalJson(-12)).toBe('-12');
    expect(canonicalJson('s')).toBe('"s"');
  });

  it('escapes non-ASCII as lowercase \\uXXXX, astral characters as a surrogate pair', () => {
    expect(canonicalJson('é')).toBe('"\\u00e9"');
    expect(canonicalJson('Ωmega')).toBe('"\\u03a9mega"');
    expect(canonicalJson('😀')).toBe('"\\ud83d\\ude00"');
    expect(canonicalJson('\uffff')).toBe('"\\uffff"');
    expect(canonicalJson({ clé: 'ü' })).toBe('{"cl\\u00e9":"\\u00fc"}');
  });

  it('produces pure ASCII that parses back to the same value', () => {
    const value = { ключ: ['日本語', '😀x', 'e\u0301'], ascii: 'plain' };
    const text = canonicalJson(value);
    expect(text).toMatch(/^[\x20-\x7e]*$/);
    expect(JSON.parse(text)).toEqual(value);
  });

  it('escapes control characters the way JSON (and Python) does', () => {
    expect(canonicalJson('a\nb\tc')).toBe('"a\\nb\\tc"');
    expect(canonicalJson('\u0001\u001f')).toBe('"\\u0001\\u001f"');
  });

  it('escapes DEL (U+007F) like Python json.dumps(ensure_ascii=True) does', () => {
    // Python's ASCII escaper passes only ' '..'~' through; SCALE-MS hashes that form.
    expect(canonicalJson('\u007f')).toBe('"\\u007f"');
  });

  it('sorts keys by code point, as Python does, not by UTF-16 code unit', () => {
    const value = { '\u{1F600}': 1, '\uffff': 2, a: 3 };
    // The naive JS sort would put the astral key (lead surrogate 0xd83d) before U+FFFF.
    expect(Object.keys(value).sort()).toEqual(['a', '\u{1F600}', '\uffff']);
    expect(canonicalJson(value)).toBe('{"a":3,"\\uffff":2,"\\ud83d\\ude00":1}');
  });

  it('orders a prefix before its extensions and uppercase before lowercase', () => {
    expect(canonicalJson({ ab: 1, a: 2, B: 3 })).toBe('{"B":3,"a":2,"ab":1}');
  });

  it('accepts objects without a prototype and shared (non-circular) references', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare['y'] = 1;
    bare['x'] = 2;
    expect(canonicalJson(bare)).toBe('{"x":2,"y":1}');
    const shared = { k: 1 };
    expect(canonicalJson({ p: shared, q: [shared, shared] })).toBe('{"p":{"k":1},"q":[{"k":1},{"k":1}]}');
  });
});

describe('canonicalJson: rejections', () => {
  class Point {
    x = 1;
  }
  const circularObject: Record<string, unknown> = { a: 1 };
  circularObject['self'] = circularObject;
  const circularArray: unknown[] = [1];
  circularArray.push({ back: circularArray });
  // A hole at index 1, not an undefined element.
  // eslint-disable-next-line no-sparse-arrays -- the hole is the case under test
  const sparse = [1, , 3];

  const cases: [string, unknown, string][] = [
    ['NaN', { a: NaN }, '$.a'],
    ['Infinity', { a: [1, Infinity] }, '$.a[1]'],
    ['-Infinity', { b: { c: -Infinity } }, '$.b.c'],
    ['undefined as a value', { a: undefined }, '$.a'],
    ['undefined as an array element', { a: [0, undefined] }, '$.a[1]'],
    ['undefined at top level', undefined, '$'],
    ['a JsonFloat of NaN', { f: new JsonFloat(NaN) }, '$.f'],
    ['Float64Array', { data: new Float64Array([1, 2]) }, '$.data'],
    ['Uint8Array', [new Uint8Array(2)], '$[0]'],
    ['function', { f: () => 1 }, '$.f'],
    ['symbol', { s: Symbol('x') }, '$.s'],
    ['Date', { when: new Date(0) }, '$.when'],
    ['Map', { m: new Map([[1, 2]]) }, '$.m'],
    ['class instance', { p: new Point() }, '$.p'],
    ['circular object', circularObject, '$.self'],
    ['circular array', circularArray, '$[1].back'],
    ['sparse array', { s: sparse }, '$.s[1]'],
  ];

  for (const [name, value, path] of cases) {
    it(`rejects ${name}, naming the path ${path}`, () => {
      const error = notCanonical(value);
      expect(error.message).toContain(`at ${path} `);
      expect(error.location.field).toBe(path);
    });
  }

  it('assertPlainJson uses the given root path in its message', () => {
    expect(() =>
      assertPlainJson(
        {
          data: [
            [1, 2],
            [3, NaN],
          ],
        },
        'input',
      ),
    ).toThrow(/input\.data\[1\]\[1\]/);
    try {
      assertPlainJson({ data: [NaN] }, 'input');
      expect.unreachable();
    } catch (error) {
      expect((error as RunGraphError).code).toBe('E_NOT_CANONICAL');
    }
  });

  it('assertPlainJson accepts plain JSON silently', () => {
    expect(() => assertPlainJson({ a: [1, 'x', null, true, { b: -0.5 }] })).not.toThrow();
  });

  it('the typed-array rejection hints at nested lists or an .npy input', () => {
    expect(notCanonical(new Float64Array(1)).hint).toMatch(/nested lists|\.npy/);
  });
});

describe.skipIf(!hasPython)('canonicalJson agrees with Python json.dumps(sort_keys, compact, ensure_ascii)', () => {
  it('gives the same text for integer/string/boolean/null records', () => {
    const samples: unknown[] = [
      {
        depends: [],
        input: {
          data: [
            [1, 2],
            [3, 4],
          ],
        },
        operation: ['scalems', 'Integer64'],
      },
      { '\u{1F600}': 1, '\uffff': 2, é: 3, a: [true, false, null], Z: -7 },
      { text: 'DEL\u007f tab\t nl\n quote" bs\\ slash/ ctrl\u0001 \u2028 😀 \u00e9' },
      { nested: { b: { d: [], c: {} }, a: 'x' }, big: 9007199254740991 },
      { 'lone surrogate': 'x\ud800y', '\u0080': '\u00ff', '~': '\u0000' },
    ];
    const script = [
      'import json, sys',
      'for line in sys.stdin:',
      '    print(json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"), ensure_ascii=True))',
    ].join('\n');
    const input = samples.map((s) => JSON.stringify(s)).join('\n') + '\n';
    const result = spawnSync('python3', ['-c', script], { input, encoding: 'utf8' });
    expect(result.status).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(samples.length);
    samples.forEach((sample, i) => expect(canonicalJson(sample)).toBe(lines[i]));
  });
});

describe('writeCanonicalJson', () => {
  const pieces = (value: unknown): string[] => {
    const out: string[] = [];
    writeCanonicalJson(value, (piece) =>
      out.push(typeof piece === 'string' ? piece : Buffer.from(piece).toString('latin1')),
    );
    return out;
  };

  it('streams a large value in pieces whose text is canonicalJson exactly', () => {
    const floats = Array.from({ length: 50_000 }, (_, i) => (i % 7 === 0 ? 1e-7 * i : (i * 0.618033988749895) % 1));
    const value = {
      z: floats,
      'é😀': ['ü', 'x\u007f', new JsonFloat(2), 2n ** 70n, -0, 1e22, null, true],
      a: { b: [1, 2.5, 'c'] },
    };
    const out = pieces(value);
    expect(out.length).toBeGreaterThan(5);
    expect(out.join('')).toBe(canonicalJson(value));
    expect(out.every((piece) => [...piece].every((ch) => ch.charCodeAt(0) < 0x7f))).toBe(true);
  });

  it('gives a small value as one piece', () => {
    expect(pieces({ b: 1, a: [0.1, 'ü'] })).toEqual([canonicalJson({ b: 1, a: [0.1, 'ü'] })]);
  });

  it('refuses a value that is not plain JSON before writing anything', () => {
    const value = { data: [...Array.from({ length: 10_000 }, () => 0.5), Number.NaN] };
    const out: string[] = [];
    expect(() => writeCanonicalJson(value, (piece) => out.push(String(piece)))).toThrow(/input|data\[10000\]/);
    expect(out).toEqual([]);
  });
});
