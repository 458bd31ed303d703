/**
 * Streamed outputs of a working directory, read while they are produced.
 * A chunk file (`<store>/stream/<output>/000042.npy`) is renamed into place
 * only once complete and fsynced, and never changes after, so any chunk
 * present can be served at once, committed or not.
 *
 * Which outputs stream: for a committed store, those its metadata lists as
 * `stream` artifacts; for one still being built (whose metadata names no
 * outputs yet), the directories under its `stream/`. An output name is
 * only ever matched against those, never joined into a path as given, and
 * every path is resolved (symlinks included) to stay inside the store.
 */
import type { FileHandle } from 'node:fs/promises';
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RunGraphError, describeValue, isErrnoException } from '../../errors.js';
import type { Uid } from '../../identity/fingerprint.js';
import { isCommitted, type ArtifactEntry, type CommittedMetadata, type StoreMetadata } from '../../store/metadata.js';
import { STREAM_DIR, chunkName, streamPath } from '../../store/array-stream.js';
import type { StreamChunkInfo, StreamListing } from './types.js';

/** What reading a stream needs of a working directory: LocalGraph has it. */
export interface StoreReader {
  /** A store's metadata; E_UNKNOWN_NODE when there is no such store. */
  metadata(uid: Uid): Promise<StoreMetadata>;
  /** The absolute path of `relative` inside the store, if it exists there and stays inside it. */
  insideStore(uid: Uid, relative: string): Promise<string | undefined>;
}

/** A stream as far as it is durable, or not begun: a store not committed with no chunk directory for the output (yet). */
export type StreamProgress = StreamListing | { state: 'not-started'; uid: Uid; output: string };

/** One chunk file opened for reading; whoever opens it closes `handle`. */
export interface OpenStreamChunk {
  index: number;
  size: number;
  /** Known once the store is committed. */
  sha256?: string;
  handle: FileHandle;
}

/** Longest output name looked at (a file name's limit on common file systems). */
const MAX_OUTPUT_NAME = 255;

/** A path separator or a control character (C0 or DEL). */
// eslint-disable-next-line no-control-regex -- control characters are what it rejects
const SEPARATOR_OR_CONTROL = /[/\\\u0000-\u001f\u007f]/;

/** Whether a name can only be one plain entry of a directory: not empty, not `.` or `..`, no separator or control character. */
export function isPlainName(name: string): boolean {
  return (
    name.length > 0 &&
    name.length <= MAX_OUTPUT_NAME &&
    name !== '.' &&
    name !== '..' &&
    !SEPARATOR_OR_CONTROL.test(name)
  );
}

function checkOutputName(uid: Uid, output: string): void {
  if (!isPlainName(output)) {
    throw new RunGraphError(
      'E_USAGE',
      `not an output name: ${describeValue(output)}; an output name is one plain path segment`,
      { value: output, hint: `node ${uid}` },
    );
  }
}

/** The committed stream artifact `output`, or E_UNKNOWN_ARTIFACT naming the streamed outputs there are. */
function committedStream(metadata: CommittedMetadata, output: string): ArtifactEntry {
  const entry = Object.hasOwn(metadata.artifacts, output) ? metadata.artifacts[output] : undefined;
  if (entry === undefined || entry.kind !== 'stream') {
    const streams = Object.keys(metadata.artifacts).filter((name) => metadata.artifacts[name]?.kind === 'stream');
    throw new RunGraphError(
      'E_UNKNOWN_ARTIFACT',
      `node ${metadata.uid} has no streamed output ${describeValue(output)}${entry === undefined ? '' : ` (it is a ${entry.kind} artifact)`}`,
      {
        value: output,
        hint: `its streamed outputs are: ${streams.join(', ') || 'none'}`,
      },
    );
  }
  return entry;
}

/** Names under a store's `stream/`: the outputs a store being built streams (an output is listed once its first chunk is under way). */
async function streamDirectories(graph: StoreReader, uid: Uid): Promise<string[]> {
  const dir = await graph.insideStore(uid, STREAM_DIR);
  if (dir === undefined) return [];
  const entries = await readdir(dir, { withFileTypes: true }).catch((error: unknown) => {
    if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return [];
    throw error;
  });
  return entries
    .filter((e) => (e.isDirectory() || e.isSymbolicLink()) && isPlainName(e.name))
    .map((e) => e.name)
    .sort();
}

