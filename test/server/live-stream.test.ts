/**
 * Reading a stream while it is produced: a real producer process (a script
 * using the built library) streams chunks slowly and holds back the rest
 * until the test has seen the first ones; the same working directory is
 * served, and a remote client and a local reader follow the stream at once.
 * Then the stream routes' refusals: bad names, traversal, symlinks, chunk
 * indices, an output that does not stream, and bounded waits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalGraph } from '../../src/views/browse/local-graph.js';
import type { StreamChunk, StreamListing } from '../../src/views/browse/types.js';
import { connect, type RemoteGraph } from '../../src/client/connect.js';
import { inspectRemoteStore, resolveRemoteTarget } from '../../src/client/remote-inspect.js';
import { RemoteError } from '../../src/client/transport.js';
import { sha256Hex, type Uid } from '../../src/identity/fingerprint.js';
import { inspectStore } from '../../src/views/inspect.js';
import { encodeNpy } from '../../src/values/npy.js';
import { isCommitted, readStoreMetadata } from '../../src/store/metadata.js';
import { startServer, type RunGraphServer } from '../../src/server/server.js';
import { DIST_INDEX_URL } from '../support/cli.js';
import { createSandbox, writeJson, type Sandbox } from '../support/sandbox.js';
import { expectApiError, rawRequest } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

const CHUNKS = 8;
/** The producer writes this many chunks, then waits for the gate file before the rest. */
const BEFORE_GATE = 3;
/** Rows of chunk `c` (so chunks differ in size): 1, 2, 3, 1, 2, ... */
const rowsOf = (c: number): number => (c % 3) + 1;
const TOTAL_ROWS = Array.from({ length: CHUNKS }, (_, c) => rowsOf(c)).reduce((a, b) => a + b, 0);
const SECRET = 'TOP-SECRET-CONTENT-OUTSIDE-THE-WORKDIR';

// Row r of the stream holds [2r, 2r + 1]; the gate wait is bounded, so a
// test that fails early never leaves the producer waiting forever.
const PRODUCER = `
import { existsSync } from 'node:fs';
import { WorkerContext, buildGraph, builtinRegistry } from ${JSON.stringify(DIST_INDEX_URL)};
const [workdir, gate] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rowsOf = (c) => (c % 3) + 1;
const slowStream = {
  namespace: 'test', name: 'SlowStream', version: '1', summary: 'chunks of counting rows, slowly', defaultOutput: 'samples', stream: 'samples',
  check: () => ({ samples: { kind: 'array', dtype: 'float64', shape: null } }),
  async *run(input, context) {
    let row = 0;
    for (let c = 0; c < (context.resumeAtChunk ?? 0); c++) row += rowsOf(c);
    for (let c = context.resumeAtChunk ?? 0; c < ${CHUNKS}; c++) {
      if (c === ${BEFORE_GATE}) {
        const deadline = Date.now() + 30000;
        while (!existsSync(gate) && Date.now() < deadline) await sleep(20);
      }
      await sleep(80);
      const rows = rowsOf(c);
      yield { dtype: 'float64', shape: [rows, 2], data: Float64Array.from({ length: rows * 2 }, (_, k) => row * 2 + k) };
      row += rows;
    }
  },
};
const registry = builtinRegistry().register(slowStream);
const graph = await buildGraph({ nodes: [
  { label: 'samples', operation: 'test.SlowStream', input: {} },
  { label: 'other', operation: 'scalems.Float64', input: { data: [1, 2] } },
] }, { registry });
const context = await WorkerContext.open({ workdir, jobs: 2 });
console.log(JSON.stringify({ samples: graph.byLabel.get('samples').uid, other: graph.byLabel.get('other').uid }));
const summary = await context.run(graph);
console.log(JSON.stringify({ ok: summary.ok }));
process.exit(summary.ok ? 0 : 1);
`;

/** A store being built, forged from the committed stream store: every chunk present, metadata not committed. */
const GROWING_UID = 'f'.repeat(64) as Uid;

