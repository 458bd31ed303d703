/**
 * Durable file writes: a file is written under a temporary name, fsynced and
 * renamed over its final name, and the directory is fsynced so the rename
 * itself survives a power cut. A reader therefore sees either the old content
 * or the new, never a torn file.
 *
 * The two halves are separate (`stageFile`, then `renameStaged`) so that a
 * commit can fsync all of its files at once and rename them in the order its
 * protocol needs, and so the crash tests have a kill point between "fsynced
 * under the temporary name" and "renamed".
 *
 * Which calls are synchronous: reads, a small write into a file already
 * open, and a close take microseconds in the kernel, while each
 * asynchronous call is a round trip through libuv's thread pool that costs
 * tens to hundreds of microseconds on a loaded machine. Calls that change
 * the file system's metadata (creating, renaming, removing, fsync) are
 * asynchronous: on a journaling file system they wait for any journal
 * commit in progress, which under a stream of fsyncs is most of the time, so
 * made synchronously they would stall the event loop, and every other
 * node's work with it.
 */
import { closeSync, constants, fsync, open, openSync, readSync, write, writeSync } from 'node:fs';
import { open as openHandle, rename, unlink, type FileHandle } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';

/** Prefix of temporary files inside a store; a store reset removes them. */
export const TEMP_PREFIX = '.rg-tmp-';

/** Files up to this size are written synchronously; larger ones through the thread pool. */
const SYNC_WRITE_LIMIT = 64 * 1024;

const fsyncAsync = promisify(fsync);
const writeAsync = promisify(write);
const openAsync = promisify(open);

/** A file written and fsynced under a temporary name beside `path`, waiting for its rename. */
export interface StagedFile {
  readonly temp: string;
  readonly path: string;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let offset = 0; offset < bytes.length;) offset += writeSync(fd, bytes, offset, bytes.length - offset);
}

async function writeAllAsync(fd: number, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;)
    offset += (await writeAsync(fd, bytes, offset, bytes.length - offset)).bytesWritten;
}

/** Remove a file if it is there; for cleaning up after a failure, so it never throws. */
export async function removeQuietly(path: string): Promise<void> {
  // Already gone, or the failure that brought us here will be reported instead.
  await unlink(path).catch(() => undefined);
}

/** What a file is written from: text (as UTF-8), bytes, or bytes in parts written one after another. */
export type FileData = string | Uint8Array | readonly Uint8Array[];

/**
 * Create the new file `path` (failing if it exists) holding `data`, fsynced
 * if asked: the creation goes through the thread pool, a small write and the
 * close are made synchronously (see above). One round trip, two with fsync,
 * where fs.promises.writeFile makes three.
 */
export async function createFile(path: string, data: FileData, options: { fsync: boolean }): Promise<void> {
  const parts = typeof data === 'string' ? [Buffer.from(data)] : data instanceof Uint8Array ? [data] : data;
  const size = parts.reduce((sum, part) => sum + part.length, 0);
  const fd = await openAsync(path, 'wx');
  try {
    if (size <= SYNC_WRITE_LIMIT) for (const part of parts) writeAll(fd, part);
    else for (const part of parts) await writeAllAsync(fd, part);
    if (options.fsync) await fsyncAsync(fd);
  } catch (error) {
    closeSync(fd);
    await removeQuietly(path);
    throw error;
  }
  closeSync(fd);
}

/**
 * createFile for ASCII text made piece by piece by `write` (which calls its
 * sink with each piece, in order), so a text of any size is never held
 * whole. Returns the number of bytes written.
 */
export async function createTextFile(
  path: string,
  write: (sink: (piece: string | Uint8Array) => void) => void,
  options: { fsync: boolean },
): Promise<number> {
  const fd = await openAsync(path, 'wx');
  let size = 0;
  try {
    write((piece) => {
      const bytes = typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece;
      writeAll(fd, bytes);
      size += bytes.length;
    });
    if (options.fsync) await fsyncAsync(fd);
  } catch (error) {
    closeSync(fd);
    await removeQuietly(path);
    throw error;
  }
  closeSync(fd);
  return size;
}

