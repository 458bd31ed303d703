/**
 * The load rows of the benchmark: `run-graph serve` (the built CLI, a
 * process of its own, on 127.0.0.1) answering a closed loop of keep-alive
 * clients, one route at a time for a fixed time: a node's metadata, one
 * 64 KiB chunk of an array, and a static asset of the web page. Then the
 * server's resident memory with 100 idle event-stream (SSE) clients
 * connected. Bounded: at most 64 clients for at most 30 s a route.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request, type ClientRequest } from 'node:http';
import { join } from 'node:path';
import { WorkerContext } from '#dist/engine/worker-context.js';
import { builtinRegistry } from '#dist/operations/registry.js';
import { buildGraph } from '#dist/workflow/graph.js';
import { get, startServeProcess, summarize, writeArray } from './load.js';
import { makeRow, type BenchRow } from './table.js';

/**
 * The static asset whose load is measured: the web page's script bundle.
 * Answers other than 200 are counted, and said in a note.
 */
export const STATIC_ASSET_PATH = '/assets/app.js';

/** Idle event-stream clients connected while the server's RSS is read. */
const SSE_CLIENTS = 100;
const CHUNK_BYTES = 64 * 1024;
const MAX_CLIENTS = 64;
const MAX_SECONDS = 30;

export interface ServeLoadOptions {
  dir: string;
  /** Seconds of load per route. */
  seconds: number;
  /** Concurrent clients, one keep-alive connection each. */
  clients: number;
  log: (line: string) => void;
}

interface RouteLoad {
  requestsPerSecond: number;
  p99: number;
  /** Requests per second in each whole second of the run: the row's samples. */
  perSecond: number[];
  statuses: Map<number, number>;
  errors: number;
}

/** `clients` clients asking `path()` in a closed loop for `seconds`. */
async function loadRoute(base: string, path: () => string, seconds: number, clients: number): Promise<RouteLoad> {
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  const perSecond: number[] = [];
  let errors = 0;
  const began = performance.now();
  const deadline = began + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        while (performance.now() < deadline) {
          const sent = performance.now();
          try {
            const answer = await get(agent, new URL(path(), base));
            const now = performance.now();
            latencies.push(now - sent);
            statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
            const second = Math.floor((now - began) / 1000);
            if (second < seconds) perSecond[second] = (perSecond[second] ?? 0) + 1;
          } catch {
            errors++;
          }
        }
      } finally {
        agent.destroy();
      }
    }),
  );
  const elapsed = (performance.now() - began) / 1000;
  return {
    requestsPerSecond: Math.round((latencies.length / elapsed) * 10) / 10,
    p99: summarize(latencies).p99,
    perSecond: Array.from({ length: seconds }, (_, i) => perSecond[i] ?? 0),
    statuses,
    errors,
  };
}

/** Resident memory of a process in MiB, from /proc (Linux); NaN elsewhere. */
async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kib = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? Number.NaN);
  return Math.round((kib / 1024) * 10) / 10;
}

/** Open `count` event streams and keep them open (reading what comes) until `close()`. */
async function openEventStreams(base: string, count: number): Promise<() => void> {
  const requests: ClientRequest[] = [];
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve, reject) => {
          const req = request(new URL('/v1/events', base), { agent: false });
          requests.push(req);
          req.once('error', reject);
          req.once('response', (res) => {
            if (res.statusCode !== 200) reject(new Error(`/v1/events answered ${String(res.statusCode)}`));
            res.on('data', () => undefined);
            res.on('error', () => undefined);
            resolve();
          });
          req.end();
        }),
    ),
  );
  return () => {
    for (const req of requests) req.destroy();
  };
}

function statusText(statuses: Map<number, number>): string {
  return [...statuses].map(([status, n]) => `${n} x HTTP ${status}`).join(', ');
}

