/**
 * Load on `run-graph serve`, on loopback only: a working directory holding
 * one large float64 array is made through the library, served by the real
 * CLI in a process of its own, and `clients` concurrent clients (one
 * keep-alive connection each) fetch, in turn, a random chunk of the array
 * and a node's info, for `seconds`. Reported: requests per second, p50/p99
 * latency (all, info, chunk), errors (any non-2xx answer, network error or
 * wrong chunk content), and chunk throughput next to reading the same file
 * locally in chunks of the same size.
 *
 *     node build/bench/load.js --seconds 30 --clients 50 [--array-mib 64] [--chunk-kib 1024] [--json]
 *
 * Bounded on purpose: at most 600 s and 1000 clients, and the server binds
 * 127.0.0.1 only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WorkerContext } from '#dist/engine/worker-context.js';
import type { Uid } from '#dist/identity/fingerprint.js';
import { encodeNpyHeader, readNpyHeader } from '#dist/values/npy.js';
import { builtinRegistry } from '#dist/operations/registry.js';
import { buildGraph } from '#dist/workflow/graph.js';

export interface LoadOptions {
  /** Length of the measured phase. Default 30, at most 600. */
  seconds?: number;
  /** Concurrent clients, one connection each. Default 50, at most 1000. */
  clients?: number;
  /** Size of the served array in MiB. Default 64. */
  arrayMiB?: number;
  /** Chunk size the clients ask for. Default 1 MiB. */
  chunkBytes?: number;
  /** Progress lines. Default: none. */
  onProgress?: (line: string) => void;
}

/** Latency percentiles of one kind of request, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface LoadResult {
  seconds: number;
  clients: number;
  arrayBytes: number;
  chunkBytes: number;
  requests: number;
  requestsPerSecond: number;
  errors: number;
  /** The first few errors, for the report. */
  errorSamples: string[];
  latencyMs: { all: LatencySummary; info: LatencySummary; chunk: LatencySummary };
  /** Chunk bytes served per second during the run, MiB/s. */
  chunkMiBPerSecond: number;
  /** Reading the same file locally in chunks of the same size: one reader in order, and `clients` readers at random. */
  localMiBPerSecond: { sequential: number; concurrent: number };
  machine: string;
}

const MIB = 1024 * 1024;
const MAX_SECONDS = 600;
const MAX_CLIENTS = 1000;
/** One chunk answer in this many is hashed and compared (hashing all would measure the client's sha256). */
const VERIFY_EVERY = 8;

function checkedInteger(name: string, value: number, low: number, high: number): number {
  if (!Number.isSafeInteger(value) || value < low || value > high)
    throw new Error(`${name} must be an integer from ${low} to ${high}, got ${String(value)}`);
  return value;
}

export function summarize(samples: number[]): LatencySummary {
  if (samples.length === 0) return { count: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN };
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  const round = (ms: number): number => Math.round(ms * 100) / 100;
  return {
    count: sorted.length,
    p50: round(at(0.5)),
    p99: round(at(0.99)),
    max: round(sorted[sorted.length - 1] as number),
  };
}

/** The array: a float64 matrix of 1024 columns, written in blocks so it is never whole in memory. */
export async function writeArray(path: string, arrayBytes: number): Promise<number[]> {
  const columns = 1024;
  const rows = Math.max(1, Math.floor(arrayBytes / (columns * 8)));
  const shape = [rows, columns];
  const handle = await open(path, 'w');
  try {
    await handle.write(encodeNpyHeader('float64', shape));
    const block = new Float64Array(columns * 128);
    for (let row = 0; row < rows; row += 128) {
      const n = Math.min(128, rows - row) * columns;
      for (let k = 0; k < n; k++) block[k] = (row * columns + k) * 0.5;
      await handle.write(new Uint8Array(block.buffer, 0, n * 8));
    }
  } finally {
    await handle.close();
  }
  return shape;
}

/** Start `run-graph serve` from this build on 127.0.0.1, port 0; resolve with its URL. */
export function startServeProcess(workflow: string, cwd: string): Promise<{ child: ChildProcess; url: string }> {
  const cli = fileURLToPath(import.meta.resolve('#dist/cli/main.js'));
  const child = spawn(process.execPath, [cli, 'serve', workflow, '--host', '127.0.0.1', '--port', '0', '--json'], {
    cwd,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolvePromise, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('run-graph serve did not start within 20 s'));
    }, 20_000);
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      const line = /\{"type":"listening".*\}/.exec(out)?.[0];
      if (line === undefined) return;
      clearTimeout(timer);
      resolvePromise({ child, url: (JSON.parse(line) as { url: string }).url });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`run-graph serve exited with ${String(code)} before listening`));
    });
  });
}

