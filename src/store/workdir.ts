/**
 * The working directory: one store per node at `<workdir>/<uid>/`, staging
 * in `tmp/`, and stores that failed verification moved to `quarantine/`
 * (deleted only by `gc --yes`). Opening a working directory checks that it is one,
 * creates it if needed, and sweeps the staging leftovers of dead processes.
 */
import { access, constants, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { RunGraphError, isErrnoException } from '../errors.js';
import { isUid, type Uid } from '../identity/fingerprint.js';
import { isOwnerDead, readOwner } from './owner.js';
import { stagingOwner } from './staging.js';

export const TMP_DIR = 'tmp';
export const QUARANTINE_DIR = 'quarantine';
/** A marker naming the directory as a run-graph working directory. */
export const WORKDIR_MARKER = '.run-graph';

/** A staging entry this old is swept whoever made it. */
const ORPHAN_TMP_AGE_MS = 60 * 60 * 1000;

export interface WorkdirLayout {
  readonly root: string;
  readonly tmp: string;
  readonly quarantine: string;
  storeDir(uid: Uid): string;
}

export function workdirLayout(root: string): WorkdirLayout {
  const abs = resolve(root);
  return {
    root: abs,
    tmp: join(abs, TMP_DIR),
    quarantine: join(abs, QUARANTINE_DIR),
    storeDir: (uid) => join(abs, uid),
  };
}

function workdirError(root: string, problem: string, error: unknown, hint?: string): RunGraphError {
  return new RunGraphError('E_WORKDIR', `working directory ${root}: ${problem}`, {
    value: root,
    cause: error,
    ...(hint === undefined ? {} : { hint }),
  });
}

/** Explain a file system error on the working directory in words. */
export function describeFsError(error: unknown): string {
  if (!isErrnoException(error)) return String(error);
  switch (error.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EDQUOT':
      return 'disk quota exceeded';
    case 'ENOTDIR':
      return 'a path component is a file, not a directory';
    case 'EEXIST':
      return 'exists and is not a directory';
    default:
      return error.message;
  }
}

/**
 * Make sure `root` is a usable working directory: create it (and tmp/) if
 * missing, refuse a file or a non-empty directory that is not one of ours,
 * and check that it can be written.
 */
export async function openWorkdir(root: string): Promise<WorkdirLayout> {
  const layout = workdirLayout(root);
  const existing = await stat(layout.root).catch((error: unknown) => {
    if (isErrnoException(error) && error.code === 'ENOENT') return undefined;
    throw workdirError(layout.root, describeFsError(error), error);
  });
  if (existing !== undefined && !existing.isDirectory())
    throw workdirError(layout.root, 'is a file, not a directory', undefined, 'choose another --workdir');
  // The marker says it at once; only a directory without one is listed (a working directory of 100,000 stores
  // takes tens of milliseconds to list).
  const marked =
    existing !== undefined &&
    (await stat(join(layout.root, WORKDIR_MARKER)).then(
      (info) => info.isFile(),
      () => false,
    ));
  if (existing !== undefined && !marked) {
    const entries = await readdir(layout.root).catch((error: unknown) => {
      throw workdirError(layout.root, describeFsError(error), error);
    });
    if (!isWorkdirListing(entries) && entries.length > 0) {
      throw workdirError(
        layout.root,
        'is not empty and is not a run-graph working directory',
        undefined,
        'use an empty or new directory, so run-graph never mixes its stores with other files',
      );
    }
  }
  try {
    await mkdir(layout.tmp, { recursive: true });
    await writeFile(join(layout.root, WORKDIR_MARKER), 'run-graph working directory, format 1\n', { flag: 'a' });
    await access(layout.root, constants.W_OK);
  } catch (error) {
    throw workdirError(layout.root, describeFsError(error), error, 'the working directory must be writable');
  }
  return layout;
}

function isWorkdirListing(entries: readonly string[]): boolean {
  return entries.includes(WORKDIR_MARKER) || entries.includes(TMP_DIR);
}

/** Whether `root` is a directory run-graph has used as a working directory. */
export async function isRunGraphWorkdir(root: string): Promise<boolean> {
  const entries = await readdir(root).catch(() => undefined);
  return entries !== undefined && isWorkdirListing(entries);
}

/** The uids of every store in the working directory (one readdir). */
export async function listStoreUids(layout: WorkdirLayout): Promise<Set<Uid>> {
  try {
    return new Set((await readdir(layout.root)).filter(isUid));
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') return new Set();
    throw workdirError(layout.root, describeFsError(error), error);
  }
}

/**
 * Remove staging entries of processes that are provably dead, and any entry
 * older than an hour. Returns their names.
 */
export async function sweepTmp(layout: WorkdirLayout): Promise<string[]> {
  const swept: string[] = [];
  const entries = await readdir(layout.tmp).catch(() => [] as string[]);
  for (const name of entries) {
    const path = join(layout.tmp, name);
    // The name says who staged the entry, even when it died before writing the owner file into it.
    const owner = (await readOwner(path)) ?? stagingOwner(name);
    // An entry lives for milliseconds while its store is staged; an old one is abandoned whoever made it.
    const info = await stat(path).catch(() => undefined);
    const old = info !== undefined && Date.now() - info.mtimeMs > ORPHAN_TMP_AGE_MS;
    if ((owner !== undefined && isOwnerDead(owner)) || old) {
      await rm(path, { recursive: true, force: true });
      swept.push(name);
    }
  }
  return swept;
}
