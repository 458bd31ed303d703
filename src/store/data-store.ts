/**
 * One node's DataStore: created complete in `tmp/`, published by renaming it
 * to `<workdir>/<uid>/`, filled with artifacts by its owner, and committed by
 * rewriting `metadata.json` last. A committed store is immutable; reading it
 * needs no lock.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, statSync, type Stats } from 'node:fs';
import { copyFile, link, mkdir, rename, rm } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { RunGraphError, assertNever, isErrnoException } from '../errors.js';
import { sha256Hex, writeRecordText, type NodeRecord, type Uid } from '../identity/fingerprint.js';
import { formatJson } from '../identity/json-text.js';
import { npyParts } from '../values/npy.js';
import type { OperationOutputs } from './outputs.js';
import {
  createFile,
  digestFileContent,
  fsyncDirectory,
  fsyncFile,
  readSmallFileBytesSync,
  createTextFile,
  removeQuietly,
  writeFileDurable,
  renameStaged,
  stageFile,
  type FileData,
  type StagedFile,
} from './durable.js';
import { faultPoint, faultWrite } from './fault-points.js';
import { LOCK_DIR } from './lock.js';
import { STREAM_DIR, streamPath } from './array-stream.js';
import {
  METADATA_FILE,
  RECORD_FILE,
  STORE_FORMAT,
  isLargeRecord,
  metadataText,
  failedAttempts,
  type ArtifactEntry,
  type CommittedMetadata,
  type FailedAttempt,
  type FailedMetadata,
  type ResourceUsage,
  type StoreMetadata,
} from './metadata.js';
import { PROCESS_GROUP_FILE } from './process-group.js';
import { OWNER_FILE, type OwnerInfo } from './owner.js';
import { stagingName } from './staging.js';
import type { WorkdirLayout } from './workdir.js';

/** Where the files of failed attempts are kept, `attempts/<n>/`, until the node commits. */
export const ATTEMPTS_DIR = 'attempts';

/** Entries of a store that survive a reset: its identity, ownership, checkpoints, durable stream chunks and failed attempts. */
const KEPT_ON_RESET: ReadonlySet<string> = new Set([
  METADATA_FILE,
  RECORD_FILE,
  OWNER_FILE,
  LOCK_DIR,
  `${LOCK_DIR}.reclaim`,
  'checkpoint',
  'stream',
  ATTEMPTS_DIR,
  PROCESS_GROUP_FILE,
]);

/** The directory of attempt `attempt`'s files inside a store. */
export function attemptDir(storeDir: string, attempt: number): string {
  return join(storeDir, ATTEMPTS_DIR, String(attempt));
}

export interface NewStore {
  uid: Uid;
  record: NodeRecord;
  operation: { namespace: string; name: string; version: string | null };
}

/**
 * Publish a new store for `uid`, built complete in tmp/ and renamed into
 * place. Returns 'created', or 'exists' when the store was already there (made
 * by another process or an earlier run): the rename fails on a non-empty
 * directory, and canonical stores are never empty.
 *
 * The staging directory holds metadata.json and an owner file naming the
 * publisher. The owner rewrites that file once it holds the lock (only one
 * written after the lock proves whose the lock is), but until then it is
 * what names the holder: a publisher killed between taking the lock and
 * writing its owner file is then known dead and its lock reclaimed after a
 * short grace, where a lock with no owner file waits out the stale limit.
 */
