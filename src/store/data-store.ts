/**
 * One node's DataStore: created complete in `tmp/`, published by renaming it
 * to `<workdir>/<uid>/`, filled with artifacts by its owner, and committed by
 * rewriting `metadata.json` last. A committed store is immutable; reading it
 * needs no lock.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { RunGraphError, assertNever, isErrnoException } from '../errors.js';
import { sha256Hex, type NodeRecord, type Uid } from '../fingerprint.js';
import { encodeNpy } from '../npy.js';
import type { OperationOutputs } from '../operations/operation.js';
import { digestFileContent, fsyncDirectory, fsyncFile, writeFileDurable } from './durable.js';
import { faultPoint, faultWrite } from './fault-points.js';
import { LOCK_DIR } from './lock.js';
import { METADATA_FILE, STORE_FORMAT, type ArtifactEntry, type CommittedMetadata, type StoreMetadata } from './metadata.js';
import { OWNER_FILE, type OwnerInfo } from './owner.js';
import { stagingName } from './staging.js';
import type { WorkdirLayout } from './workdir.js';

/** Entries of a store that survive a reset: its identity, ownership, checkpoints and durable stream chunks. */
const KEPT_ON_RESET: ReadonlySet<string> = new Set([METADATA_FILE, OWNER_FILE, LOCK_DIR, `${LOCK_DIR}.reclaim`, 'checkpoint', 'stream']);

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
 */
