/**
 * Published files: a committed artifact put at a path outside the working
 * directory (a workflow's `"publish"` section). Never a half-written file
 * at that path: the file is made under a temporary name in the same
 * directory (a hard link to the artifact where the file system allows,
 * else a copy, fsynced), renamed over the path, and the directory fsynced,
 * as the store writes its own files. A later run replaces it the same way.
 *
 * A hard link shares the artifact's bytes: replace a published file, never
 * edit it in place (an edit would change the store's artifact, which
 * `--verify` then finds corrupt, quarantines and rebuilds).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, lstat, mkdir, realpath, rename, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { RunGraphError, isErrnoException } from '../errors.js';
import { TEMP_PREFIX, digestFileContent, fsyncDirectory, fsyncFile, removeQuietly } from './durable.js';
import type { Uid } from '../identity/fingerprint.js';
import type { ArtifactEntry } from './metadata.js';
import { readStoreStatus } from './store-status.js';
import type { WorkdirLayout } from './workdir.js';

/** How a file was published: `linked` and `copied` wrote it; `unchanged` found it already there. */
export type PublishHow = 'linked' | 'copied' | 'unchanged';

/** A published path as the workflow's `"publish"` section gives it (see workflow/publish-plan.ts). */
export interface PublishedPath {
  /** Relative to the publish root, normalized. */
  readonly path: string;
  /** The key of `"publish"` it comes from, for messages. */
  readonly from: string;
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** `path` with its deepest existing ancestor resolved through symbolic links, and the rest as written. */
async function realPathSoFar(path: string): Promise<string> {
  let at = resolve(path);
  const rest: string[] = [];
  for (;;) {
    try {
      return join(await realpath(at), ...rest);
    } catch (error) {
      if (!isErrnoException(error) || error.code !== 'ENOENT' || dirname(at) === at) throw error;
      rest.unshift(basename(at));
      at = dirname(at);
    }
  }
}

/**
 * Check the published paths against their root and the working directory,
 * before anything runs: E_PUBLISH_PATH when a path leads outside the root
 * (through a symbolic link, say), lies inside the working directory or
 * holds it, or is an existing directory. Returns each output with its
 * absolute path.
 */
export async function checkPublishRoot<Entry extends PublishedPath>(
  published: readonly Entry[],
  root: string,
  workdir: string,
  file: string | undefined,
): Promise<(Entry & { absolute: string })[]> {
  const realRoot = await realPathSoFar(root);
  const workdirs = [resolve(workdir), await realPathSoFar(workdir)];
  const checked: (Entry & { absolute: string })[] = [];
  for (const entry of published) {
    const absolute = resolve(root, entry.path);
    const fail = (problem: string, hint?: string): RunGraphError =>
      new RunGraphError('E_PUBLISH_PATH', `published path '${entry.path}' ${problem}`, {
        ...(file === undefined ? {} : { file }),
        field: `publish.${entry.from}`,
        value: absolute,
        ...(hint === undefined ? {} : { hint }),
      });
    const real = join(await realPathSoFar(dirname(absolute)), basename(absolute));
    if (!isInside(real, realRoot))
      throw fail(
        `leads outside ${root} (through a symbolic link)`,
        'publish inside the workflow directory or --publish-dir',
      );
    for (const wd of workdirs) {
      if (isInside(absolute, wd) || isInside(real, wd) || isInside(wd, absolute) || isInside(wd, real))
        throw fail(
          `collides with the working directory ${workdir}`,
          'the working directory holds only stores: publish elsewhere',
        );
    }
    const existing = await lstat(absolute).catch(() => undefined);
    if (existing?.isDirectory() === true) throw fail('is an existing directory');
    checked.push({ ...entry, absolute });
  }
  return checked;
}

/** Whether the file at `target` already holds the artifact: the same inode, or the same size and sha256. */
async function alreadyPublished(source: string, target: string, entry: ArtifactEntry): Promise<boolean> {
  const [from, to] = await Promise.all([stat(source), lstat(target).catch(() => undefined)]);
  if (to === undefined || !to.isFile()) return false;
  if (to.ino === from.ino && to.dev === from.dev) return true;
  if (to.size !== entry.size) return false;
  return (await digestFileContent(target)).sha256 === entry.sha256;
}

/** Errors of link(2) that mean "this file system (or this pair of them) cannot link": copy instead. */
const CANNOT_LINK = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOSYS']);

/**
 * Put the artifact `source` (described by `entry`) at `target`, atomically.
 * Throws the file system's error, with the temporary file removed.
 */
export async function publishArtifact(source: string, target: string, entry: ArtifactEntry): Promise<PublishHow> {
  if (entry.kind === 'stream')
    throw new RunGraphError(
      'E_PUBLISH_PATH',
      'a streamed output is a directory of chunks and cannot be published as one file',
      {
        value: target,
      },
    );
  if (await alreadyPublished(source, target, entry)) return 'unchanged';
  const dir = dirname(target);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `${TEMP_PREFIX}${basename(target)}.${randomBytes(4).toString('hex')}`);
  let how: PublishHow = 'linked';
  try {
    try {
      await link(source, temp);
    } catch (error) {
      if (!isErrnoException(error) || !CANNOT_LINK.has(error.code ?? '')) throw error;
      how = 'copied';
      await copyFile(source, temp, constants.COPYFILE_EXCL);
      await fsyncFile(temp);
    }
    await rename(temp, target);
  } catch (error) {
    await removeQuietly(temp);
    throw error;
  }
  await fsyncDirectory(dir);
  return how;
}

/** What `run-graph publish` did with one published output. */
export type PublishOutcome =
  | { outcome: PublishHow }
  | { outcome: 'not-committed'; state: 'not-started' | 'incomplete' | 'running' | 'failed' }
  | { outcome: 'failed'; message: string };

/**
 * Publish one output from its committed store alone, taking no lock
 * (committed stores never change): the artifact's size is checked against
 * the store's metadata first, so a damaged store is not published.
 */
export async function publishFromStore(
  layout: WorkdirLayout,
  uid: Uid,
  output: string,
  target: string,
): Promise<PublishOutcome> {
  const status = await readStoreStatus(layout.storeDir(uid));
  if (status.state !== 'committed') return { outcome: 'not-committed', state: status.state };
  const entry = status.metadata.artifacts[output];
  if (entry === undefined) return { outcome: 'failed', message: `the store has no artifact '${output}'` };
  const source = join(layout.storeDir(uid), entry.path);
  try {
    const size = (await stat(source)).size;
    if (size !== entry.size)
      return {
        outcome: 'failed',
        message: `its artifact is ${size} bytes, the store's metadata says ${entry.size}: run the workflow to rebuild it`,
      };
    return { outcome: await publishArtifact(source, target, entry) };
  } catch (error) {
    return { outcome: 'failed', message: error instanceof Error ? error.message : String(error) };
  }
}
