// Reads that avoid system calls and allocations must still return every
// byte, whatever a file's size against their buffers: digestFileContent
// (one synchronous 64 KiB read when the rest fits, else 1 MiB chunks into
// two buffers in turn, from an offset) and
// readSmallFileSync (one 64 KiB read when it fits).
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestFileContent, readSmallFileSync } from '../../src/store/durable.js';

const MiB = 1 << 20;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'run-graph-digest-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('digestFileContent', () => {
  for (const size of [0, 1, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, MiB - 1, MiB, 2 * MiB, 2 * MiB + MiB / 2 + 3]) {
    it(`digests ${size} bytes, whole and from an offset`, async () => {
      const bytes = randomBytes(size);
      const path = join(dir, `f${size}`);
      await writeFile(path, bytes);
      const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
      expect(await digestFileContent(path)).toEqual({ size, sha256: sha256(bytes) });
      const start = Math.min(size, 128);
      expect(await digestFileContent(path, start)).toEqual({
        size: size - start,
        sha256: sha256(bytes.subarray(start)),
      });
    });
  }
});

describe('readSmallFileSync', () => {
  for (const size of [0, 100, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 200 * 1024]) {
    it(`reads ${size} bytes of text`, async () => {
      // Text with multi-byte characters, so that a cut in the wrong place would show.
      const text = 'é-0123456789abcdef'.repeat(Math.ceil(size / 19) + 1).slice(0, size);
      const path = join(dir, `t${size}`);
      await writeFile(path, text, 'utf8');
      expect(readSmallFileSync(path)).toBe(text);
    });
  }
});

describe('readSmallFileSync and access times', () => {
  it("leaves a file's access time alone where a plain read would update it", async (context) => {
    const mtime = new Date();
    const atime = new Date(mtime.getTime() - 60_000);
    const [ours, control] = ['ours', 'control'].map((name) => join(dir, `atime-${name}`)) as [string, string];
    for (const path of [ours, control]) {
      await writeFile(path, 'metadata');
      await utimes(path, atime, mtime);
    }
    // Compared in nanoseconds, before and after: milliseconds in floating point need not round-trip.
    const accessed = async (path: string): Promise<bigint> => (await stat(path, { bigint: true })).atimeNs;
    const [oursBefore, controlBefore] = [await accessed(ours), await accessed(control)];
    readFileSync(control);
    // With noatime mounts nothing updates access times, and there is nothing to see.
    if ((await accessed(control)) === controlBefore) context.skip();
    expect(readSmallFileSync(ours)).toBe('metadata');
    expect(await accessed(ours)).toBe(oursBefore);
  });
});