/** Random per process, so that names this process makes do not meet another's; a counter within it. */
const PROCESS_TAG = randomBytes(4).toString('hex');
let namesMade = 0;

/** A suffix for a temporary name, in hex digits: no other this process makes is the same, and another process's hardly. */
export function uniqueSuffix(): string {
  namesMade += 1;
  return `${PROCESS_TAG}${namesMade.toString(16)}`;
}

/** A temporary name beside `path`, which a store reset or a reader skipping '.' names passes over. */
export function tempNameFor(path: string): string {
  return join(dirname(path), `${TEMP_PREFIX}${basename(path)}.${uniqueSuffix()}`);
}

/** Write `data` to a new temporary file beside `path` and fsync it. Nothing is visible under `path` yet. */
export async function stageFile(path: string, data: FileData): Promise<StagedFile> {
  const temp = tempNameFor(path);
  await createFile(temp, data, { fsync: true });
  return { temp, path };
}

/** Rename a staged file over its final name (the directory still needs an fsync to make that durable). */
export async function renameStaged(file: StagedFile): Promise<void> {
  try {
    await rename(file.temp, file.path);
  } catch (error) {
    await removeQuietly(file.temp);
    throw error;
  }
}

/**
 * Write `data` to `path` atomically and durably: temp file, write, fsync,
 * close, rename. The directory is not fsynced here (see `fsyncDirectory`),
 * so several files can share one directory fsync.
 */
export async function writeFileDurable(path: string, data: string | Uint8Array): Promise<void> {
  await renameStaged(await stageFile(path, data));
}

/** Make the entries of a directory (creations, renames, removals) durable. */
export async function fsyncDirectory(dir: string): Promise<void> {
  await fsyncPath(dir, 'r');
}

/** fsync a file written by someone else (a subprocess output) before it is committed. */
export async function fsyncFile(path: string): Promise<void> {
  await fsyncPath(path, 'r+');
}

