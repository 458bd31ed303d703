/**
 * Every bad request gets its documented status, and nothing outside the
 * working directory can be read: unknown and malformed uids, path traversal
 * (raw `..`, percent-encoded, through a tampered metadata.json, through a
 * symlink a subprocess could leave), tokens, host names, byte ranges and
 * chunk indices, methods, routes, uncommitted stores, and the access
 * policy checked before a server binds.
 */
import { cp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { Uid } from '../../src/identity/fingerprint.js';
import { startServer, type RunGraphServer } from '../../src/server/server.js';
import type { ConcreteGraph } from '../../src/workflow/graph.js';
import { createSandbox, writeJson, type Sandbox } from '../support/sandbox.js';
import { expectApiError, rawRequest, runWorkflow, SMALL_WORKFLOW } from '../support/server.js';

const TOKEN = 'test-token-0123456789abcdef';
const SECRET = 'TOP-SECRET-CONTENT-OUTSIDE-THE-WORKDIR';
/** Hand-made stores that point outside themselves. */
const DOTDOT_UID = 'd'.repeat(64);
const SYMLINK_UID = 'e'.repeat(64);

let sandbox: Sandbox;
let workdir: string;
let graph: ConcreteGraph;
let open: RunGraphServer;
let guarded: RunGraphServer;
let failedUid: Uid;

function uidOf(label: string): Uid {
  return graph.byLabel.get(label)?.uid as Uid;
}

/** A copy of a committed store under another uid, its artifact path (and size, so only the path check can stop it) replaced. */
async function forgeStore(uid: string, from: Uid, artifactPath: string): Promise<void> {
  await cp(join(workdir, from), join(workdir, uid), { recursive: true });
  const metadata = JSON.parse(await readFile(join(workdir, uid, 'metadata.json'), 'utf8')) as {
    uid: string;
    artifacts: { data: { path: string; size: number } };
  };
  metadata.uid = uid;
  metadata.artifacts.data.path = artifactPath;
  metadata.artifacts.data.size = SECRET.length;
  await writeJson(join(workdir, uid, 'metadata.json'), metadata);
}

beforeAll(async () => {
  sandbox = await createSandbox();
  workdir = sandbox.path('work');
  const spec = {
    nodes: [
      ...SMALL_WORKFLOW.nodes,
      {
        label: 'broken',
        operation: 'scalems.Subprocess',
        input: { argv: ['sh', '-c', 'exit 3'], outputFiles: ['out.txt'] },
      },
    ],
  };
  graph = await runWorkflow(spec, sandbox.dir, workdir, { allowFailures: true });
  failedUid = uidOf('broken');
  await writeFile(sandbox.path('secret.txt'), SECRET);
  await forgeStore(DOTDOT_UID, uidOf('matrix'), '../../secret.txt');
  await forgeStore(SYMLINK_UID, uidOf('matrix'), 'link.npy');
  await symlink(sandbox.path('secret.txt'), join(workdir, SYMLINK_UID, 'link.npy'));
  open = await startServer({ workdir, graph, port: 0 });
  guarded = await startServer({ workdir, port: 0, token: TOKEN });
});

afterAll(async () => {
  await open?.close();
  await guarded?.close();
  await sandbox?.cleanup();
});

describe('uids and paths', () => {
  it('answers UNKNOWN_NODE for a well-formed uid without a store', async () => {
    expectApiError(await rawRequest(open.url, { path: `/v1/nodes/${'a'.repeat(64)}` }), 'UNKNOWN_NODE');
    expectApiError(await rawRequest(open.url, { path: `/v1/nodes/${'a'.repeat(64)}/artifacts/data` }), 'UNKNOWN_NODE');
  });

  it('answers INVALID_KEY for anything but 64 lowercase hex digits', async () => {
    for (const key of [
      'xyz',
      'A'.repeat(64),
      'a'.repeat(63),
      'a'.repeat(65),
      `${'a'.repeat(63)}g`,
      '%20',
      'tmp',
      'quarantine',
    ]) {
      expectApiError(await rawRequest(open.url, { path: `/v1/nodes/${key}` }), 'INVALID_KEY');
    }
    expectApiError(await rawRequest(open.url, { path: '/v1/builds/nope' }), 'INVALID_KEY');
  });

  it('never reads outside the working directory, however the path is spelled', async () => {
    const matrix = uidOf('matrix');
    const attempts: [string, string][] = [
      ['/v1/nodes/../../secret.txt', 'INVALID_KEY'],
      ['/v1/nodes/..%2F..%2Fsecret.txt', 'INVALID_KEY'],
      ['/v1/nodes/%2e%2e/%2e%2e/secret.txt', 'INVALID_KEY'],
      [`/v1/nodes/${matrix}/../../../secret.txt`, 'NOT_FOUND'],
      [`/v1/nodes/${matrix}/artifacts/..%2F..%2F..%2Fsecret.txt`, 'UNKNOWN_ARTIFACT'],
      [`/v1/nodes/${matrix}/artifacts/%2e%2e`, 'UNKNOWN_ARTIFACT'],
      [`/v1/nodes/${matrix}/artifacts/metadata.json`, 'UNKNOWN_ARTIFACT'],
      [`/v1/nodes/${matrix}/artifacts/__proto__`, 'UNKNOWN_ARTIFACT'],
      [`/v1/nodes/${matrix}/artifacts/data.npy%00`, 'UNKNOWN_ARTIFACT'],
      ['/../../secret.txt', 'NOT_FOUND'],
      ['/v1/../../secret.txt', 'NOT_FOUND'],
      ['/v1/nodes/%E0%A4%A', 'BAD_REQUEST'],
      // A tampered metadata.json naming ../../secret.txt, and an artifact that is a symlink out of its store.
      [`/v1/nodes/${DOTDOT_UID}/artifacts/data`, 'FORBIDDEN'],
      [`/v1/nodes/${SYMLINK_UID}/artifacts/data`, 'FORBIDDEN'],
      [`/v1/nodes/${SYMLINK_UID}/artifacts/data/chunks/0`, 'FORBIDDEN'],
      [`/v1/nodes/${SYMLINK_UID}/artifacts`, 'FORBIDDEN'],
      [`/v1/nodes/${DOTDOT_UID}/artifacts/data/chunks/0`, 'FORBIDDEN'],
    ];
    for (const [path, status] of attempts) {
      const res = await rawRequest(open.url, { path });
      expect(res.text, path).not.toContain(SECRET);
      expectApiError(res, status as Parameters<typeof expectApiError>[1]);
    }
  });
});

describe('a store that goes away', () => {
  it('is not served from memory once its files are gone', async () => {
    const uid = 'c'.repeat(64);
    await cp(join(workdir, uidOf('vector')), join(workdir, uid), { recursive: true });
    const metadataPath = join(workdir, uid, 'metadata.json');
    await writeJson(metadataPath, { ...(JSON.parse(await readFile(metadataPath, 'utf8')) as object), uid });
    const path = `/v1/nodes/${uid}/artifacts/data/chunks/0`;
    expect((await rawRequest(open.url, { path })).status).toBe(200);
    await rm(join(workdir, uid), { recursive: true });
    expectApiError(await rawRequest(open.url, { path }), 'UNKNOWN_NODE');
  });
});

describe('tokens and hosts', () => {
  it('answers 401 UNAUTHORIZED without the right bearer token, before anything else', async () => {
    const attempts: { [name: string]: string }[] = [
      {},
      { Authorization: 'Bearer wrong-token-0123456789' },
      { Authorization: `Basic ${TOKEN}` },
      { Authorization: `Bearer ${TOKEN}x` },
    ];
    for (const headers of attempts) {
      const res = await rawRequest(guarded.url, { path: `/v1/nodes/${uidOf('matrix')}/artifacts/data`, headers });
      expectApiError(res, 'UNAUTHORIZED');
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    expectApiError(await rawRequest(guarded.url, { path: '/no/such/route' }), 'UNAUTHORIZED');
    const ok = await rawRequest(guarded.url, {
      path: `/v1/nodes/${uidOf('matrix')}`,
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    expect(ok.status).toBe(200);
    await expect(connect(guarded.url, { token: 'wrong-token-0123456789' })).rejects.toMatchObject({
      status: 'UNAUTHORIZED',
      httpStatus: 401,
    });
    const client = await connect(guarded.url, { token: TOKEN });
    expect((await client.node(uidOf('matrix')).info()).state).toBe('committed');
    client.close();
  });

  it('answers INVALID_HOST when a token-less server is addressed by a non-loopback name', async () => {
    expectApiError(await rawRequest(open.url, { path: '/v1', headers: { Host: 'evil.example:80' } }), 'INVALID_HOST');
    expect((await rawRequest(open.url, { path: '/v1', headers: { Host: 'localhost' } })).status).toBe(200);
  });

  it('refuses to start without a token on a non-loopback address, with a short token, or to accept submissions without one', async () => {
    await expect(startServer({ workdir, host: '0.0.0.0', port: 0 })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(startServer({ workdir, host: '::', port: 0 })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(startServer({ workdir, port: 0, token: 'short' })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(startServer({ workdir, port: 0, allowSubmit: true })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(startServer({ workdir: sandbox.path('missing'), port: 0 })).rejects.toMatchObject({
      code: 'E_WORKDIR',
    });
  });
});

describe('ranges and chunks', () => {
  it('answers INVALID_RANGE (416) for malformed, multiple and unsatisfiable ranges', async () => {
    const path = `/v1/nodes/${uidOf('matrix')}/artifacts/data`;
    const size = Number((await rawRequest(open.url, { method: 'HEAD', path })).headers['content-length']);
    for (const range of [
      `bytes=${size}-`,
      'bytes=99999999-',
      'bytes=5-2',
      'bytes=0-1,4-5',
      'items=0-1',
      'bytes=-0',
      'bytes=-',
      'bytes=abc',
    ]) {
      const res = await rawRequest(open.url, { path, headers: { Range: range } });
      expectApiError(res, 'INVALID_RANGE');
      expect(res.headers['content-range'], range).toBe(`bytes */${size}`);
    }
    const clamped = await rawRequest(open.url, { path, headers: { Range: `bytes=${size - 4}-${size + 100}` } });
    expect(clamped.status).toBe(206);
    expect(clamped.body.length).toBe(4);
  });

  it('answers INVALID_RANGE for a chunk index outside the artifact, BAD_REQUEST for a bad chunk size', async () => {
    const base = `/v1/nodes/${uidOf('vector')}/artifacts/data/chunks`;
    for (const index of ['1', '999', 'abc', '-1', '1e3'])
      expectApiError(await rawRequest(open.url, { path: `${base}/${index}` }), 'INVALID_RANGE');
    for (const query of ['chunkBytes=10', 'chunkBytes=abc', 'chunkBytes=-5', `chunkBytes=${2 ** 40}`])
      expectApiError(await rawRequest(open.url, { path: `${base}/0?${query}` }), 'BAD_REQUEST');
    const chunk = await rawRequest(open.url, { path: `${base}/0` });
    expect(chunk.status).toBe(200);
    expect(chunk.headers['x-chunk-shape']).toBe('3');
    expect(chunk.headers['x-chunk-dtype']).toBe('float64');
    expect(Array.from(new Float64Array(new Uint8Array(chunk.body).buffer))).toEqual([0.5, 1.5, 2.5]);
    const index = await rawRequest(open.url, { path: `${base}?chunkBytes=4096` });
    expect(index.json()).toMatchObject({ layout: { kind: 'rows', count: 1, rowsPerChunk: 512 } });
  });
});

describe('everything else', () => {
  it('answers NOT_COMMITTED for the artifacts of a store that never committed', async () => {
    expect((await rawRequest(open.url, { path: `/v1/nodes/${failedUid}` })).json()).toMatchObject({
      state: 'failed',
      attempt: 1,
      lastAttempt: 1,
    });
    expectApiError(await rawRequest(open.url, { path: `/v1/nodes/${failedUid}/artifacts` }), 'NOT_COMMITTED');
    expectApiError(await rawRequest(open.url, { path: `/v1/nodes/${failedUid}/artifacts/out.txt` }), 'NOT_COMMITTED');
  });

  it('answers NOT_FOUND, METHOD_NOT_ALLOWED, UNKNOWN_LABEL and NO_WORKFLOW', async () => {
    // `/` is the web page (test/server/view-routes.test.ts); any other path outside /v1 is no route.
    expectApiError(await rawRequest(open.url, { path: '/index.htm' }), 'NOT_FOUND');
    expectApiError(await rawRequest(open.url, { path: '/v2/nodes' }), 'NOT_FOUND');
    expectApiError(await rawRequest(open.url, { path: `/v1/nodes/${uidOf('matrix')}/nonsense` }), 'NOT_FOUND');
    const wrongMethod = await rawRequest(open.url, { method: 'DELETE', path: `/v1/nodes/${uidOf('matrix')}` });
    expectApiError(wrongMethod, 'METHOD_NOT_ALLOWED');
    expect(wrongMethod.headers['allow']).toBe('GET, HEAD');
    expectApiError(await rawRequest(open.url, { method: 'GET', path: '/v1/submit' }), 'METHOD_NOT_ALLOWED');
    expectApiError(await rawRequest(open.url, { path: '/v1/graph/labels/nope' }), 'UNKNOWN_LABEL');
    expect((await rawRequest(open.url, { path: '/v1/graph/labels/total' })).json()).toMatchObject({
      uid: uidOf('total'),
      state: 'committed',
    });
    expectApiError(
      await rawRequest(guarded.url, { path: '/v1/graph', headers: { Authorization: `Bearer ${TOKEN}` } }),
      'NO_WORKFLOW',
    );
  });

  it('answers FORBIDDEN to a submission on a read-only server, reading nothing of the body', async () => {
    const res = await rawRequest(open.url, {
      method: 'POST',
      path: '/v1/submit',
      headers: { 'Content-Type': 'application/json' },
      body: '{"record": {}}',
    });
    expectApiError(res, 'FORBIDDEN');
  });
});
