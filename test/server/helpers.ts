/**
 * Shared set-up of the server tests: working directories produced by
 * running small workflows through the library (WorkerContext), a real
 * server on 127.0.0.1 port 0, and raw HTTP requests whose path is sent
 * exactly as written (no URL normalisation), for the bad-request tests.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { WorkerContext } from '../../src/engine/worker-context.js';
import { encodeNpyHeader } from '../../src/values/npy.js';
import { builtinRegistry } from '../../src/operations/registry.js';
import { API_STATUS, type ApiStatus } from '../../src/server/status-codes.js';
import { buildGraph, type ConcreteGraph } from '../../src/workflow/graph.js';
import type { WorkflowSpec } from '../../src/workflow/load.js';

export interface Sandbox {
  readonly dir: string;
  path(...parts: string[]): string;
  cleanup(): Promise<void>;
}

export async function createSandbox(): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), 'run-graph-server-'));
  return { dir, path: (...parts) => join(dir, ...parts), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Run a workflow spec in `workdir` through the library; returns the graph. Fails the test if a node fails unexpectedly. */
export async function runWorkflow(spec: WorkflowSpec, baseDir: string, workdir: string, options: { allowFailures?: boolean } = {}): Promise<ConcreteGraph> {
  const graph = await buildGraph(spec, { registry: builtinRegistry(), baseDir, file: join(baseDir, 'workflow.json') });
  const context = await WorkerContext.open({ workdir, jobs: 2 });
  const summary = await context.run(graph);
  if (options.allowFailures !== true && !summary.ok) throw new Error(`workflow failed: ${JSON.stringify(summary.failures)}`);
  return graph;
}

/** matrix -> doubled -> total, and a float vector beside them: a small graph to browse. */
export const SMALL_WORKFLOW: WorkflowSpec = {
  nodes: [
    { label: 'matrix', operation: 'scalems.Integer64', input: { data: [[1, 2], [3, 4]] } },
    { label: 'doubled', operation: 'run-graph.Add', input: { a: { $ref: 'matrix' }, b: { $ref: 'matrix' } } },
    { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'doubled' } } },
    { label: 'vector', operation: 'scalems.Float64', input: { data: [0.5, 1.5, 2.5] } },
  ],
};

/** The value element `i` of the big test array holds: cheap to recompute anywhere. */
export function bigValue(i: number): number {
  return i * 0.25 - Math.sin(i);
}

/**
 * Write a float64 `.npy` of `shape` block by block (1 MiB of elements at a
 * time), so the test never holds the array in memory to make it.
 */
export async function writeBigNpy(path: string, shape: number[]): Promise<void> {
  const count = shape.reduce((n, d) => n * d, 1);
  const handle = await open(path, 'w');
  try {
    await handle.write(encodeNpyHeader('float64', shape));
    const block = new Float64Array(128 * 1024);
    for (let first = 0; first < count; first += block.length) {
      const n = Math.min(block.length, count - first);
      for (let k = 0; k < n; k++) block[k] = bigValue(first + k);
      await handle.write(new Uint8Array(block.buffer, 0, n * 8));
    }
  } finally {
    await handle.close();
  }
}

/** Every entry under a directory with its size and mtime: equal snapshots mean nothing was written. */
export async function snapshotTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      const info = await stat(path);
      out.push(`${path} ${info.size} ${info.mtimeMs}`);
      if (entry.isDirectory()) await walk(path);
    }
  };
  await walk(root);
  return out;
}

export interface RawResponse {
  status: number;
  headers: { [name: string]: string | string[] | undefined };
  body: Buffer;
  text: string;
  json(): unknown;
}

export interface RawRequest {
  method?: string;
  /** Sent as is: `..` and percent-escapes reach the server untouched. */
  path: string;
  headers?: { [name: string]: string | number };
  body?: string | Buffer;
}

/** One HTTP request to a server URL, the path sent byte for byte. */
export function rawRequest(baseUrl: string, options: RawRequest): Promise<RawResponse> {
  const base = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: base.hostname, port: base.port, method: options.method ?? 'GET', path: options.path, headers: options.headers, agent: false, timeout: 20_000 });
    req.once('timeout', () => req.destroy(new Error(`timeout: ${options.path}`)));
    req.once('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.once('end', () => {
        const body = Buffer.concat(parts);
        const text = body.toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text, json: () => JSON.parse(text) as unknown });
      });
      res.once('error', reject);
    });
    // A server may answer (413) and close before it has read the whole body; the answer is what counts.
    req.on('error', (error) => reject(error));
    req.end(options.body);
  });
}

/** Assert an error answer: the HTTP status of the API status, and a `{status, message}` body. */
export function expectApiError(res: RawResponse, status: ApiStatus): void {
  let body: unknown;
  try {
    body = res.json();
  } catch {
    throw new Error(`expected a JSON ${status} body, got HTTP ${res.status}: ${res.text.slice(0, 300)}`);
  }
  expect({ http: res.status, status: (body as { status?: unknown }).status }).toEqual({ http: API_STATUS[status].http, status });
  expect(typeof (body as { message?: unknown }).message).toBe('string');
}

/** Write a JSON file (for hand-made stores in the traversal tests). */
export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Resolve when `predicate` holds, polling every 20 ms; fail after `timeoutMs`. */
export async function waitUntil(predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A CLI process started by a test; `stop()` sends SIGTERM to it (by its pid) and waits for its exit. */
export interface CliProcess {
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolve with the first match of `pattern` in stdout or stderr. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli', 'main.js');

/** Start `node dist/cli/main.js ...args`; it is SIGKILLed after `limitMs` whatever happens, so no test leaves it behind. */
export function startCli(args: readonly string[], options: { cwd: string; limitMs?: number; env?: { [name: string]: string } }): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: { ...process.env, CI: '1', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (err += text));
  const limit = setTimeout(() => child.kill('SIGKILL'), options.limitMs ?? 60_000);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      clearTimeout(limit);
      resolve({ code, signal });
    }),
  );
  return {
    pid: child.pid ?? -1,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitFor(pattern, timeoutMs) {
      let found: RegExpMatchArray | null = null;
      let done = false;
      void exited.then(() => (done = true));
      await waitUntil(() => (found = pattern.exec(out) ?? pattern.exec(err)) !== null || done, timeoutMs, `${pattern} in the output of run-graph ${args.join(' ')}`);
      if (found === null) throw new Error(`run-graph ${args.join(' ')} exited before printing ${pattern}; stderr: ${err}`);
      return found;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
