/**
 * Content digests of `$file` inputs, streamed so a large file never sits in
 * memory whole. An `.npy` file is also digested as an array: dtype, shape and
 * the sha256 of its little-endian data bytes, so the same array saved with a
 * different header layout keeps its uid.
 */
import { readFile, stat } from 'node:fs/promises';
import { RunGraphError, isErrnoException, type ErrorLocation } from '../errors.js';
import { sha256Hex } from '../identity/fingerprint.js';
import { arrayBytes, decodeNpy, readNpyHeader, type NpyHeader } from '../values/npy.js';
import { INPUT_KIND, type FileInput } from '../operations/operation.js';
import { digestFileContent } from '../store/durable.js';

async function npyHeaderOrUndefined(path: string): Promise<NpyHeader | undefined> {
  try {
    return await readNpyHeader(path);
  } catch {
    return undefined;
  }
}

/** Digest a file input; a missing or unreadable file is E_FILE_INPUT naming where it was used. */
export async function digestFile(path: string, given: string, where: ErrorLocation): Promise<FileInput> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile())
      throw new RunGraphError('E_FILE_INPUT', `'${given}' is not a regular file`, { ...where, value: given });
    size = info.size;
  } catch (error) {
    if (error instanceof RunGraphError) throw error;
    const reason = isErrnoException(error) && error.code === 'ENOENT' ? 'no such file' : String(error);
    throw new RunGraphError('E_FILE_INPUT', `cannot read file input '${given}': ${reason}`, {
      ...where,
      value: given,
      hint: 'paths in {"$file": ...} are relative to the workflow file',
      cause: error,
    });
  }
  // A well-formed .npy is identified by its array: dtype, shape and the digest of its data bytes, which is
  // all that is hashed, once. Any other file is hashed whole.
  const header = given.endsWith('.npy') ? await npyHeaderOrUndefined(path) : undefined;
  if (header !== undefined && size === header.dataOffset + header.dataLength) {
    let dataSha256: string;
    if (header.littleEndian) {
      dataSha256 = (await digestFileContent(path, header.dataOffset)).sha256;
    } else {
      // Rare: a big-endian array is swapped to little-endian in memory before hashing.
      dataSha256 = sha256Hex(arrayBytes(decodeNpy(await readFile(path), given)));
    }
    return {
      [INPUT_KIND]: 'file',
      given,
      path,
      size,
      sha256: dataSha256,
      npy: { dtype: header.dtype, shape: header.shape, dataSha256 },
    };
  }
  return { [INPUT_KIND]: 'file', given, path, size, sha256: (await digestFileContent(path)).sha256 };
}
