/**
 * `metadata.json`, the one file that says what a store is and whether it is
 * committed. It is rewritten atomically and changes to `committed` last, after
 * every artifact is durable, so a store is either committed (every artifact
 * present and matching its recorded size and sha256) or not. It is written
 * with formatJson and read with parseJsonExactly, so the record in it keeps
 * every number exactly as it was hashed.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeRecord, Uid } from '../identity/fingerprint.js';
import { formatJson, parseJsonExactly } from '../identity/json-text.js';
import { NumberList } from '../identity/number-list.js';
import type { Dtype } from '../values/npy.js';
import { readSmallFileSync } from './durable.js';

export const STORE_FORMAT = 'run-graph-store/1';
export const METADATA_FILE = 'metadata.json';
/**
 * Where a large record is kept, once: its canonical JSON text, whose sha256
 * is the store's uid. metadata.json then holds `recordFile` instead of a copy
 * of the record (see RecordFile).
 */
export const RECORD_FILE = 'record.json';
/** A record with more values than this (numbers, strings, ...) is kept in record.json rather than in metadata.json. */
export const INLINE_RECORD_VALUES = 4096;

/** In metadata.json instead of `record`, for a large one: record.json holds it, `size` bytes, its sha256 the uid. */
export interface RecordFile {
  path: typeof RECORD_FILE;
  size: number;
}

/** One committed output of a node. `path` is relative to the store directory. */
export interface ArtifactEntry {
  /** A file, or for a stream the directory of its chunks. */
  path: string;
  kind: 'array' | 'json' | 'file' | 'stream';
  size: number;
  sha256: string;
  /** Arrays and streams (a stream's shape counts the rows of all its chunks). */
  dtype?: Dtype;
  shape?: number[];
  /** Streams only: each chunk, in order (its `path` relative to the store, `rows` along the leading axis). */
  chunks?: { path: string; size: number; sha256: string; rows: number }[];
}

/**
 * What a process the operation ran used, as the kernel counted it: CPU time
 * in user and system mode and peak resident memory. Subprocess nodes record
 * it (see operations/process-usage.ts for how it is measured).
 */
export interface ResourceUsage {
  cpuUserMs: number;
  cpuSystemMs: number;
  /** Peak resident set size in bytes; null when it could not be read. */
  maxRssBytes: number | null;
}

/**
 * One failed attempt at running a node, as its store records it. The
 * attempt's files (a subprocess's stdout.txt, stderr.txt and whatever it
 * wrote) are kept in `attempts/<attempt>/` until the node commits.
 */
export interface FailedAttempt {
  /** Attempt number in this store, from 1; never reused, so `logs --attempt N` names one attempt. */
  attempt: number;
  /** The last attempt the run that made this one would make (attempt + the retries it had left). */
  lastAttempt: number;
  /** The run gave the node up after this attempt: no retry was left, or the error is not one to retry. */
  final: boolean;
  startedAt: string;
  /** Wall time of the attempt, in whole milliseconds. */
  durationMs: number;
  error: { code: string; message: string };
  /** A subprocess's exit: its code, or the signal that ended it. */
  exit?: { code: number | null; signal: string | null };
  /** The last lines of its stderr, if it wrote one. */
  stderrTail?: string;
  usage?: ResourceUsage;
}

/** Where a store is in its life. */
export type StoreState =
  | { state: 'created' }
  | {
      /** Never committed; at least one attempt failed. Like `created`, not to be read as results. */
      state: 'failed';
      /** Every failed attempt since the store was published, oldest first. */
      attempts: FailedAttempt[];
    }
  | {
      state: 'committed';
      committedAt: string;
      /** Wall time the operation took to run. */
      durationMs: number;
      artifacts: { [output: string]: ArtifactEntry };
      /** The attempt that committed, when earlier ones failed. */
      attempt?: number;
      /** What the operation's process used (Subprocess nodes). */
      usage?: ResourceUsage;
    };

export type StoreMetadata = {
  format: typeof STORE_FORMAT;
  uid: Uid;
  /** In memory, always the record; on disk, absent when `recordFile` is set. */
  record: NodeRecord;
  recordFile?: RecordFile;
  operation: { namespace: string; name: string; version: string | null };
  createdAt: string;
} & StoreState;

export type CommittedMetadata = StoreMetadata & { state: 'committed' };
export type FailedMetadata = StoreMetadata & { state: 'failed' };

