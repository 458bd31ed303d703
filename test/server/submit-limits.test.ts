/**
 * `--allow-submit` under load: submissions as large as the server accepts,
 * eight at once, do not block the event loop (measured inside the server
 * with perf_hooks.monitorEventLoopDelay) or stall a metadata request;
 * finished builds are remembered as small summaries, not whole graphs;
 * submitted stores stay under a disk quota; and a store takes little more
 * disk than its record and output need.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunGraphServer } from '../../src/server/server.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { expectApiError, rawRequest } from '../support/server.js';

const TOKEN = 'limits-token-0123456789abcdef';
const AUTH = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await createSandbox();
});

afterAll(async () => {
  await sandbox?.cleanup();
});

/** A Float64 submission whose JSON body is close to `bytes` long, distinct for each `seed`. */
function floatBody(bytes: number, seed: number): string {
  const head = '{"record": {"depends": [], "input": {"data": [';
  const tail = ']}, "operation": ["scalems", "Float64"]}}';
  const parts: string[] = [];
  let length = head.length + tail.length;
  for (let i = 0; length < bytes - 24; i++) {
    const text = (seed + i * 0.000123456789).toFixed(12);
    parts.push(text);
    length += text.length + 1;
  }
  return head + parts.join(',') + tail;
}

async function submit(server: RunGraphServer, body: string): Promise<{ status: number; json: unknown }> {
  const res = await rawRequest(server.url, { method: 'POST', path: '/v1/submit', headers: AUTH, body });
  return { status: res.status, json: res.status < 300 || res.status >= 400 ? res.json() : undefined };
}

async function waitBuilt(server: RunGraphServer, uid: string): Promise<{ state: string }> {
  const res = await rawRequest(server.url, { path: `/v1/builds/${uid}?waitMs=30000`, headers: AUTH });
  return res.json() as { state: string };
}

async function sizeOf(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const name of await readdir(path)) total += await sizeOf(join(path, name));
  return total;
}

describe('eight large submissions at once', () => {
  it('never block the event loop for long, and a metadata request is answered meanwhile', async () => {
    const workdir = sandbox.path('load');
    await mkdir(workdir);
    const server = await startServer({
      workdir,
      port: 0,
      token: TOKEN,
      allowSubmit: true,
      monitorEventLoop: true,
    });
    try {
      const info = (await rawRequest(server.url, { path: '/v1', headers: AUTH }).then((r) => r.json())) as {
        maxBodyBytes: number;
      };
      const bodies = Array.from({ length: 8 }, (_, i) => floatBody(info.maxBodyBytes, i + 1));
      const latencies: number[] = [];
      let done = false;
      const probe = (async () => {
        while (!done) {
          const start = performance.now();
          const res = await rawRequest(server.url, { path: '/v1', headers: AUTH });
          latencies.push(performance.now() - start);
          expect(res.status).toBe(200);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();
      const answers = await Promise.all(bodies.map((body) => submit(server, body)));
      done = true;
      await probe;
      for (const answer of answers) expect([200, 202]).toContain(answer.status);
      // Generous: the machine running the tests is shared; a blocked loop was seconds.
      console.log(
        `metadata latency max ${Math.max(...latencies).toFixed(0)} ms over ${latencies.length} requests; loop: longest CPU stretch ${server.eventLoopMaxCpuStretchMs().toFixed(0)} ms, longest delay ${server.eventLoopMaxDelayMs().toFixed(0)} ms`,
      );
      expect(Math.max(...latencies)).toBeLessThan(8_000);
      // CPU time between two ticks of the loop, which a busy machine does not inflate (wall delays it does,
      // and are bounded loosely): checking one 8 MiB body took over 1 s of it in one piece.
      expect(server.eventLoopMaxCpuStretchMs()).toBeLessThan(600);
      expect(server.eventLoopMaxDelayMs()).toBeLessThan(5_000);
      for (const answer of answers) await waitBuilt(server, (answer.json as { uid: string }).uid);
    } finally {
      await server.close();
    }
  }, 120_000);
});

describe('finished builds', () => {
  it('are remembered as small summaries, bounded in number and bytes', async () => {
    const workdir = sandbox.path('kept');
    await mkdir(workdir);
    const server = await startServer({
      workdir,
      port: 0,
      token: TOKEN,
      allowSubmit: true,
      finishedBuildsKept: 10,
    });
    try {
      const uids: string[] = [];
      for (let i = 0; i < 14; i++) {
        const answer = await submit(server, floatBody(64 * 1024, 100 + i));
        expect(answer.status).toBe(202);
        uids.push((answer.json as { uid: string }).uid);
        expect((await waitBuilt(server, uids[i] as string)).state).toBe('committed');
      }
      const retained = server.retainedBuilds();
      expect(retained.entries).toBeLessThanOrEqual(10);
      // Summaries, not 64 KiB records: a few hundred bytes each.
      expect(retained.bytes).toBeLessThan(10 * 1024);
      // A forgotten committed build is still found, on disk.
      const first = (await waitBuilt(server, uids[0] as string)) as { state: string; metadata?: unknown };
      expect(first.state).toBe('committed');
      expect(first.metadata).toBeDefined();
    } finally {
      await server.close();
    }
  }, 120_000);
});

describe('the disk quota of submissions', () => {
  it('refuses a submission once the stores built for clients fill it, writing nothing for it', async () => {
    const workdir = sandbox.path('quota');
    await mkdir(workdir);
    const server = await startServer({ workdir, port: 0, token: TOKEN, allowSubmit: true, submitQuotaBytes: 400_000 });
    try {
      let refused: Awaited<ReturnType<typeof rawRequest>> | undefined;
      for (let i = 0; i < 20 && refused === undefined; i++) {
        const body = floatBody(32 * 1024, 200 + i);
        const res = await rawRequest(server.url, { method: 'POST', path: '/v1/submit', headers: AUTH, body });
        if (res.status === 507) {
          refused = res;
          break;
        }
        expect(res.status).toBe(202);
        await waitBuilt(server, (res.json() as { uid: string }).uid);
      }
      expect(refused).toBeDefined();
      expectApiError(refused as Awaited<ReturnType<typeof rawRequest>>, 'QUOTA_EXCEEDED');
      const stores = (await readdir(workdir)).filter((name) => /^[0-9a-f]{64}$/.test(name));
      let used = 0;
      for (const uid of stores) used += await sizeOf(join(workdir, uid));
      expect(used).toBeLessThanOrEqual(400_000);
    } finally {
      await server.close();
    }
  }, 120_000);
});

describe('a submitted store', () => {
  it('takes little more disk than its record and its output: the record is not spread one number a line', async () => {
    const workdir = sandbox.path('ratio');
    await mkdir(workdir);
    const server = await startServer({ workdir, port: 0, token: TOKEN, allowSubmit: true });
    try {
      const data = Array.from({ length: 100_000 }, (_, i) => i % 10);
      const body = JSON.stringify({ record: { depends: [], input: { data }, operation: ['scalems', 'Integer64'] } });
      const answer = await submit(server, body);
      const uid = (answer.json as { uid: string }).uid;
      expect((await waitBuilt(server, uid)).state).toBe('committed');
      const store = await sizeOf(join(workdir, uid));
      // The output alone is 8 bytes an element; the record as sent is 2. Before, the record took 11 a line.
      const output = 8 * data.length;
      expect(store - output).toBeLessThan(1.5 * body.length);
    } finally {
      await server.close();
    }
  }, 120_000);
});
