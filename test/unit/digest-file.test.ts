// digestFileContent reads a file in 1 MiB chunks into two buffers in turn:
// the digest must be that of the bytes from `start` to the end, whatever the
// size against the chunk (empty, under, exactly, several and a part).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestFileContent } from '../../src/store/durable.js';

const MiB = 1 << 20;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'run-graph-digest-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('digestFileContent', () => {
  for (const size of [0, 1, MiB - 1, MiB, 2 * MiB, 2 * MiB + MiB / 2 + 3]) {
    it(`digests ${size} bytes, whole and from an offset`, async () => {
      const bytes = randomBytes(size);
      const path = join(dir, `f${size}`);
      await writeFile(path, bytes);
      const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
      expect(await digestFileContent(path)).toEqual({ size, sha256: sha256(bytes) });
      const start = Math.min(size, 128);
      expect(await digestFileContent(path, start)).toEqual({ size: size - start, sha256: sha256(bytes.subarray(start)) });
    });
  }
});