export interface Answer {
  status: number;
  body: Buffer;
}

export function get(agent: Agent, url: URL): Promise<Answer> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { agent, timeout: 30_000 });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
    req.once('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.once('error', reject);
      res.once('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
    });
    req.end();
  });
}

/** Read a file in `chunkBytes` pieces for `ms`: one reader in order, or `readers` at random offsets. Returns MiB/s. */
async function localReadRate(
  path: string,
  start: number,
  length: number,
  chunkBytes: number,
  ms: number,
  readers: number,
): Promise<number> {
  const handle = await open(path, 'r');
  const chunks = Math.ceil(length / chunkBytes);
  let bytes = 0;
  const deadline = performance.now() + ms;
  const began = performance.now();
  try {
    await Promise.all(
      Array.from({ length: readers }, async (_, reader) => {
        const buffer = Buffer.allocUnsafe(chunkBytes);
        let index = reader;
        let seed = reader + 1;
        while (performance.now() < deadline) {
          if (readers === 1) index = (index + 1) % chunks;
          else index = (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % chunks;
          const offset = index * chunkBytes;
          const { bytesRead } = await handle.read(buffer, 0, Math.min(chunkBytes, length - offset), start + offset);
          bytes += bytesRead;
        }
      }),
    );
  } finally {
    await handle.close();
  }
  return bytes / MIB / ((performance.now() - began) / 1000);
}

/** Set up, load the server for `seconds` with `clients` clients, tear down; resolve with the figures. */
export async function runLoadBenchmark(options: LoadOptions = {}): Promise<LoadResult> {
  const seconds = checkedInteger('seconds', options.seconds ?? 30, 1, MAX_SECONDS);
  const clients = checkedInteger('clients', options.clients ?? 50, 1, MAX_CLIENTS);
  const arrayBytes = checkedInteger('arrayMiB', options.arrayMiB ?? 64, 1, 4096) * MIB;
  const chunkBytes = checkedInteger('chunkBytes', options.chunkBytes ?? MIB, 4096, 64 * MIB);
  const progress = options.onProgress ?? (() => undefined);
  const dir = await mkdtemp(join(tmpdir(), 'run-graph-load-'));
  let server: ChildProcess | undefined;
  try {
    progress(`writing a ${arrayBytes / MIB} MiB array and committing it through a workflow in ${dir}`);
    const shape = await writeArray(join(dir, 'array.npy'), arrayBytes);
    const spec = {
      nodes: [{ label: 'array', operation: 'run-graph.NpyFile', input: { file: { $file: 'array.npy' } } }],
    };
    await writeFile(join(dir, 'load.json'), JSON.stringify(spec));
    const graph = await buildGraph(spec, { registry: builtinRegistry(), baseDir: dir });
    const summary = await (await WorkerContext.open({ workdir: join(dir, 'load.workdir') })).run(graph);
    if (!summary.ok) throw new Error(`the load workflow failed: ${JSON.stringify(summary.failures)}`);
    const uid = graph.nodes[0]?.uid as Uid;
    const artifactPath = join(dir, 'load.workdir', uid, 'data.npy');
    const header = await readNpyHeader(artifactPath);
    const rowBytes = (shape[1] ?? 1) * 8;
    const rowsPerChunk = Math.max(1, Math.floor(chunkBytes / rowBytes));
    const chunkCount = Math.ceil((shape[0] ?? 1) / rowsPerChunk);
    // The expected sha256 of every chunk, to check answers against.
    const expected: string[] = [];
    {
      const handle = await open(artifactPath, 'r');
      try {
        for (let i = 0; i < chunkCount; i++) {
          const rows = Math.min(rowsPerChunk, (shape[0] ?? 1) - i * rowsPerChunk);
          const buffer = Buffer.alloc(rows * rowBytes);
          await handle.read(buffer, 0, buffer.length, header.dataOffset + i * rowsPerChunk * rowBytes);
          expected.push(createHash('sha256').update(buffer).digest('hex'));
        }
      } finally {
        await handle.close();
      }
    }

    const started = await startServeProcess('load.json', dir);
    server = started.child;
    const base = started.url;
    progress(
      `serving at ${base}; ${clients} clients for ${seconds} s, ${chunkCount} chunks of ${chunkBytes / 1024} KiB`,
    );

    const latencies = { info: [] as number[], chunk: [] as number[] };
    let errors = 0;
    let chunkBytesServed = 0;
    const errorSamples: string[] = [];
    const fail = (what: string): void => {
      errors++;
      if (errorSamples.length < 5) errorSamples.push(what);
    };
    const infoUrl = new URL(`/v1/nodes/${uid}`, base);
    const deadline = performance.now() + seconds * 1000;
    const began = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async (_, client) => {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        let seed = client * 7919 + 1;
        let turn = client;
        try {
          while (performance.now() < deadline) {
            const chunk = turn++ % 2 === 0;
            const index = (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % chunkCount;
            const url = chunk
              ? new URL(`/v1/nodes/${uid}/artifacts/data/chunks/${index}?chunkBytes=${chunkBytes}`, base)
              : infoUrl;
            const sent = performance.now();
            try {
              const answer = await get(agent, url);
              const ms = performance.now() - sent;
              if (answer.status !== 200) {
                fail(`HTTP ${answer.status} for ${url.pathname}: ${answer.body.toString('utf8').slice(0, 200)}`);
                continue;
              }
              if (chunk) {
                latencies.chunk.push(ms);
                chunkBytesServed += answer.body.length;
                if (
                  turn % VERIFY_EVERY === client % VERIFY_EVERY &&
                  createHash('sha256').update(answer.body).digest('hex') !== expected[index]
                )
                  fail(`chunk ${index}: wrong content`);
              } else {
                latencies.info.push(ms);
                if ((JSON.parse(answer.body.toString('utf8')) as { state?: string }).state !== 'committed')
                  fail('info: not committed');
              }
            } catch (error) {
              fail(`${url.pathname}: ${error instanceof Error ? error.message : String(error)}`);
            }
          }
        } finally {
          agent.destroy();
        }
      }),
    );
    const elapsed = (performance.now() - began) / 1000;
    const requests = latencies.info.length + latencies.chunk.length + errors;

    progress('reading the same file locally in the same chunks');
    const dataLength = (shape[0] ?? 1) * rowBytes;
    const sequential = await localReadRate(artifactPath, header.dataOffset, dataLength, chunkBytes, 3_000, 1);
    const concurrent = await localReadRate(artifactPath, header.dataOffset, dataLength, chunkBytes, 3_000, clients);
    const round = (x: number): number => Math.round(x * 10) / 10;
    return {
      seconds: round(elapsed),
      clients,
      arrayBytes: dataLength,
      chunkBytes,
      requests,
      requestsPerSecond: round(requests / elapsed),
      errors,
      errorSamples,
      latencyMs: {
        all: summarize([...latencies.info, ...latencies.chunk]),
        info: summarize(latencies.info),
        chunk: summarize(latencies.chunk),
      },
      chunkMiBPerSecond: round(chunkBytesServed / MIB / elapsed),
      localMiBPerSecond: { sequential: round(sequential), concurrent: round(concurrent) },
      machine: `${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}; server and clients share the machine`,
    };
  } finally {
    if (server !== undefined && server.exitCode === null) {
      const exited = new Promise((r) => server?.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/** The report as lines of text. */
export function formatLoadResult(result: LoadResult): string {
  const l = result.latencyMs;
  return [
    `load: ${result.clients} clients for ${result.seconds} s on loopback, ${result.arrayBytes / MIB} MiB array, ${result.chunkBytes / 1024} KiB chunks`,
    `  requests      ${result.requests} (${result.requestsPerSecond}/s), errors ${result.errors}`,
    `  latency ms    all p50 ${l.all.p50} p99 ${l.all.p99} max ${l.all.max}`,
    `                info p50 ${l.info.p50} p99 ${l.info.p99} (${l.info.count}); chunk p50 ${l.chunk.p50} p99 ${l.chunk.p99} (${l.chunk.count})`,
    `  chunks        ${result.chunkMiBPerSecond} MiB/s served; local read of the same chunks ${result.localMiBPerSecond.sequential} MiB/s (1 reader), ${result.localMiBPerSecond.concurrent} MiB/s (${result.clients} readers)`,
    `  machine       ${result.machine}`,
    ...result.errorSamples.map((e) => `  error: ${e}`),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      clients: { type: 'string' },
      'array-mib': { type: 'string' },
      'chunk-kib': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const number = (text: string | undefined): number | undefined => (text === undefined ? undefined : Number(text));
  const chunkKiB = number(values['chunk-kib']);
  const result = await runLoadBenchmark({
    ...(values.seconds === undefined ? {} : { seconds: Number(values.seconds) }),
    ...(values.clients === undefined ? {} : { clients: Number(values.clients) }),
    ...(values['array-mib'] === undefined ? {} : { arrayMiB: Number(values['array-mib']) }),
    ...(chunkKiB === undefined ? {} : { chunkBytes: chunkKiB * 1024 }),
    onProgress: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(values.json === true ? `${JSON.stringify(result)}\n` : `${formatLoadResult(result)}\n`);
  if (result.errors > 0) process.exitCode = 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`load: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}
