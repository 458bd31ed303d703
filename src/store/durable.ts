/**
 * Durable file writes: a file is written under a temporary name, fsynced and
 * renamed over its final name, and the directory is fsynced so the rename
 * itself survives a power cut. A reader therefore sees either the old content
 * or the new, never a torn file.
 *
 * The commit path has its own writer rather than write-file-atomic's: it
 * needs a kill point between "fsynced under the temporary name" and
 * "renamed" for the crash tests, and it runs once per artifact per node, where
 * write-file-atomic's extra realpath, stat and chown calls show. Files off the
 * commit path (the owner file) go through write-file-atomic.
 */
import { createReadStream } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';

/** Prefix of temporary files inside a store; a store reset removes them. */
export const TEMP_PREFIX = '.rg-tmp-';

/**
 * Write `data` to `path` atomically and durably: temp file, write, fsync,
 * close, `beforeRename()`, rename. The directory is not fsynced here (see
 * `fsyncDirectory`), so several files can share one directory fsync.
 */
export async function writeFileDurable(path: string, data: string | Uint8Array, beforeRename?: () => void): Promise<void> {
  const temp = join(dirname(path), `${TEMP_PREFIX}${basename(path)}.${randomBytes(4).toString('hex')}`);
  const handle = await open(temp, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  beforeRename?.();
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/** Write `path` atomically without fsync: for files whose loss in a power cut is detected and repaired (the owner file). */
export async function writeFileQuick(path: string, data: string): Promise<void> {
  await writeFileAtomic(path, data, { fsync: false });
}

/** Make the entries of a directory (creations, renames, removals) durable. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync a file written by someone else (a subprocess output) before it is committed. */
export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Size and sha256 of a file, streamed. */
export async function digestFileContent(path: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const bytes = chunk as Buffer;
    hash.update(bytes);
    size += bytes.length;
  }
  return { size, sha256: hash.digest('hex') };
}