async function fsyncPath(path: string, flags: string): Promise<void> {
  // Opening what exists, without creating or truncating, changes nothing on disk: synchronous.
  const fd = openSync(path, flags);
  try {
    await fsyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Write `path` atomically without fsync: a new temporary file (`temp`, by
 * default a random name beside `path`), renamed over it. For files whose
 * loss in a power cut is detected and repaired (the owner file, written at
 * every lock): two round trips, where write-file-atomic's realpath, stat and
 * chown make about seven.
 */
export async function writeFileQuick(path: string, data: string, temp = tempNameFor(path)): Promise<void> {
  await createFile(temp, data, { fsync: false });
  try {
    await rename(temp, path);
  } catch (error) {
    await removeQuietly(temp);
    throw error;
  }
}

/** One buffer for every synchronous small read: the event loop runs one at a time. */
const SMALL_READ = Buffer.allocUnsafe(64 * 1024);

/**
 * A file's text, read synchronously in as few system calls as it takes:
 * open, one read and close when it fits in 64 KiB, where readFileSync reads
 * a second time to find the end, and without updating its access time (see
 * openForReading). For the small files read by the thousand (metadata of
 * every store a resume checks, owner files, small artifacts as inputs).
 */
export function readSmallFileSync(path: string): string {
  return readSmallFileBytesSync(path).toString('utf8');
}

/** readSmallFileSync, as bytes. */
export function readSmallFileBytesSync(path: string): Buffer {
  const fd = openForReading(path);
  try {
    let size = readSync(fd, SMALL_READ, 0, SMALL_READ.length, 0);
    if (size < SMALL_READ.length) return Buffer.from(SMALL_READ.subarray(0, size));
    // Larger than the buffer: read on to the end.
    const parts = [Buffer.from(SMALL_READ)];
    for (;;) {
      const part = Buffer.allocUnsafe(SMALL_READ.length);
      const got = readSync(fd, part, 0, part.length, size);
      if (got === 0) break;
      parts.push(part.subarray(0, got));
      size += got;
    }
    return Buffer.concat(parts, size);
  } finally {
    closeSync(fd);
  }
}

/** O_NOATIME where the platform has it, else 0. */
const NOATIME: number = (constants as { O_NOATIME?: number }).O_NOATIME ?? 0;

/** Whether an open with O_NOATIME was refused because the file is not this user's; then it is opened as usual. */
function notOurs(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'EPERM';
}

/**
 * Open a file to read it, without updating its access time where the file
 * system allows (O_NOATIME, Linux, files of this user). With the usual
 * `relatime` mount option, the first read of a file since it was written
 * updates its access time, so the first resume after a run would dirty the
 * inode of every store's metadata.json just by reading it: a journal write
 * per node, for a time run-graph never looks at.
 */
function openForReading(path: string): number {
  if (NOATIME !== 0) {
    try {
      return openSync(path, constants.O_RDONLY | NOATIME);
    } catch (error) {
      if (!notOurs(error)) throw error;
    }
  }
  return openSync(path, 'r');
}

/** openForReading, as a FileHandle. */
async function openHandleForReading(path: string): Promise<FileHandle> {
  if (NOATIME !== 0) {
    try {
      return await openHandle(path, constants.O_RDONLY | NOATIME);
    } catch (error) {
      if (!notOurs(error)) throw error;
    }
  }
  return openHandle(path, 'r');
}

/**
 * digestFileContent of a file whose rest from `start` fits in the small-read
 * buffer: open, one read and close, synchronously, like readSmallFileSync.
 * Undefined when there is more, for the caller to digest in chunks. Most
 * files digested are small (a subprocess's stdout and stderr, by the
 * thousand), and each 1 MiB chunk buffer allocated for one of them is
 * external memory that, a few megabytes at a time, makes V8 run full
 * garbage collections: on a 300-node subprocess run, 67 of them, about 3 ms
 * of CPU per node.
 */
function digestSmallFileSync(path: string, start: number): { size: number; sha256: string } | undefined {
  const fd = openForReading(path);
  try {
    const size = readSync(fd, SMALL_READ, 0, SMALL_READ.length, start);
    if (size === SMALL_READ.length) return undefined;
    return { size, sha256: createHash('sha256').update(SMALL_READ.subarray(0, size)).digest('hex') };
  } finally {
    closeSync(fd);
  }
}

/** Bytes read at a time when digesting a file. */
const DIGEST_CHUNK = 1 << 20;

/**
 * Size and sha256 of a file, from byte `start` to its end. The file is read
 * into two buffers in turn, the next read under way while the last one is
 * hashed. A read stream would allocate a buffer per chunk: 80 of them for an
 * 80 MB array, which the garbage collector then has to clear while the rest
 * of the graph is built.
 */
export async function digestFileContent(path: string, start = 0): Promise<{ size: number; sha256: string }> {
  const small = digestSmallFileSync(path, start);
  if (small !== undefined) return small;
  const handle = await openHandleForReading(path);
  try {
    const hash = createHash('sha256');
    let spare = Buffer.allocUnsafe(DIGEST_CHUNK);
    let size = 0;
    let reading = handle.read(Buffer.allocUnsafe(DIGEST_CHUNK), 0, DIGEST_CHUNK, start);
    for (;;) {
      const { bytesRead, buffer } = await reading;
      if (bytesRead === 0) break;
      size += bytesRead;
      reading = handle.read(spare, 0, DIGEST_CHUNK, start + size);
      hash.update(bytesRead === DIGEST_CHUNK ? buffer : buffer.subarray(0, bytesRead));
      spare = buffer;
    }
    return { size, sha256: hash.digest('hex') };
  } finally {
    await handle.close();
  }
}