let sandbox: Sandbox;
let workdir: string;
let server: RunGraphServer;
let remote: RemoteGraph;
let uids: { samples: Uid; other: Uid };

/** What a consumer saw of one chunk, and of the world when it arrived. */
interface Arrival {
  chunk: StreamChunk;
  storeCommitted: boolean;
  producerRunning: boolean;
}

async function follow(
  chunks: AsyncIterable<StreamChunk>,
  storeDir: string,
  producer: ChildProcess,
  onChunk: (count: number) => Promise<void>,
): Promise<{ arrivals: Arrival[]; committedAtEnd: boolean }> {
  const arrivals: Arrival[] = [];
  for await (const chunk of chunks) {
    arrivals.push({
      chunk,
      storeCommitted: isCommitted(await readStoreMetadata(storeDir)),
      producerRunning: producer.exitCode === null && producer.signalCode === null,
    });
    await onChunk(arrivals.length);
  }
  return { arrivals, committedAtEnd: isCommitted(await readStoreMetadata(storeDir)) };
}

function expectWholeStream(arrivals: readonly Arrival[]): void {
  const indices = arrivals.map((a) => a.chunk.index);
  expect(indices).toEqual(Array.from({ length: CHUNKS }, (_, i) => i));
  expect(new Set(indices).size).toBe(indices.length);
  let row = 0;
  for (const { chunk } of arrivals) {
    expect(chunk.value.dtype).toBe('float64');
    expect(chunk.value.shape).toEqual([rowsOf(chunk.index), 2]);
    expect(chunk.rows).toEqual([row, row + rowsOf(chunk.index)]);
    row += rowsOf(chunk.index);
  }
  const values = arrivals.flatMap((a) => Array.from(a.chunk.value.data as Float64Array));
  expect(values).toEqual(Array.from({ length: TOTAL_ROWS * 2 }, (_, i) => i));
}

beforeAll(async () => {
  sandbox = await createSandbox();
  workdir = sandbox.path('work');
});

afterAll(async () => {
  remote?.close();
  await server?.close();
  await sandbox?.cleanup();
});

