/**
 * Content identity of a node. `uid = sha256(canonicalJson({depends, input,
 * operation}))` in lowercase hex: the same record gives the same uid on any
 * machine, in any run, whatever the labels or the order of the workflow file.
 * References to other nodes enter a record as the upstream uid, so a uid is a
 * Merkle hash of everything upstream of the node.
 */
import { createHash } from 'node:crypto';
import { canonicalJson, writeCanonicalJson, type JsonValue, type TextSink } from './canonical-json.js';
import { RunGraphError, describeValue } from '../errors.js';
import { NumberList } from './number-list.js';

declare const uidBrand: unique symbol;

/** A node's content identity: 64 lowercase hex digits that only `fingerprint()` (or `parseUid`) makes. */
export type Uid = string & { readonly [uidBrand]: true };

/**
 * The serializable description of a unit of work. `operation` is
 * `[namespace, name]` for SCALE-MS's pure data operations and
 * `[namespace, name, version]` for operations whose implementation can change.
 */
export interface NodeRecord {
  depends: Uid[];
  input: { [field: string]: JsonValue };
  operation: string[];
}

const UID_PATTERN = /^[0-9a-f]{64}$/;

/** True when `text` has the form of a uid (64 lowercase hex digits). */
export function isUid(text: string): text is Uid {
  return UID_PATTERN.test(text);
}

/** Check the form of a uid taken from outside (a directory name, a CLI argument). */
export function parseUid(text: string): Uid {
  if (!isUid(text)) {
    throw new RunGraphError('E_UNKNOWN_NODE', `not a uid: ${describeValue(text)}`, {
      value: text,
      hint: 'a uid is 64 lowercase hexadecimal digits',
    });
  }
  return text;
}

/** The first 12 digits, enough to tell nodes apart on a screen. */
export function shortUid(uid: Uid): string {
  return uid.slice(0, 12);
}

/** The canonical text a record is hashed as. */
export function recordText(record: NodeRecord): string {
  return canonicalJson({ depends: record.depends, input: record.input, operation: record.operation });
}

/** recordText in pieces, for a record too large to hold its text as one string (see writeCanonicalJson). */
export function writeRecordText(record: NodeRecord, sink: TextSink): void {
  writeCanonicalJson({ depends: record.depends, input: record.input, operation: record.operation }, sink);
}

/**
 * Whether a uid names a record already known to have been fingerprinted
 * (the committed store of a working directory), whose canonical text is
 * `textBytes` long. See fingerprint().
 */
export type KnownRecord = (uid: Uid, textBytes: number) => boolean;

/** sha256 of a record's canonical text (with `trustRaw`, its candidate text: see writeCanonicalJson) and the text's length. */
function hashRecordText(record: NodeRecord, trustRaw: boolean): { uid: Uid; textBytes: number } {
  const hash = createHash('sha256');
  let textBytes = 0;
  const value = { depends: record.depends, input: record.input, operation: record.operation };
  // The text is ASCII, so latin1 gives its UTF-8 bytes without a pass to encode them.
  writeCanonicalJson(
    value,
    (piece) => {
      if (typeof piece === 'string') hash.update(piece, 'latin1');
      else hash.update(piece);
      textBytes += piece.length;
    },
    { trustRaw },
  );
  return { uid: hash.digest('hex') as Uid, textBytes };
}

/**
 * The uid of a record. Throws E_NOT_CANONICAL if the record holds anything
 * but plain JSON.
 *
 * A float64 literal of millions of numbers costs seconds to write as
 * canonical text (Python's repr of every float), while its own text often
 * is that text already, but for a few numbers (NumberList.rawCandidate).
 * Given `known`, such a record is first hashed with each list's candidate
 * text, and if the working directory holds a committed store of that uid
 * and of that text's size, that uid is the record's, without the repr of
 * any number. Proof: the store's uid is the sha256 of some record's
 * canonical text, so (sha256 being collision-resistant) the text just
 * hashed is that canonical text. It reads back, number for number, as this
 * record: each number of a list is either its own text or repr's text of
 * its double, spelled as a float either way, so Python reads it as the
 * double JavaScript read; the rest is this record's canonical text. And the
 * canonical text of a record is a function of the record, so it is this
 * record's canonical text. Otherwise the record is hashed the ordinary way,
 * whose answer this never changes.
 */
export function fingerprint(record: NodeRecord, known?: KnownRecord): Uid {
  const candidate =
    known !== undefined && Object.values(record.input).some((v: unknown) => v instanceof NumberList && v.rawCandidate);
  if (candidate) {
    const hashed = hashRecordText(record, true);
    if (known(hashed.uid, hashed.textBytes)) return hashed.uid;
  }
  return hashRecordText(record, false).uid;
}

/** sha256 of bytes, lowercase hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
