import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RunGraphError } from '../../src/errors.js';
import {
  fingerprint,
  isUid,
  parseUid,
  recordText,
  sha256Hex,
  shortUid,
  type NodeRecord,
  type Uid,
} from '../../src/identity/fingerprint.js';

// From SCALE-MS's own tests (see DESIGN.md).
const REFERENCE_TEXT = '{"depends":[],"input":{"data":[[1,2],[3,4]]},"operation":["scalems","Integer64"]}';
const REFERENCE_UID = '266bb4e33dfb7be89c04735cebe31cae8d7714243ccb9d137a1a37a46a645365';

function referenceRecord(): NodeRecord {
  return {
    depends: [],
    input: {
      data: [
        [1, 2],
        [3, 4],
      ],
    },
    operation: ['scalems', 'Integer64'],
  };
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

describe('fingerprint', () => {
  it('reproduces the SCALE-MS reference vector', () => {
    expect(recordText(referenceRecord())).toBe(REFERENCE_TEXT);
    expect(fingerprint(referenceRecord())).toBe(REFERENCE_UID);
  });

  it('the reference text hashes (with node:crypto) to the reference uid', () => {
    // Guards the test data itself: the vector is self-consistent.
    expect(sha256(REFERENCE_TEXT)).toBe(REFERENCE_UID);
  });

  it('is the sha256 of the canonical record text', () => {
    const records: NodeRecord[] = [
      referenceRecord(),
      {
        depends: [REFERENCE_UID as Uid],
        input: { a: { $ref: `${REFERENCE_UID}.data` }, note: 'é😀' },
        operation: ['run-graph', 'Add', '1'],
      },
      { depends: [], input: {}, operation: ['x', 'y'] },
    ];
    for (const record of records) {
      const text = recordText(record);
      expect(text).toMatch(/^[\x20-\x7e]*$/);
      expect(fingerprint(record)).toBe(sha256(text));
    }
  });

  it('does not depend on the key order of the input or of the record', () => {
    const reordered = {
      operation: ['scalems', 'Integer64'],
      input: {
        data: [
          [1, 2],
          [3, 4],
        ],
      },
      depends: [],
    } as NodeRecord;
    expect(fingerprint(reordered)).toBe(REFERENCE_UID);
    const a: NodeRecord = { depends: [], input: { x: 1, y: { q: 2, p: 3 } }, operation: ['n', 'op'] };
    const b: NodeRecord = { depends: [], input: { y: { p: 3, q: 2 }, x: 1 }, operation: ['n', 'op'] };
    expect(fingerprint(a)).toBe(fingerprint(b));
  });

  it('changes with any change of data, shape, operation or depends', () => {
    const variants: NodeRecord[] = [
      {
        ...referenceRecord(),
        input: {
          data: [
            [1, 2],
            [3, 5],
          ],
        },
      },
      { ...referenceRecord(), input: { data: [[1, 2, 3, 4]] } },
      {
        ...referenceRecord(),
        input: {
          data: [
            [1, 3],
            [2, 4],
          ],
        },
      },
      {
        ...referenceRecord(),
        input: {
          data: [
            [1, 2],
            [3, 4],
          ],
          extra: null,
        },
      },
      {
        ...referenceRecord(),
        input: {
          Data: [
            [1, 2],
            [3, 4],
          ],
        },
      },
      { ...referenceRecord(), operation: ['scalems', 'Float64'] },
      { ...referenceRecord(), operation: ['scalems', 'Integer64', '1'] },
      { ...referenceRecord(), depends: [REFERENCE_UID as Uid] },
    ];
    const uids = new Set(variants.map((record) => fingerprint(record)));
    expect(uids.size).toBe(variants.length);
    expect(uids.has(REFERENCE_UID as Uid)).toBe(false);
  });

  it('returns a value isUid accepts', () => {
    expect(isUid(fingerprint(referenceRecord()))).toBe(true);
  });

  it('refuses records that are not plain JSON', () => {
    const bad = { depends: [], input: { data: [1, NaN] }, operation: ['scalems', 'Float64'] } as NodeRecord;
    expect(() => fingerprint(bad)).toThrow(RunGraphError);
    try {
      fingerprint(bad);
    } catch (error) {
      expect((error as RunGraphError).code).toBe('E_NOT_CANONICAL');
      expect((error as RunGraphError).message).toContain('$.input.data[1]');
    }
  });
});

describe('isUid / parseUid / shortUid', () => {
  const bad: [string, string][] = [
    ['uppercase hex', REFERENCE_UID.toUpperCase()],
    ['one uppercase digit', `A${REFERENCE_UID.slice(1)}`],
    ['63 characters', REFERENCE_UID.slice(1)],
    ['65 characters', `${REFERENCE_UID}0`],
    ['a non-hex letter', `g${REFERENCE_UID.slice(1)}`],
    ['a trailing newline', `${REFERENCE_UID}\n`],
    ['a leading space', ` ${REFERENCE_UID.slice(1)}`],
    ['the empty string', ''],
  ];

  it('accepts 64 lowercase hex digits', () => {
    expect(isUid(REFERENCE_UID)).toBe(true);
    expect(isUid('0'.repeat(64))).toBe(true);
    expect(parseUid(REFERENCE_UID)).toBe(REFERENCE_UID);
  });

  for (const [name, text] of bad) {
    it(`rejects ${name}`, () => {
      expect(isUid(text)).toBe(false);
      expect(() => parseUid(text)).toThrow(RunGraphError);
    });
  }

  it('parseUid throws a RunGraphError carrying the rejected value', () => {
    try {
      parseUid('abc');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(RunGraphError);
      expect((error as RunGraphError).code).toBe('E_UNKNOWN_NODE');
      expect((error as RunGraphError).value).toBe('abc');
    }
  });

  it('shortUid is the first 12 digits', () => {
    expect(shortUid(REFERENCE_UID as Uid)).toBe('266bb4e33dfb');
  });
});

describe('sha256Hex', () => {
  it('matches node:crypto on bytes', () => {
    const bytes = new Uint8Array([0, 1, 2, 255, 128]);
    expect(sha256Hex(bytes)).toBe(createHash('sha256').update(bytes).digest('hex'));
    // A view into a larger buffer hashes only its own bytes.
    const big = new Uint8Array([9, 9, 0, 1, 2, 255, 128, 9]);
    expect(sha256Hex(big.subarray(2, 7))).toBe(sha256Hex(bytes));
  });

  it('gives the well-known digest of the empty input', () => {
    expect(sha256Hex(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});
