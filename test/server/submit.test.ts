/**
 * The shared result cache: a record submitted twice is built once (the
 * second answer comes from the cache; executions are counted inside the
 * operation and by the server's node-started events), two identical
 * submissions at once are built once, and every malformed submission gets
 * its status with nothing written to the working directory.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type RemoteGraph } from '../../src/client/connect.js';
import { RunGraphError } from '../../src/errors.js';
import { fingerprint, type NodeRecord } from '../../src/identity/fingerprint.js';
import { allocArray } from '../../src/values/npy.js';
import type { OperationDefinition } from '../../src/operations/operation.js';
import type { PublishedEvent } from '../../src/server/events.js';
import { startServer, type RunGraphServer } from '../../src/server/server.js';
import { submittableRegistry } from '../../src/server/submit.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { expectApiError, rawRequest } from '../support/server.js';
import { waitUntil } from '../support/wait.js';

const TOKEN = 'submit-token-0123456789abcdef';
const AUTH = { Authorization: `Bearer ${TOKEN}` };

/** Executions of the counting operation, seen from inside it. */
let executions = 0;

/** Squares a literal list of numbers, counting every run; slow enough that two submissions overlap. */
const countedSquare: OperationDefinition = {
  namespace: 'test',
  name: 'CountedSquare',
  version: '1',
  summary: 'squares "x", counting executions',
  defaultOutput: 'result',
  check(input) {
    const x = input['x'];
    if (!Array.isArray(x)) throw new Error('x must be a list');
    return { result: { kind: 'array', dtype: 'float64', shape: [x.length] } };
  },
  async run(input) {
    executions++;
    await new Promise((r) => setTimeout(r, 150));
    const x = input['x'] as number[];
    const value = allocArray('float64', [x.length]);
    x.forEach((v, i) => (value.data[i] = v * v));
    return { result: { kind: 'array', value } };
  },
};

/** Passes its check, fails when it runs. */
const alwaysFails: OperationDefinition = {
  namespace: 'test',
  name: 'AlwaysFails',
  version: '1',
  summary: 'fails at run time',
  defaultOutput: 'result',
  check: () => ({ result: { kind: 'json' } }),
  run: () => Promise.reject(new RunGraphError('E_NODE_FAILED', 'failing on purpose')),
};

let sandbox: Sandbox;
let workdir: string;
let server: RunGraphServer;
let client: RemoteGraph;
const events: PublishedEvent[] = [];
const stopEvents = new AbortController();

function squareRecord(x: number[]): NodeRecord {
  return { depends: [], input: { x }, operation: ['test', 'CountedSquare', '1'] };
}

beforeAll(async () => {
  sandbox = await createSandbox();
  workdir = sandbox.path('cache');
  // An empty directory: the server must write nothing to it until a valid record is built.
  await mkdir(workdir);
  server = await startServer({
    workdir,
    port: 0,
    token: TOKEN,
    allowSubmit: true,
    registry: submittableRegistry().register(countedSquare).register(alwaysFails),
    maxBodyBytes: 64 * 1024,
  });
  client = await connect(server.url, { token: TOKEN });
  void (async () => {
    for await (const event of client.events({ signal: stopEvents.signal })) events.push(event);
  })().catch(() => undefined);
});

afterAll(async () => {
  stopEvents.abort();
  client?.close();
  await server?.close();
  await sandbox?.cleanup();
});

/** POST a raw body to /v1/submit. */
function submitRaw(body: string | Buffer, headers: { [name: string]: string } = {}): ReturnType<typeof rawRequest> {
  return rawRequest(server.url, {
    method: 'POST',
    path: '/v1/submit',
    headers: { ...AUTH, 'Content-Type': 'application/json', ...headers },
    body,
  });
}