export async function publishStore(
  layout: WorkdirLayout,
  store: NewStore,
  owner: OwnerInfo,
): Promise<'created' | 'exists'> {
  const staging = join(layout.tmp, stagingName(store.uid.slice(0, 16), owner));
  await mkdir(staging);
  try {
    // A large record is written once, as its canonical text (whose sha256 is the uid), not copied into the metadata;
    // written piece by piece, so its text is never held whole. Before the metadata, which gives its size.
    const recordSize = isLargeRecord(store.record)
      ? await createTextFile(join(staging, RECORD_FILE), (sink) => writeRecordText(store.record, sink), {
          fsync: true,
        })
      : undefined;
    const metadata: StoreMetadata = {
      format: STORE_FORMAT,
      uid: store.uid,
      record: store.record,
      ...(recordSize === undefined ? {} : { recordFile: { path: RECORD_FILE, size: recordSize } }),
      operation: store.operation,
      createdAt: new Date().toISOString(),
      state: 'created',
    };
    // No fsync for metadata and owner: a store that loses them in a power cut reads as uncommitted and is rebuilt.
    // The record file is fsynced: it stays as it is after the commit, whose directory fsync makes its entry durable.
    faultWrite('publish', staging);
    // All at once, and all waited for before any failure is thrown, so nothing is still writing into the staging directory as it is removed.
    const writes = await Promise.allSettled([
      createFile(join(staging, OWNER_FILE), JSON.stringify(owner), { fsync: false }),
      createFile(join(staging, METADATA_FILE), metadataText(metadata), { fsync: false }),
    ]);
    for (const write of writes) if (write.status === 'rejected') throw write.reason;
    faultPoint('after-tmp-created');
    await rename(staging, layout.storeDir(store.uid));
    faultPoint('after-rename');
    return 'created';
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    if (isErrnoException(error) && (error.code === 'ENOTEMPTY' || error.code === 'EEXIST')) return 'exists';
    throw error;
  }
}

/**
 * Clear what an earlier, unfinished attempt left in a store, so the node runs
 * again from the start. Keeps metadata, ownership and checkpoints. Returns the
 * names removed.
 */