describe('a stream read while it is produced', () => {
  it('reaches a remote and a local reader chunk by chunk, in order, from before the commit to after it', async () => {
    const script = sandbox.path('producer.mjs');
    const gate = sandbox.path('gate');
    await writeFile(script, PRODUCER);
    const producer = spawn(process.execPath, [script, workdir, gate], { stdio: ['ignore', 'pipe', 'pipe'] });
    const kill = setTimeout(() => producer.kill('SIGKILL'), 60_000);
    let out = '';
    let err = '';
    producer.stdout?.setEncoding('utf8').on('data', (text: string) => (out += text));
    producer.stderr?.setEncoding('utf8').on('data', (text: string) => (err += text));
    const exited = new Promise<number | null>((done) => producer.once('close', (code) => done(code)));
    const abort = new AbortController();
    const limit = setTimeout(() => abort.abort(), 45_000);
    try {
      await waitUntil(() => out.includes('\n') || producer.exitCode !== null, 20_000, 'the producer to print its uids');
      uids = JSON.parse(out.split('\n')[0] ?? '') as typeof uids;
      const storeDir = join(workdir, uids.samples);

      server = await startServer({ workdir, port: 0 });
      remote = await connect(server.url);
      const local = await openLocalGraph(workdir);
      // Follow from the moment the server knows the store (its stream may not have begun yet).
      await waitUntil(
        () =>
          remote
            .node(uids.samples)
            .info()
            .then(
              () => true,
              () => false,
            ),
        20_000,
        'the stream store to exist',
      );
      // The producer holds back the rest until both readers have the chunks before the gate.
      let atGate = 0;
      const openGateAt = async (count: number): Promise<void> => {
        if (count === BEFORE_GATE && ++atGate === 2) await writeFile(gate, '');
      };
      const [remoteRead, localRead] = await Promise.all([
        follow(
          remote.node(uids.samples).streamChunks('samples', { pollMs: 30, signal: abort.signal }),
          storeDir,
          producer,
          openGateAt,
        ),
        follow(
          local.node(uids.samples).streamChunks('samples', { pollMs: 30, signal: abort.signal }),
          storeDir,
          producer,
          openGateAt,
        ),
      ]);
      expect(await exited, err).toBe(0);
      expect(atGate).toBe(2);
      expect(abort.signal.aborted).toBe(false);

      for (const read of [remoteRead, localRead]) {
        expectWholeStream(read.arrivals);
        // The first chunks came while the store was being built and its producer ran; the iteration ended after the commit.
        expect(read.arrivals[0]).toMatchObject({ storeCommitted: false, producerRunning: true });
        expect(read.arrivals.slice(0, BEFORE_GATE).every((a) => !a.storeCommitted && a.producerRunning)).toBe(true);
        expect(read.committedAtEnd).toBe(true);
      }

      // Every chunk received is byte for byte the chunk the commit recorded.
      const metadata = await readStoreMetadata(storeDir);
      if (!isCommitted(metadata)) throw new Error('the stream store is not committed');
      const recorded = metadata.artifacts['samples']?.chunks ?? [];
      expect(remoteRead.arrivals.map((a) => sha256Hex(a.chunk.bytes))).toEqual(recorded.map((c) => c.sha256));
      expect(metadata.artifacts['samples']).toMatchObject({ kind: 'stream', dtype: 'float64', shape: [TOTAL_ROWS, 2] });
    } finally {
      clearTimeout(limit);
      clearTimeout(kill);
      if (producer.exitCode === null) producer.kill('SIGKILL');
    }
  }, 60_000);

  it('reads a committed stream at once, and lists it among the artifacts', async () => {
    const node = remote.node(uids.samples);
    const chunks: StreamChunk[] = [];
    for await (const chunk of node.streamChunks('samples', { pollMs: 30, idleTimeoutMs: 5_000 })) chunks.push(chunk);
    expectWholeStream(chunks.map((chunk) => ({ chunk, storeCommitted: true, producerRunning: false })));
    expect((await node.artifacts()).map((a) => [a.output, a.kind])).toEqual([['samples', 'stream']]);
    expect((await rawRequest(server.url, { path: `/v1/nodes/${uids.samples}/streams` })).json()).toEqual({
      outputs: ['samples'],
    });
    const listing = (
      await rawRequest(server.url, { path: `/v1/nodes/${uids.samples}/streams/samples?from=6` })
    ).json() as StreamListing;
    expect(listing).toMatchObject({ state: 'complete', durable: CHUNKS, dtype: 'float64', shape: [TOTAL_ROWS, 2] });
    expect(listing.chunks.map((c) => [c.index, c.rows])).toEqual([
      [6, rowsOf(6)],
      [7, rowsOf(7)],
    ]);
    const head = await rawRequest(server.url, {
      method: 'HEAD',
      path: `/v1/nodes/${uids.samples}/streams/samples/chunks/1`,
    });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(Number(head.headers['content-length'])).toBe(
      (await readFile(join(workdir, uids.samples, 'stream', 'samples', '000001.npy'))).length,
    );
    const one = await rawRequest(server.url, { path: `/v1/nodes/${uids.samples}/streams/samples/chunks/1` });
    expect(one.headers['etag']).toBe(`"${sha256Hex(one.body)}"`);
    expect(one.headers['x-chunk-index']).toBe('1');
    // A stream is a directory of chunks: the whole-file route refuses it rather than reading a directory.
    expectApiError(
      await rawRequest(server.url, { path: `/v1/nodes/${uids.samples}/artifacts/samples` }),
      'BAD_REQUEST',
    );
    // Inspected through the server, the committed stream store reads as it does locally.
    const local = await inspectStore(workdir, uids.samples, []);
    expect(local.artifacts[0]?.preview).toBe(`a stream of ${CHUNKS} chunks, ${TOTAL_ROWS} rows`);
    const inspected = await inspectRemoteStore(remote, await resolveRemoteTarget(remote, uids.samples));
    expect({ ...inspected, storeDir: '' }).toEqual({ ...local, storeDir: '' });
  });
});

