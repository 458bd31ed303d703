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

/** The uid of a record. Throws E_NOT_CANONICAL if the record holds anything but plain JSON. */
export function fingerprint(record: NodeRecord): Uid {
  const hash = createHash('sha256');
  // The text is ASCII, so latin1 gives its UTF-8 bytes without a pass to encode them.
  writeRecordText(record, (piece) => hash.update(piece, 'latin1'));
  return hash.digest('hex') as Uid;
}

/** sha256 of bytes, lowercase hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