/**
 * Read a store's metadata. Missing or unreadable metadata (a store cut short
 * by a power loss before its first fsync) reads as undefined: not committed.
 * A record kept in record.json is read from there.
 */
export async function readStoreMetadata(storeDir: string): Promise<StoreMetadata | undefined> {
  let text: string;
  try {
    text = await readFile(join(storeDir, METADATA_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const metadata = parseStoreMetadata(text);
  if (metadata?.recordFile === undefined || metadata.record !== undefined) return metadata;
  try {
    return { ...metadata, record: parseJsonExactly(await readFile(join(storeDir, RECORD_FILE), 'utf8')) as NodeRecord };
  } catch {
    return undefined;
  }
}

/**
 * readStoreMetadata, synchronously: for checking many stores in a row, where
 * the four thread-pool round trips of an asynchronous read cost more than the
 * read. Blocks the event loop; callers read in small batches. `known` is the
 * record the caller has for the store's uid: a record kept in record.json is
 * then not read and parsed again (verifyStore checks the file).
 */
export function readStoreMetadataSync(storeDir: string, known?: NodeRecord): StoreMetadata | undefined {
  const metadata = readMetadataFileSync(storeDir);
  if (metadata?.recordFile === undefined || metadata.record !== undefined) return metadata;
  // With the record known, record.json is not read: verifyStore checks it as it checks an artifact.
  if (known !== undefined) return { ...metadata, record: known };
  try {
    return { ...metadata, record: parseJsonExactly(readFileSync(join(storeDir, RECORD_FILE), 'utf8')) as NodeRecord };
  } catch {
    return undefined;
  }
}

/**
 * Whether the store in `storeDir` is committed with its record in
 * record.json of `textBytes` bytes: what a large literal's uid is
 * confirmed by (KnownRecord, see fingerprint()). Reads metadata.json only.
 */
export function holdsCommittedRecordFile(storeDir: string, textBytes: number): boolean {
  const metadata = readMetadataFileSync(storeDir);
  return metadata?.state === 'committed' && metadata.recordFile?.size === textBytes;
}

/** metadata.json alone, read and parsed synchronously; undefined if it cannot be read or is not metadata. */
function readMetadataFileSync(storeDir: string): StoreMetadata | undefined {
  let text: string;
  try {
    text = readSmallFileSync(join(storeDir, METADATA_FILE));
  } catch {
    return undefined;
  }
  return parseStoreMetadata(text);
}

/**
 * The text of metadata.json: indented, numbers exact, and for a record kept
 * in record.json only the reference to it. The one way metadata is written.
 */
export function metadataText(metadata: StoreMetadata): string {
  if (metadata.recordFile === undefined) return `${formatJson(metadata, 2)}\n`;
  const { record: _kept, ...reference } = metadata;
  return `${formatJson(reference, 2)}\n`;
}

/** Whether a record is large enough to be kept in record.json (more than INLINE_RECORD_VALUES values). */
export function isLargeRecord(record: NodeRecord): boolean {
  let budget = INLINE_RECORD_VALUES;
  const visit = (value: unknown): boolean => {
    if (--budget < 0) return true;
    if (value instanceof NumberList) return (budget -= value.length) < 0;
    if (Array.isArray(value)) return value.some(visit);
    if (typeof value === 'object' && value !== null) return Object.values(value).some(visit);
    return false;
  };
  return visit(record.input);
}

// Exact, so a record keeps the numbers it was hashed with (`1.0`, integers past 2^53);
// metadata without such numbers, nearly all of it, still goes through JSON.parse.
function parseStoreMetadata(text: string): StoreMetadata | undefined {
  try {
    const parsed = parseJsonExactly(text) as Partial<StoreMetadata>;
    return parsed.format === STORE_FORMAT && typeof parsed.uid === 'string' ? (parsed as StoreMetadata) : undefined;
  } catch {
    return undefined;
  }
}

/** The failed attempts a store records (none unless its state is `failed`). */
export function failedAttempts(metadata: StoreMetadata | undefined): readonly FailedAttempt[] {
  return metadata?.state === 'failed' ? metadata.attempts : [];
}

export function isCommitted(metadata: StoreMetadata | undefined): metadata is CommittedMetadata {
  return metadata?.state === 'committed';
}