describe('stream routes', () => {
  beforeAll(async () => {
    // A store being built: the committed stream store's chunks, its metadata not committed.
    const dir = join(workdir, GROWING_UID);
    await cp(join(workdir, uids.samples), dir, { recursive: true });
    const metadata = JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8')) as { [key: string]: unknown };
    for (const key of ['committedAt', 'durationMs', 'artifacts']) delete metadata[key];
    await writeJson(join(dir, 'metadata.json'), { ...metadata, uid: GROWING_UID, state: 'created' });
    // Outside the working directory: a secret, and a directory that looks like a stream.
    await writeFile(sandbox.path('secret.txt'), SECRET);
    await mkdir(sandbox.path('outside'));
    await writeFile(
      sandbox.path('outside', '000000.npy'),
      encodeNpy({ dtype: 'float64', shape: [1], data: Float64Array.of(42) }),
    );
    await symlink(sandbox.path('outside'), join(dir, 'stream', 'evil'));
    await mkdir(join(dir, 'stream', 'linked'));
    await symlink(sandbox.path('secret.txt'), join(dir, 'stream', 'linked', '000000.npy'));
  });

  it('list and serve the chunks of a store being built', async () => {
    const outputs = (await rawRequest(server.url, { path: `/v1/nodes/${GROWING_UID}/streams` })).json() as {
      outputs: string[];
    };
    expect(outputs.outputs).toEqual(['evil', 'linked', 'samples']);
    const listing = (
      await rawRequest(server.url, { path: `/v1/nodes/${GROWING_UID}/streams/samples` })
    ).json() as StreamListing;
    expect(listing).toMatchObject({ uid: GROWING_UID, output: 'samples', state: 'growing', durable: CHUNKS });
    expect(listing.chunks.map((c) => c.index)).toEqual(Array.from({ length: CHUNKS }, (_, i) => i));
    expect(listing.chunks.every((c) => c.sha256 === undefined)).toBe(true);
    const chunk = await rawRequest(server.url, {
      path: `/v1/nodes/${GROWING_UID}/streams/samples/chunks/${CHUNKS - 1}`,
    });
    expect(chunk.status).toBe(200);
    expect(chunk.body.equals(await readFile(join(workdir, uids.samples, 'stream', 'samples', '000007.npy')))).toBe(
      true,
    );
    expect(chunk.headers['etag']).toBeUndefined();
  });

  it('refuse bad names, traversal and symlinks out of the store, and never show what lies outside', async () => {
    const base = `/v1/nodes/${GROWING_UID}/streams`;
    const attempts: [string, 'INVALID_KEY' | 'NOT_FOUND'][] = [
      [`${base}/..`, 'INVALID_KEY'],
      [`${base}/.`, 'INVALID_KEY'],
      [`${base}/%2e%2e`, 'INVALID_KEY'],
      [`${base}/..%2Fsecret.txt`, 'INVALID_KEY'],
      [`${base}/..%2F..%2F..%2Fsecret.txt/chunks/0`, 'INVALID_KEY'],
      [`${base}/a%5Cb`, 'INVALID_KEY'],
      [`${base}/%00`, 'INVALID_KEY'],
      [`${base}/../chunks/0`, 'INVALID_KEY'],
      [`${base}/../../../secret.txt`, 'NOT_FOUND'],
    ];
    for (const [path, status] of attempts) {
      const res = await rawRequest(server.url, { path });
      expect(res.text).not.toContain(SECRET);
      expectApiError(res, status);
    }
    for (const path of [`${base}/evil`, `${base}/evil/chunks/0`, `${base}/linked/chunks/0`]) {
      const res = await rawRequest(server.url, { path });
      expect(res.text).not.toContain(SECRET);
      expectApiError(res, 'FORBIDDEN');
    }
    // A symlinked chunk is never listed, so nothing of the file it points at shows.
    expect((await rawRequest(server.url, { path: `${base}/linked` })).json()).toMatchObject({
      state: 'growing',
      durable: 0,
      chunks: [],
    });
    expectApiError(
      await rawRequest(server.url, { path: `/v1/nodes/${'g'.repeat(64)}/streams/samples` }),
      'INVALID_KEY',
    );
    expectApiError(
      await rawRequest(server.url, { path: `/v1/nodes/${'a'.repeat(64)}/streams/samples` }),
      'UNKNOWN_NODE',
    );
  });

  it('refuse outputs that do not stream and chunks that do not exist', async () => {
    const growing = `/v1/nodes/${GROWING_UID}/streams`;
    expectApiError(await rawRequest(server.url, { path: `${growing}/nope` }), 'STREAM_NOT_STARTED');
    expectApiError(await rawRequest(server.url, { path: `${growing}/nope/chunks/0` }), 'STREAM_NOT_STARTED');
    for (const index of ['8', '99', '-1', 'x', '1e3', '0x1', '9'.repeat(20)]) {
      expectApiError(await rawRequest(server.url, { path: `${growing}/samples/chunks/${index}` }), 'INVALID_RANGE');
      expectApiError(
        await rawRequest(server.url, { path: `/v1/nodes/${uids.samples}/streams/samples/chunks/${index}` }),
        'INVALID_RANGE',
      );
    }
    expectApiError(await rawRequest(server.url, { path: `${growing}/samples?from=-2` }), 'BAD_REQUEST');
    // A committed store streams only what its metadata says.
    expectApiError(await rawRequest(server.url, { path: `/v1/nodes/${uids.other}/streams/data` }), 'UNKNOWN_ARTIFACT');
    expectApiError(
      await rawRequest(server.url, { path: `/v1/nodes/${uids.samples}/streams/nope/chunks/0` }),
      'UNKNOWN_ARTIFACT',
    );
    expect((await rawRequest(server.url, { path: `/v1/nodes/${uids.other}/streams` })).json()).toEqual({ outputs: [] });
    expectApiError(await rawRequest(server.url, { method: 'POST', path: `${growing}/samples` }), 'METHOD_NOT_ALLOWED');
    expectApiError(await rawRequest(server.url, { path: `${growing}/samples/chunks/0/more` }), 'NOT_FOUND');
  });

  it('bound every wait: a stream that neither grows nor commits times out, an abort ends it quietly', async () => {
    const node = remote.node(GROWING_UID);
    const seen: number[] = [];
    const started = Date.now();
    const stalled = (async () => {
      for await (const chunk of node.streamChunks('samples', { pollMs: 20, idleTimeoutMs: 300 }))
        seen.push(chunk.index);
    })();
    await expect(stalled).rejects.toMatchObject({ status: 'TIMEOUT' });
    expect(seen).toEqual(Array.from({ length: CHUNKS }, (_, i) => i));
    expect(Date.now() - started).toBeLessThan(10_000);
    // Not begun: the client waits for it, within the same bound.
    await expect(
      (async () => {
        for await (const _ of node.streamChunks('nope', { pollMs: 20, idleTimeoutMs: 200 }))
          throw new Error('a chunk of a stream that never began');
      })(),
    ).rejects.toBeInstanceOf(RemoteError);

    const abort = new AbortController();
    const taken: number[] = [];
    for await (const chunk of node.streamChunks('samples', { pollMs: 20, signal: abort.signal })) {
      taken.push(chunk.index);
      if (taken.length === 2) abort.abort();
    }
    expect(taken).toEqual([0, 1]);
    // Options are checked when the iteration is made, before any request.
    const before = remote.requests;
    expect(() => node.streamChunks('samples', { pollMs: 0 })).toThrow(
      /pollMs must be an integer of at least 10 ms, got 0/,
    );
    expect(() => node.streamChunks('samples', { idleTimeoutMs: -3 })).toThrow(/got -3 \(number\)/);
    expect(remote.requests).toBe(before);
  });
});