/** The streamed outputs of a store: from its metadata once committed, else those whose chunks are being written. */
export async function streamOutputs(graph: StoreReader, uid: Uid): Promise<string[]> {
  const metadata = await graph.metadata(uid);
  if (isCommitted(metadata))
    return Object.keys(metadata.artifacts)
      .filter((name) => metadata.artifacts[name]?.kind === 'stream')
      .sort();
  return streamDirectories(graph, uid);
}

/**
 * How far a stream is: its durable chunks from index `from` on. A store
 * being built lists the chunk files present without a gap (each one's size
 * from the file system); a committed one lists its metadata's chunks, with
 * sha256 and rows. `from` past the end lists none.
 */
export async function streamProgress(graph: StoreReader, uid: Uid, output: string, from = 0): Promise<StreamProgress> {
  checkOutputName(uid, output);
  const metadata = await graph.metadata(uid);
  if (isCommitted(metadata)) {
    const entry = committedStream(metadata, output);
    const all = entry.chunks ?? [];
    const chunks: StreamChunkInfo[] = all
      .slice(from)
      .map((c, i) => ({ index: from + i, size: c.size, sha256: c.sha256, rows: c.rows }));
    return {
      uid,
      output,
      state: 'complete',
      durable: all.length,
      chunks,
      ...(entry.dtype === undefined ? {} : { dtype: entry.dtype }),
      ...(entry.shape === undefined ? {} : { shape: entry.shape }),
    };
  }
  if (!(await streamDirectories(graph, uid)).includes(output)) return { state: 'not-started', uid, output };
  const dir = await graph.insideStore(uid, streamPath(output));
  if (dir === undefined) return { state: 'not-started', uid, output };
  const names = new Set(await readdir(dir));
  const chunks: StreamChunkInfo[] = [];
  let durable = 0;
  while (names.has(chunkName(durable))) {
    if (durable >= from) {
      const info = await lstat(join(dir, chunkName(durable))).catch(() => undefined);
      // Gone between the listing and the stat (the store was reset or moved meanwhile), or not a plain file
      // (which run-graph never writes; its chunk route refuses it): list what came before.
      if (info === undefined || !info.isFile()) break;
      chunks.push({ index: durable, size: info.size });
    }
    durable++;
  }
  return { uid, output, state: 'growing', durable, chunks };
}

/**
 * Open chunk `index` of a stream, or undefined when it has no such durable
 * chunk: not begun, not written yet, or past the end of a committed stream.
 * A committed chunk must still have the size its metadata records.
 */
export async function openStreamChunk(
  graph: StoreReader,
  uid: Uid,
  output: string,
  index: number,
): Promise<OpenStreamChunk | undefined> {
  checkOutputName(uid, output);
  if (!Number.isSafeInteger(index) || index < 0) return undefined;
  const metadata = await graph.metadata(uid);
  let relative: string;
  let expected: { size: number; sha256: string } | undefined;
  if (isCommitted(metadata)) {
    const chunk = committedStream(metadata, output).chunks?.[index];
    if (chunk === undefined) return undefined;
    relative = chunk.path;
    expected = chunk;
  } else {
    if (!(await streamDirectories(graph, uid)).includes(output)) return undefined;
    relative = join(streamPath(output), chunkName(index));
  }
  const file = await graph.insideStore(uid, relative);
  if (file === undefined) {
    if (expected === undefined) return undefined;
    throw new RunGraphError('E_CORRUPT_STORE', `chunk ${index} of stream '${output}' of ${uid} is missing`, {
      value: relative,
      hint: 'run the workflow again to quarantine and rebuild it',
    });
  }
  const handle = await open(file, 'r');
  try {
    const info = await handle.stat();
    if (!info.isFile())
      throw new RunGraphError('E_CORRUPT_STORE', `chunk ${index} of stream '${output}' of ${uid} is not a file`, {
        value: relative,
      });
    if (expected !== undefined && info.size !== expected.size) {
      throw new RunGraphError(
        'E_CORRUPT_STORE',
        `chunk ${index} of stream '${output}' of ${uid} has ${info.size} bytes, its metadata says ${expected.size}`,
        {
          value: relative,
          hint: 'run the workflow again to quarantine and rebuild it',
        },
      );
    }
    return { index, size: info.size, ...(expected === undefined ? {} : { sha256: expected.sha256 }), handle };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** The whole file of chunk `index`, or undefined when there is no such durable chunk. */
export async function readStreamChunk(
  graph: StoreReader,
  uid: Uid,
  output: string,
  index: number,
): Promise<Uint8Array | undefined> {
  const chunk = await openStreamChunk(graph, uid, output, index);
  if (chunk === undefined) return undefined;
  try {
    return await chunk.handle.readFile();
  } finally {
    await chunk.handle.close();
  }
}
