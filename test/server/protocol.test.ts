/**
 * The pure pieces of the protocol: byte ranges, chunk layouts (whole rows,
 * never past the data), and the one table of error statuses, which
 * docs/http-api.md must list exactly.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { arrayLayout, chunkLayout, chunkSpan } from '../../src/views/browse/chunk-layout.js';
import type { ArtifactInfo } from '../../src/views/browse/types.js';
import { parseRange } from '../../src/server/artifacts.js';
import { isLoopbackHost } from '../../src/server/auth.js';
import { API_STATUS, ApiError } from '../../src/server/status-codes.js';

function arrayArtifact(shape: number[], dataOffset = 128): ArtifactInfo {
  const size = dataOffset + shape.reduce((n, d) => n * d, 8);
  return {
    output: 'data',
    path: 'data.npy',
    kind: 'array',
    size,
    sha256: '0',
    dtype: 'float64',
    shape,
    array: arrayLayout(shape, 8, dataOffset, true),
  };
}

describe('parseRange', () => {
  it('reads one range, open-ended and suffix ranges, clamped to the file', () => {
    expect(parseRange(undefined, 100)).toBeUndefined();
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-1000', 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=50-5000', 100)).toEqual({ start: 50, end: 99 });
  });

  it('refuses the rest as INVALID_RANGE with the size in Content-Range', () => {
    for (const header of ['bytes=100-', 'bytes=5-4', 'bytes=1-2,3-4', 'bytes=-0', 'chars=1-2', 'bytes=x-', '']) {
      let caught: unknown;
      try {
        parseRange(header, 100);
      } catch (error) {
        caught = error;
      }
      expect(caught, header).toBeInstanceOf(ApiError);
      expect((caught as ApiError).status).toBe('INVALID_RANGE');
      expect((caught as ApiError).headers['Content-Range']).toBe('bytes */100');
    }
  });
});

describe('chunk layouts', () => {
  it('cut an array into whole rows that cover its data exactly once', () => {
    const artifact = arrayArtifact([1000, 3]);
    const layout = chunkLayout(artifact, 4096);
    expect(layout).toEqual({ kind: 'rows', chunkBytes: 4096, rowsPerChunk: 170, count: 6 });
    let expectedStart = 128;
    let rows = 0;
    for (let i = 0; i < layout.count; i++) {
      const span = chunkSpan(artifact, layout, i);
      expect(span?.start).toBe(expectedStart);
      expect(((span?.end ?? 0) - (span?.start ?? 0)) % 24).toBe(0);
      expect(span?.shape?.[1]).toBe(3);
      rows += span?.shape?.[0] ?? 0;
      expectedStart = span?.end ?? 0;
    }
    expect(rows).toBe(1000);
    expect(expectedStart).toBe(artifact.size);
    expect(chunkSpan(artifact, layout, layout.count)).toBeUndefined();
    expect(chunkSpan(artifact, layout, -1)).toBeUndefined();
  });

  it('give a row larger than the chunk size a chunk of its own, and a scalar one chunk', () => {
    const wide = arrayArtifact([3, 10_000]);
    expect(chunkLayout(wide, 4096)).toMatchObject({ rowsPerChunk: 1, count: 3 });
    const scalar = arrayArtifact([]);
    const layout = chunkLayout(scalar, 4096);
    expect(layout.count).toBe(1);
    expect(chunkSpan(scalar, layout, 0)).toMatchObject({ start: 128, end: 136, shape: [] });
    expect(chunkLayout(arrayArtifact([0, 4]), 4096).count).toBe(0);
  });

  it('cut any other file in plain byte ranges', () => {
    const file: ArtifactInfo = { output: 'stdout', path: 'stdout.json', kind: 'json', size: 10_000, sha256: '0' };
    const layout = chunkLayout(file, 4096);
    expect(layout).toEqual({ kind: 'bytes', chunkBytes: 4096, count: 3 });
    expect(chunkSpan(file, layout, 2)).toEqual({ index: 2, start: 8192, end: 10_000 });
  });
});

describe('loopback hosts', () => {
  it('are 127.0.0.0/8, ::1 and localhost, nothing else', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost'])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '127.0.0.1.evil.com', 'localhost.evil.com', ''])
      expect(isLoopbackHost(host), host).toBe(false);
  });
});

describe('the status table', () => {
  it('is documented in docs/http-api.md, row for row', async () => {
    const page = await readFile(new URL('../../docs/http-api.md', import.meta.url), 'utf8');
    const rows = [...page.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| (.+) \|$/gm)].map((m) => [m[1], Number(m[2]), m[3]]);
    expect(rows).toEqual(Object.entries(API_STATUS).map(([status, { http, meaning }]) => [status, http, meaning]));
  });
});