export async function resetStore(storeDir: string, metadata: StoreMetadata): Promise<string[]> {
  const recorded = new Set(failedAttempts(metadata).map((failure) => String(failure.attempt)));
  // An attempt directory no failure record names belongs to an attempt cut short (a kill): it goes too.
  const unrecorded = (readdirSyncQuiet(join(storeDir, ATTEMPTS_DIR)) ?? [])
    .filter((name) => !recorded.has(name))
    .map((name) => join(ATTEMPTS_DIR, name));
  const removed = [...readdirSync(storeDir).filter((name) => !KEPT_ON_RESET.has(name)), ...unrecorded];
  // Retried: a subprocess orphaned by a killed attempt may still be writing into that attempt's scratch directory
  // as it is removed (ENOTEMPTY); it is gone within moments.
  for (const name of removed)
    await rm(join(storeDir, name), { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  return removed;
}

function readdirSyncQuiet(dir: string): string[] | undefined {
  try {
    return readdirSync(dir);
  } catch {
    return undefined;
  }
}

/**
 * Record a failed attempt: its files (whatever the operation left in the
 * store, outside run-graph's own entries) move into `attempts/<n>/`, then
 * metadata.json is rewritten durably with state `failed` and the attempt
 * appended. A crash before the metadata is written leaves an attempt
 * directory no record names, which the next reset removes; a failed store
 * is never committed, so nothing reads its files as results.
 */
export async function recordFailedAttempt(
  storeDir: string,
  metadata: StoreMetadata,
  failure: FailedAttempt,
): Promise<FailedMetadata> {
  const dir = attemptDir(storeDir, failure.attempt);
  await mkdir(dir, { recursive: true });
  for (const name of readdirSync(storeDir).filter((entry) => !KEPT_ON_RESET.has(entry)))
    await rename(join(storeDir, name), join(dir, name)).catch(() => undefined);
  const tail = stderrTail(join(dir, 'stderr.txt'));
  const failed: FailedMetadata = {
    format: metadata.format,
    uid: metadata.uid,
    record: metadata.record,
    ...(metadata.recordFile === undefined ? {} : { recordFile: metadata.recordFile }),
    operation: metadata.operation,
    createdAt: metadata.createdAt,
    state: 'failed',
    attempts: [...failedAttempts(metadata), { ...failure, ...(tail === undefined ? {} : { stderrTail: tail }) }],
  };
  await writeFileDurable(join(storeDir, METADATA_FILE), metadataText(failed));
  await fsyncDirectory(storeDir);
  return failed;
}

/** Lines of stderr a failure record keeps. */
export const STDERR_TAIL_LINES = 20;
/** Most characters of stderr a failure record keeps. */
const STDERR_TAIL_CHARS = 4000;

function stderrTail(path: string): string | undefined {
  let text: string;
  try {
    const size = statSync(path).size;
    if (size === 0) return undefined;
    const bytes = readSmallFileBytesSync(path);
    text = bytes.subarray(Math.max(0, bytes.length - STDERR_TAIL_CHARS)).toString('utf8');
  } catch {
    return undefined;
  }
  return text.trimEnd().split('\n').slice(-STDERR_TAIL_LINES).join('\n');
}

/** The file name an output is committed under. */
function artifactFileName(output: string, kind: 'array' | 'json'): string {
  return kind === 'array' ? `${output}.npy` : `${output}.json`;
}

/** An output on its way to becoming an artifact: its entry in the metadata, and the bytes to write if run-graph writes it. */
interface PreparedArtifact {
  output: string;
  entry: ArtifactEntry;
  bytes?: FileData;
}

/** Encode each output and describe it (size, sha256), before anything is written. */
async function prepareArtifacts(storeDir: string, outputs: OperationOutputs): Promise<PreparedArtifact[]> {
  return Promise.all(
    Object.entries(outputs).map(async ([output, value]): Promise<PreparedArtifact> => {
      switch (value.kind) {
        case 'array': {
          // Header and element bytes apart: a large array is hashed and written without a copy of its data.
          const bytes = npyParts(value.value);
          const hash = createHash('sha256');
          for (const part of bytes) hash.update(part);
          const entry: ArtifactEntry = {
            path: artifactFileName(output, 'array'),
            kind: 'array',
            size: bytes[0].length + bytes[1].length,
            sha256: hash.digest('hex'),
            dtype: value.value.dtype,
            shape: [...value.value.shape],
          };
          return { output, entry, bytes };
        }
        case 'json': {
          const bytes = Buffer.from(`${formatJson(value.value)}\n`);
          return {
            output,
            entry: {
              path: artifactFileName(output, 'json'),
              kind: 'json',
              size: bytes.length,
              sha256: sha256Hex(bytes),
            },
            bytes,
          };
        }
        case 'file': {
          const { size, sha256 } = await digestFileContent(join(storeDir, value.path));
          return { output, entry: { path: value.path, kind: 'file', size, sha256 } };
        }
        case 'stream':
          return { output, entry: value.entry };
        case 'artifact': {
          // Another store's committed artifact: immutable, so a hard link shares it safely; copy across devices.
          if (value.entry.kind === 'stream')
            return { output, entry: await linkStream(storeDir, output, value.source, value.entry) };
          const path = `${output}${extname(value.entry.path)}`;
          await linkOrCopy(value.source, join(storeDir, path));
          return { output, entry: { ...value.entry, path } };
        }
        default:
          return assertNever(value, 'output kind');
      }
    }),
  );
}

/**
 * Another store's committed stream as an output of this one: each chunk
 * linked (or copied) into `stream/<output>/`, the entry's chunk paths
 * rewritten to match, and the new directories made durable here, since the
 * commit fsyncs only files it wrote and the store directory itself.
 * `source` is the stream's directory in its own store.
 */
async function linkStream(
  storeDir: string,
  output: string,
  source: string,
  entry: ArtifactEntry,
): Promise<ArtifactEntry> {
  const sourceStore = source.slice(0, source.length - entry.path.length);
  if (join(sourceStore, entry.path) !== source)
    throw new RunGraphError('E_CORRUPT_STORE', `stream '${entry.path}' is not where its store says (${source})`, {
      value: source,
    });
  const path = streamPath(output);
  await mkdir(join(storeDir, path), { recursive: true });
  const chunks = await Promise.all(
    (entry.chunks ?? []).map(async (chunk) => {
      const target = join(path, basename(chunk.path));
      await linkOrCopy(join(sourceStore, chunk.path), join(storeDir, target));
      await fsyncFile(join(storeDir, target));
      return { ...chunk, path: target };
    }),
  );
  await fsyncDirectory(join(storeDir, path));
  await fsyncDirectory(join(storeDir, STREAM_DIR));
  return { ...entry, path, chunks };
}

async function linkOrCopy(source: string, target: string): Promise<void> {
  await rm(target, { force: true });
  try {
    await link(source, target);
  } catch (error) {
    if (!isErrnoException(error) || !['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP'].includes(error.code ?? '')) throw error;
    await copyFile(source, target);
  }
}

export interface CommitOptions {
  /** Wall time the operation took, recorded in the metadata. */
  durationMs: number;
  /** The attempt that succeeded, recorded when earlier ones failed. */
  attempt?: number;
  /** What the operation's process used, if it measured it. */
  usage?: ResourceUsage;
  /** Called after the artifacts are durable and right before metadata.json changes: throws if this process may not commit. */
  beforeCommit(): Promise<void>;
  /**
   * Called once every artifact is in place under its own name, its content
   * fsynced, with the metadata the commit will write: from then on the
   * artifacts can be read, though the store is not committed yet (the
   * directory fsync and the metadata are still to come).
   */
  artifactsInPlace?(metadata: CommittedMetadata): void;
}

/**
 * Commit a finished node: every output becomes an artifact of the store, and
 * metadata.json changes to `committed` last, durably. A group commit, in
 * three waits on the disk where writing file by file takes four:
 *
 *     1. every artifact, and the committed metadata, written under temporary
 *        names and fsynced, all at once (files a subprocess wrote, and
 *        linked or copied artifacts, fsynced in place)
 *     2. the artifacts renamed into place; the directory fsynced
 *        (the metadata still says `created`, and its new version is only a
 *        temporary file that a reset removes)
 *     3. `beforeCommit()`; metadata.json renamed into place; the directory fsynced
 *
 * Between 2's renames and its fsync, `artifactsInPlace` learns that the
 * artifacts can be read: nodes below this one may start on them, and hold
 * their own commits (in their `beforeCommit`) until this one's has landed.
 *
 * So each file is written to a temporary name, fsynced and renamed, and the
 * directory fsynced, as the store protocol requires; only the fsyncs that
 * need no order between them share a wait. The store is immutable from here on.
 */
export async function commitStore(
  storeDir: string,
  created: StoreMetadata,
  outputs: OperationOutputs,
  options: CommitOptions,
): Promise<CommittedMetadata> {
  const prepared = await prepareArtifacts(storeDir, outputs);
  const artifacts: { [output: string]: ArtifactEntry } = {};
  for (const { output, entry } of prepared) artifacts[output] = entry;
  // Field by field: a failed store's attempt records do not carry over (their files go at the tidy).
  const committed: CommittedMetadata = {
    format: created.format,
    uid: created.uid,
    record: created.record,
    // A large record stays in record.json: the committed metadata keeps only the reference.
    ...(created.recordFile === undefined ? {} : { recordFile: created.recordFile }),
    operation: created.operation,
    createdAt: created.createdAt,
    state: 'committed',
    committedAt: new Date().toISOString(),
    durationMs: options.durationMs,
    artifacts,
    ...(options.attempt === undefined || options.attempt <= 1 ? {} : { attempt: options.attempt }),
    ...(options.usage === undefined ? {} : { usage: options.usage }),
  };
  const metadataPath = join(storeDir, METADATA_FILE);

  const stageMetadata = async (): Promise<StagedFile> => {
    faultWrite('metadata-write', metadataPath);
    return stageFile(metadataPath, metadataText(committed));
  };
  const stageArtifact = async ({ entry, bytes }: PreparedArtifact): Promise<StagedFile | undefined> => {
    if (bytes !== undefined) {
      faultWrite('artifact-write', entry.path);
      return stageFile(join(storeDir, entry.path), bytes);
    }
    // Written by the operation, or linked: fsynced where it is (a stream's chunks were made durable as they came, or as they were linked).
    if (entry.kind !== 'stream') await fsyncFile(join(storeDir, entry.path));
    return undefined;
  };
  // Every write is waited for, failed or not, so none is left running when the error is thrown.
  const [metadataResult, ...artifactResults] = await Promise.allSettled([
    stageMetadata(),
    ...prepared.map(stageArtifact),
  ]);
  const staged = [metadataResult, ...artifactResults].flatMap((result) =>
    result.status === 'fulfilled' && result.value !== undefined ? [result.value] : [],
  );
  try {
    for (const result of [metadataResult, ...artifactResults]) if (result.status === 'rejected') throw result.reason;
    await Promise.all(
      artifactResults.map(async (result) =>
        result.status === 'fulfilled' && result.value !== undefined ? renameStaged(result.value) : undefined,
      ),
    );
    options.artifactsInPlace?.(committed);
    await fsyncDirectory(storeDir);
    faultPoint('after-artifact-write');
    await options.beforeCommit();
    faultPoint('after-metadata-temp');
    faultWrite('metadata-rename', metadataPath);
    if (metadataResult.status === 'fulfilled') await renameStaged(metadataResult.value);
  } catch (error) {
    // What was staged and not renamed; an artifact already renamed is cleared by the next attempt's reset.
    await Promise.all(staged.map((file) => removeQuietly(file.temp)));
    throw error;
  }
  await fsyncDirectory(storeDir);
  faultPoint('after-commit');
  return committed;
}

/** How thoroughly to check a committed store before reusing it. */
export type VerifyMode = 'size' | 'checksum';

/** The first problem of a committed store (an artifact missing, resized, or with another sha256), or undefined. */
export async function verifyStore(
  storeDir: string,
  metadata: CommittedMetadata,
  mode: VerifyMode,
): Promise<string | undefined> {
  const sized = verifyStoreSizes(storeDir, metadata);
  if (sized !== undefined || mode === 'size') return sized;
  // The record file is checked as an artifact is: its sha256 is the uid.
  const files: [string, Pick<ArtifactEntry, 'path' | 'sha256'>][] =
    metadata.recordFile === undefined ? [] : [['record', { path: metadata.recordFile.path, sha256: metadata.uid }]];
  for (const [output, artifact] of Object.entries(metadata.artifacts))
    // A stream's chunks are checked like artifacts of their own.
    for (const file of artifact.kind === 'stream' ? (artifact.chunks ?? []) : [artifact]) files.push([output, file]);
  for (const [, file] of files) {
    const { sha256 } = await digestFileContent(join(storeDir, file.path));
    if (sha256 !== file.sha256) return `artifact '${file.path}' does not match its sha256`;
  }
  return undefined;
}

/**
 * verifyStore with `size` verification, synchronously: a stat per artifact
 * (a stat only reads, see durable.ts), without a promise per file, for the
 * thousands of stores a resume checks.
 */
export function verifyStoreSizes(storeDir: string, metadata: CommittedMetadata): string | undefined {
  if (metadata.recordFile !== undefined) {
    const problem = sizeProblem(storeDir, 'record', metadata.recordFile);
    if (problem !== undefined) return problem;
  }
  for (const [output, artifact] of Object.entries(metadata.artifacts)) {
    for (const file of artifact.kind === 'stream' ? (artifact.chunks ?? []) : [artifact]) {
      const problem = sizeProblem(storeDir, output, file);
      if (problem !== undefined) return problem;
    }
  }
  return undefined;
}

/** Whether one artifact is there with its recorded size: the problem, or undefined. */
function sizeProblem(
  storeDir: string,
  output: string,
  artifact: Pick<ArtifactEntry, 'path' | 'size'>,
): string | undefined {
  let info: Stats | undefined;
  try {
    info = statSync(join(storeDir, artifact.path), { throwIfNoEntry: false });
  } catch {
    info = undefined;
  }
  if (info === undefined) return `artifact '${artifact.path}' of output '${output}' is missing`;
  if (info.size !== artifact.size)
    return `artifact '${artifact.path}' has ${info.size} bytes, metadata says ${artifact.size}`;
  return undefined;
}

/** Move a store aside to `quarantine/` (deleted only by `gc --yes`) so its node can be rebuilt. Returns the new path. */
export async function quarantineStore(layout: WorkdirLayout, uid: Uid): Promise<string> {
  await mkdir(layout.quarantine, { recursive: true });
  const target = join(
    layout.quarantine,
    `${uid}.${new Date().toISOString().replace(/[:.]/g, '-')}.${randomBytes(3).toString('hex')}`,
  );
  try {
    await rename(layout.storeDir(uid), target);
  } catch (error) {
    throw new RunGraphError('E_CORRUPT_STORE', `cannot move store ${uid} to quarantine: ${String(error)}`, {
      value: uid,
      cause: error,
    });
  }
  return target;
}
