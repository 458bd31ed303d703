/**
 * A 100 MiB float64 array (12 800 x 1024), made by a workflow and served:
 * read in 4 MiB chunks over several connections and compared byte for byte
 * with the file on disk, read whole as an ndarray, and cut by byte ranges.
 * The array is written to disk block by block and compared chunk by chunk,
 * so the test holds at most the array once (for `read()`).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type RemoteGraph } from '../../src/client/connect.js';
import type { Uid } from '../../src/identity/fingerprint.js';
import { readNpyHeader } from '../../src/values/npy.js';
import { startServer, type RunGraphServer } from '../../src/server/server.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { bigValue, rawRequest, runWorkflow, writeBigNpy } from '../support/server.js';

const ROWS = 12_800;
const COLUMNS = 1024;
const MIB = 1024 * 1024;

let sandbox: Sandbox;
let server: RunGraphServer;
let remote: RemoteGraph;
let uid: Uid;
let artifactPath: string;
let dataOffset: number;

beforeAll(async () => {
  sandbox = await createSandbox();
  await writeBigNpy(sandbox.path('big.npy'), [ROWS, COLUMNS]);
  const workdir = sandbox.path('work');
  const graph = await runWorkflow(
    { nodes: [{ label: 'big', operation: 'run-graph.NpyFile', input: { file: { $file: 'big.npy' } } }] },
    sandbox.dir,
    workdir,
  );
  uid = graph.nodes[0]?.uid as Uid;
  artifactPath = join(workdir, uid, 'data.npy');
  dataOffset = (await readNpyHeader(artifactPath)).dataOffset;
  server = await startServer({ workdir, graph, port: 0 });
  remote = await connect(server.url, { connections: 4 });
}, 120_000);

afterAll(async () => {
  remote?.close();
  await server?.close();
  await sandbox?.cleanup();
});

async function sha256OfFile(path: string, start: number): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { start, highWaterMark: 4 * MIB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe('a 100 MiB array', () => {
  it('comes in 4 MiB chunks of whole rows, each equal to the bytes on disk', async () => {
    const [artifact] = await remote.node(uid).artifacts();
    expect(artifact).toMatchObject({
      output: 'data',
      dtype: 'float64',
      shape: [ROWS, COLUMNS],
      array: { dataOffset, rowBytes: COLUMNS * 8, rows: ROWS },
    });
    const file = await open(artifactPath, 'r');
    const opened = remote.transport.connectionsOpened;
    let index = 0;
    let rows = 0;
    try {
      for await (const chunk of remote.node(uid).chunks('data', { chunkBytes: 4 * MIB, concurrency: 4 })) {
        expect(chunk.index).toBe(index++);
        expect(chunk.shape).toEqual([512, COLUMNS]);
        expect(chunk.rows).toEqual([rows, rows + 512]);
        const onDisk = Buffer.alloc(chunk.end - chunk.start);
        await file.read(onDisk, 0, onDisk.length, chunk.start);
        expect(Buffer.from(chunk.bytes.buffer, chunk.bytes.byteOffset, chunk.bytes.byteLength).equals(onDisk)).toBe(
          true,
        );
        // Decodable on its own: its first and last elements are the array's at those rows.
        const values = chunk.value?.data as Float64Array;
        expect(values[0]).toBe(bigValue(rows * COLUMNS));
        expect(values[values.length - 1]).toBe(bigValue((rows + 512) * COLUMNS - 1));
        rows += 512;
      }
    } finally {
      await file.close();
    }
    expect(index).toBe(25);
    expect(rows).toBe(ROWS);
    // The window of four fetches ran over more than one connection.
    expect(remote.transport.connectionsOpened - opened).toBeGreaterThan(1);
  }, 120_000);

  it('reads whole into an ndarray whose bytes hash like the file data', async () => {
    const array = await remote.node(uid).read('data', { concurrency: 4 });
    expect(array.shape).toEqual([ROWS, COLUMNS]);
    expect(array.get(0, 0)).toBe(bigValue(0));
    expect(array.get(6400, 17)).toBe(bigValue(6400 * COLUMNS + 17));
    expect(array.get(ROWS - 1, COLUMNS - 1)).toBe(bigValue(ROWS * COLUMNS - 1));
    const data = array.data as Float64Array;
    const remoteHash = createHash('sha256')
      .update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
      .digest('hex');
    expect(remoteHash).toBe(await sha256OfFile(artifactPath, dataOffset));
  }, 120_000);

  it('serves byte ranges (206) and the whole file with its sha256 as ETag', async () => {
    const file = await open(artifactPath, 'r');
    try {
      const expected = Buffer.alloc(1000);
      await file.read(expected, 0, 1000, 50 * MIB);
      const path = `/v1/nodes/${uid}/artifacts/data`;
      const range = await rawRequest(server.url, { path, headers: { Range: `bytes=${50 * MIB}-${50 * MIB + 999}` } });
      expect(range.status).toBe(206);
      expect(range.headers['content-range']).toBe(`bytes ${50 * MIB}-${50 * MIB + 999}/${(await file.stat()).size}`);
      expect(range.body.equals(expected)).toBe(true);

      const size = (await file.stat()).size;
      const tail = Buffer.alloc(64);
      await file.read(tail, 0, 64, size - 64);
      const suffix = await remote.node(uid).bytes('data', { start: size - 64, end: size });
      expect(suffix.equals(tail)).toBe(true);

      const head = await rawRequest(server.url, { method: 'HEAD', path });
      expect(head.status).toBe(200);
      expect(Number(head.headers['content-length'])).toBe(size);
      const [artifact] = await remote.node(uid).artifacts();
      expect(head.headers['etag']).toBe(`"${artifact?.sha256}"`);
      expect(head.body.length).toBe(0);
    } finally {
      await file.close();
    }
  });
});