/** The load rows, and notes on how to read them. */
export async function measureServeLoad(options: ServeLoadOptions): Promise<{ rows: BenchRow[]; notes: string[] }> {
  const seconds = Math.min(MAX_SECONDS, Math.max(1, Math.round(options.seconds)));
  const clients = Math.min(MAX_CLIENTS, Math.max(1, options.clients));
  const dir = await mkdtemp(join(options.dir, 'run-graph-serve-load-'));
  let server: Awaited<ReturnType<typeof startServeProcess>>['child'] | undefined;
  try {
    options.log('serve load: committing a 4 MiB array');
    const shape = await writeArray(join(dir, 'array.npy'), 4 * 1024 * 1024);
    const spec = {
      nodes: [{ label: 'array', operation: 'run-graph.NpyFile', input: { file: { $file: 'array.npy' } } }],
    };
    await writeFile(join(dir, 'load.json'), JSON.stringify(spec));
    const graph = await buildGraph(spec, { registry: builtinRegistry(), baseDir: dir });
    const summary = await (await WorkerContext.open({ workdir: join(dir, 'load.workdir') })).run(graph);
    if (!summary.ok) throw new Error(`the serve load workflow failed: ${JSON.stringify(summary.failures)}`);
    const uid = graph.nodes[0]?.uid as string;
    const chunks = Math.floor(((shape[0] ?? 1) * (shape[1] ?? 1) * 8) / CHUNK_BYTES);

    const started = await startServeProcess('load.json', dir);
    server = started.child;
    const base = started.url;
    let seed = 1;
    const routes = {
      metadata: () => `/v1/nodes/${uid}/metadata`,
      chunk: () =>
        `/v1/nodes/${uid}/artifacts/data/chunks/${(seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % chunks}?chunkBytes=${CHUNK_BYTES}`,
      asset: () => STATIC_ASSET_PATH,
    };
    const measured: { [name in keyof typeof routes]?: RouteLoad } = {};
    for (const name of Object.keys(routes) as (keyof typeof routes)[]) {
      options.log(`serve load: ${clients} clients on ${name} for ${seconds} s`);
      measured[name] = await loadRoute(base, routes[name], seconds, clients);
    }
    const pid = server.pid ?? -1;
    const idleRss = await rssMiB(pid);
    options.log(`serve load: ${SSE_CLIENTS} idle event-stream clients`);
    const closeStreams = await openEventStreams(base, SSE_CLIENTS);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const sseRss = await rssMiB(pid);
    closeStreams();

    const rows: BenchRow[] = [];
    const labels = {
      metadata: 'serve: GET node metadata',
      chunk: 'serve: GET one 64 KiB array chunk',
      asset: `serve: GET static asset ${STATIC_ASSET_PATH}`,
    };
    for (const name of Object.keys(routes) as (keyof typeof routes)[]) {
      const load = measured[name] as RouteLoad;
      rows.push(
        makeRow({
          id: `serve.${name}.rps`,
          label: `${labels[name]}, ${clients} clients: requests/s`,
          unit: 'req/s',
          median: load.requestsPerSecond,
          samples: load.perSecond,
        }),
        makeRow({
          id: `serve.${name}.p99`,
          label: `${labels[name]}, ${clients} clients: p99 latency`,
          unit: 'ms',
          median: load.p99,
          samples: [load.p99],
        }),
      );
    }
    rows.push(
      makeRow({
        id: 'serve.sse.rss',
        label: `serve: RSS with ${SSE_CLIENTS} idle event-stream clients`,
        unit: 'MiB',
        median: sseRss,
        samples: [sseRss],
      }),
    );
    const notes = [
      `serve load: the built CLI on 127.0.0.1, ${clients} keep-alive clients in a closed loop for ${seconds} s per route, client and server on the same machine; RSS ${idleRss} MiB before the ${SSE_CLIENTS} event streams, ${sseRss} MiB with them.`,
      ...(Object.keys(routes) as (keyof typeof routes)[]).map(
        (name) =>
          `serve load ${name}: ${statusText((measured[name] as RouteLoad).statuses)}${(measured[name] as RouteLoad).errors > 0 ? `, ${(measured[name] as RouteLoad).errors} network errors` : ''}.`,
      ),
    ];
    return { rows, notes };
  } finally {
    if (server !== undefined && server.exitCode === null) {
      const exited = new Promise((resolve) => server?.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  }
}
