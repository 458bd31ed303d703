/**
 * Durable file writes: a file is written under a temporary name, fsynced and
 * renamed over its final name (write-file-atomic does those steps), and the
 * directory is fsynced so the rename itself survives a power cut. A reader
 * therefore sees either the old content or the new, never a torn file.
 */
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import writeFileAtomic from 'write-file-atomic';

/** Write `data` to `path` atomically and durably (the directory is not fsynced: see `fsyncDirectory`). */
export async function writeFileDurable(path: string, data: string | Uint8Array): Promise<void> {
  await writeFileAtomic(path, typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength), { fsync: true });
}

/** Write `path` atomically without fsync: for files whose loss in a power cut is detected and repaired. */
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