describe('bad submissions', () => {
  it('get their status and write nothing', async () => {
    const record = squareRecord([1, 2]);
    const cases: [string | Buffer, Parameters<typeof expectApiError>[1]][] = [
      ['{"record": ', 'INVALID_JSON'],
      ['not json at all', 'INVALID_JSON'],
      ['[]', 'INVALID_RECORD'],
      ['{"record": {"depends": [], "input": {}}}', 'INVALID_RECORD'],
      [JSON.stringify({ record: { ...record, extra: 1 } }), 'INVALID_RECORD'],
      [JSON.stringify({ record: { ...record, depends: ['a'.repeat(64)] } }), 'INVALID_RECORD'],
      [JSON.stringify({ record: { ...record, input: { x: { $ref: `${'a'.repeat(64)}.data` } } } }), 'INVALID_RECORD'],
      [
        JSON.stringify({
          record: { depends: [], input: { file: { $file: '/etc/passwd' } }, operation: ['run-graph', 'NpyFile', '1'] },
        }),
        'INVALID_RECORD',
      ],
      [
        JSON.stringify({
          record: { depends: [], input: { data: [[1, 2], [3]] }, operation: ['scalems', 'Integer64'] },
        }),
        'INVALID_RECORD',
      ],
      [
        '{"record": {"depends": [], "input": {"data": [1e400]}, "operation": ["scalems", "Float64"]}}',
        'INVALID_RECORD',
      ],
      [JSON.stringify({ record: { ...record, operation: ['test', 'NoSuchOperation', '1'] } }), 'INVALID_OPERATION'],
      [JSON.stringify({ record: { ...record, operation: ['test', 'CountedSquare', '2'] } }), 'INVALID_OPERATION'],
      [
        JSON.stringify({
          record: {
            depends: [],
            input: { argv: ['touch', '/tmp/pwned'], outputFiles: [] },
            operation: ['scalems', 'Subprocess', '1'],
          },
        }),
        'INVALID_OPERATION',
      ],
      [JSON.stringify({ record, uid: 'b'.repeat(64) }), 'UID_MISMATCH'],
      [Buffer.alloc(100 * 1024, 0x20), 'PAYLOAD_TOO_LARGE'],
    ];
    for (const [body, status] of cases) expectApiError(await submitRaw(body), status);
    expectApiError(
      await submitRaw(JSON.stringify({ record }), { 'Content-Type': 'text/plain' }),
      'UNSUPPORTED_MEDIA_TYPE',
    );
    // A chunked body (no Content-Length) over the limit is cut off as soon as it passes it.
    const chunked = await rawRequest(server.url, {
      method: 'POST',
      path: '/v1/submit',
      headers: { ...AUTH, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
      body: Buffer.alloc(100 * 1024, 0x20),
    });
    expectApiError(chunked, 'PAYLOAD_TOO_LARGE');
    expectApiError(
      await rawRequest(server.url, { method: 'POST', path: '/v1/submit', body: JSON.stringify({ record }) }),
      'UNAUTHORIZED',
    );
    expect(await readdir(workdir)).toEqual([]);
    expect(executions).toBe(0);
  });
});

describe('a submitted record', () => {
  it('is built once: the second submission is answered from the cache', async () => {
    const record = squareRecord([1, 2, 3]);
    const first = await client.submit(record, { timeoutMs: 30_000 });
    expect(first.uid).toBe(fingerprint(record));
    expect(first.cached).toBe(false);
    expect(executions).toBe(1);
    const second = await client.submit(record, { timeoutMs: 30_000 });
    expect(second.cached).toBe(true);
    expect(second.metadata).toEqual(first.metadata);
    expect(executions).toBe(1);
    expect(Array.from((await second.node.read()).data as Float64Array)).toEqual([1, 4, 9]);

    const raw = await submitRaw(JSON.stringify({ record }));
    expect(raw.status).toBe(200);
    expect(raw.json()).toMatchObject({ uid: first.uid, state: 'committed', cached: true });
    await waitUntil(
      () => events.some((e) => e.type === 'node-committed' && e.uid === first.uid),
      5_000,
      'the commit event',
    );
    expect(events.filter((e) => e.type === 'node-started' && e.uid === first.uid)).toHaveLength(1);
  });

  it('is built once when submitted twice at the same moment', async () => {
    const record = squareRecord([5, 6]);
    const before = executions;
    const [a, b] = await Promise.all([client.submit(record), client.submit(record)]);
    expect(executions - before).toBe(1);
    expect(a.metadata).toEqual(b.metadata);
    expect([a.cached, b.cached]).toEqual([false, false]);
  });

  it('answers 202 with a Location while building, and the build state when asked', async () => {
    const record = squareRecord([7]);
    const res = await submitRaw(JSON.stringify({ record }));
    expect(res.status).toBe(202);
    const uid = fingerprint(record);
    expect(res.headers['location']).toBe(`/v1/builds/${uid}`);
    const state = await rawRequest(server.url, { path: `/v1/builds/${uid}?waitMs=10000`, headers: AUTH });
    expect(state.json()).toMatchObject({ uid, state: 'committed', cached: false });
    expectApiError(
      await rawRequest(server.url, { path: `/v1/builds/${'c'.repeat(64)}`, headers: AUTH }),
      'UNKNOWN_NODE',
    );
  });

  it('builds built-in records with SCALE-MS uids', async () => {
    const record: NodeRecord = {
      depends: [],
      input: {
        data: [
          [1, 2],
          [3, 4],
        ],
      },
      operation: ['scalems', 'Integer64'],
    };
    const result = await client.submit(record);
    expect(result.uid).toBe('266bb4e33dfb7be89c04735cebe31cae8d7714243ccb9d137a1a37a46a645365');
    const array = await result.node.read();
    expect(array.get(1, 0)).toBe(3n);
  });

  it('keeps numbers exact: Float64 spelled [[1, 2.5]] is the node of [[1.0, 2.5]], and Integer64 holds the int64 extremes', async () => {
    const floats = await client.submit({ depends: [], input: { data: [[1, 2.5]] }, operation: ['scalems', 'Float64'] });
    expect(floats.uid).toBe('8a93d11a535791d6c3fcc5a1cc7994ae25a692fa544d779a73aadf1ece3fe66c');
    const extremes = await client.submit({
      depends: [],
      input: { data: [[9223372036854775807n, -9223372036854775808n]] },
      operation: ['scalems', 'Integer64'],
    });
    expect(extremes.uid).toBe('9b3c06e5eed92288553b30d91ceb1dcf2b5d1dc608566e7f1577e2d817e95cc8');
    expect(Array.from((await extremes.node.read()).data as BigInt64Array)).toEqual([
      9223372036854775807n,
      -9223372036854775808n,
    ]);
    // A body written by another program, read without rounding: the cache answers with the same store.
    const raw = await submitRaw(
      '{"record": {"depends": [], "input": {"data": [[9223372036854775807, -9223372036854775808]]}, "operation": ["scalems", "Integer64"]}}',
    );
    expect(raw.status).toBe(200);
    expect(raw.text).toContain('"data":[[9223372036854775807,-9223372036854775808]]');
  });

  it('refuses an int64 value outside int64, quoting it, before any write', async () => {
    const raw = await submitRaw(
      '{"record": {"depends": [], "input": {"data": [9223372036854775808]}, "operation": ["scalems", "Integer64"]}}',
    );
    expectApiError(raw, 'INVALID_RECORD');
    expect(raw.text).toContain('9223372036854775808, outside the int64 range');
  });

  it('is refused before any build when its input fails the operation check', async () => {
    const record: NodeRecord = {
      depends: [],
      input: { a: [1, 2], b: [1, 2, 3] },
      operation: ['run-graph', 'Add', '1'],
    };
    await expect(client.submit(record)).rejects.toMatchObject({ status: 'INVALID_RECORD' });
  });

  it('reports a build that fails as E_NODE_FAILED, and its state as failed', async () => {
    const record: NodeRecord = { depends: [], input: { n: 1 }, operation: ['test', 'AlwaysFails', '1'] };
    await expect(client.submit(record)).rejects.toMatchObject({
      code: 'E_NODE_FAILED',
      message: expect.stringMatching(/failing on purpose/),
    });
    const state = await rawRequest(server.url, { path: `/v1/builds/${fingerprint(record)}`, headers: AUTH });
    expect(state.json()).toMatchObject({ state: 'failed', error: { code: 'E_NODE_FAILED' } });
    expectApiError(
      await rawRequest(server.url, { path: `/v1/nodes/${fingerprint(record)}/artifacts`, headers: AUTH }),
      'NOT_COMMITTED',
    );
  });
});