export async function publishStore(layout: WorkdirLayout, store: NewStore, owner: OwnerInfo): Promise<'created' | 'exists'> {
  const staging = join(layout.tmp, stagingName(store.uid.slice(0, 16), owner));
  await mkdir(staging);
  try {
    const metadata: StoreMetadata = {
      format: STORE_FORMAT,
      uid: store.uid,
      record: store.record,
      operation: store.operation,
      createdAt: new Date().toISOString(),
      state: 'created',
    };
    // No fsync: a store that loses these files in a power cut reads as uncommitted and is rebuilt.
    faultWrite('publish', staging);
    await writeFile(join(staging, OWNER_FILE), JSON.stringify(owner));
    await writeFile(join(staging, METADATA_FILE), `${JSON.stringify(metadata, null, 2)}\n`);
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
export async function resetStore(storeDir: string): Promise<string[]> {
  const removed = (await readdir(storeDir)).filter((name) => !KEPT_ON_RESET.has(name));
  for (const name of removed) await rm(join(storeDir, name), { recursive: true, force: true });
  return removed;
}

/** The file name an output is committed under. */
function artifactFileName(output: string, kind: 'array' | 'json'): string {
  return kind === 'array' ? `${output}.npy` : `${output}.json`;
}

/**
 * Write every output of a finished operation durably (temp name, fsync,
 * rename; files a subprocess wrote are fsynced in place) and describe each
 * with its size and sha256. The directory is fsynced once at the end.
 */
export async function writeArtifacts(storeDir: string, outputs: OperationOutputs): Promise<{ [output: string]: ArtifactEntry }> {
  const artifacts: { [output: string]: ArtifactEntry } = {};
  for (const [output, value] of Object.entries(outputs)) {
    switch (value.kind) {
      case 'array': {
        const bytes = encodeNpy(value.value);
        const path = artifactFileName(output, 'array');
        faultWrite('artifact-write', path);
        await writeFileDurable(join(storeDir, path), bytes);
        artifacts[output] = { path, kind: 'array', size: bytes.length, sha256: sha256Hex(bytes), dtype: value.value.dtype, shape: [...value.value.shape] };
        break;
      }
      case 'json': {
        const text = `${JSON.stringify(value.value)}\n`;
        const path = artifactFileName(output, 'json');
        faultWrite('artifact-write', path);
        await writeFileDurable(join(storeDir, path), text);
        artifacts[output] = { path, kind: 'json', size: Buffer.byteLength(text), sha256: sha256Hex(Buffer.from(text)) };
        break;
      }
      case 'file': {
        const full = join(storeDir, value.path);
        await fsyncFile(full);
        const { size, sha256 } = await digestFileContent(full);
        artifacts[output] = { path: value.path, kind: 'file', size, sha256 };
        break;
      }
      case 'stream':
        artifacts[output] = value.entry;
        break;
      case 'artifact': {
        // Another store's committed artifact: immutable, so a hard link shares it safely; copy across devices.
        const path = `${output}${extname(value.entry.path)}`;
        await linkOrCopy(value.source, join(storeDir, path));
        artifacts[output] = { ...value.entry, path };
        break;
      }
      default:
        assertNever(value, 'output kind');
    }
  }
  await fsyncDirectory(storeDir);
  faultPoint('after-artifact-write');
  return artifacts;
}

async function linkOrCopy(source: string, target: string): Promise<void> {
  await rm(target, { force: true });
  try {
    await link(source, target);
  } catch (error) {
    if (!isErrnoException(error) || !['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP'].includes(error.code ?? '')) throw error;
    await copyFile(source, target);
    await fsyncFile(target);
  }
}

/** Commit: metadata.json becomes `committed`, durably. The store is immutable from here on. */
export async function commitStore(storeDir: string, created: StoreMetadata, artifacts: { [output: string]: ArtifactEntry }, durationMs: number): Promise<CommittedMetadata> {
  const committed: CommittedMetadata = { ...created, state: 'committed', committedAt: new Date().toISOString(), durationMs, artifacts };
  const path = join(storeDir, METADATA_FILE);
  faultWrite('metadata-write', path);
  await writeFileDurable(path, `${JSON.stringify(committed, null, 2)}\n`, () => faultPoint('after-metadata-temp'));
  await fsyncDirectory(storeDir);
  faultPoint('after-commit');
  return committed;
}

/** How thoroughly to check a committed store before reusing it. */
export type VerifyMode = 'size' | 'checksum';

/** The first problem of a committed store (an artifact missing, resized, or with another sha256), or undefined. */
export async function verifyStore(storeDir: string, metadata: CommittedMetadata, mode: VerifyMode): Promise<string | undefined> {
  for (const [output, artifact] of Object.entries(metadata.artifacts)) {
    // A stream's chunks are checked like artifacts of their own.
    const files = artifact.kind === 'stream' ? (artifact.chunks ?? []) : [artifact];
    const problem = await verifyFiles(storeDir, output, files, mode);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

async function verifyFiles(storeDir: string, output: string, files: readonly Pick<ArtifactEntry, 'path' | 'size' | 'sha256'>[], mode: VerifyMode): Promise<string | undefined> {
  for (const artifact of files) {
    const path = join(storeDir, artifact.path);
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) return `artifact '${artifact.path}' of output '${output}' is missing`;
    if (info.size !== artifact.size) return `artifact '${artifact.path}' has ${info.size} bytes, metadata says ${artifact.size}`;
    if (mode === 'checksum') {
      const { sha256 } = await digestFileContent(path);
      if (sha256 !== artifact.sha256) return `artifact '${artifact.path}' does not match its sha256`;
    }
  }
  return undefined;
}

/** Move a store aside to `quarantine/` (never deleted) so its node can be rebuilt. Returns the new path. */
export async function quarantineStore(layout: WorkdirLayout, uid: Uid): Promise<string> {
  await mkdir(layout.quarantine, { recursive: true });
  const target = join(layout.quarantine, `${uid}.${new Date().toISOString().replace(/[:.]/g, '-')}.${randomBytes(3).toString('hex')}`);
  try {
    await rename(layout.storeDir(uid), target);
  } catch (error) {
    throw new RunGraphError('E_CORRUPT_STORE', `cannot move store ${uid} to quarantine: ${String(error)}`, { value: uid, cause: error });
  }
  return target;
}
