/**
 * Shared set-up of the server tests: working directories produced by
 * running small workflows through the library (WorkerContext), big arrays
 * written without holding them in memory, and raw HTTP requests whose path
 * is sent exactly as written (no URL normalisation), for the bad-request
 * tests. The CLI (`serve`, `status --remote`) is started with `startCli`
 * from ./cli.ts.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { expect } from 'vitest';
import { WorkerContext } from '../../src/engine/worker-context.js';
import { encodeNpyHeader } from '../../src/values/npy.js';
import { builtinRegistry } from '../../src/operations/registry.js';
import { API_STATUS, type ApiStatus } from '../../src/server/status-codes.js';
import { buildGraph, type ConcreteGraph } from '../../src/workflow/graph.js';
import type { WorkflowSpec } from '../../src/workflow/load.js';

/** Run a workflow spec in `workdir` through the library; returns the graph. Fails the test if a node fails unexpectedly. */
export async function runWorkflow(
  spec: WorkflowSpec,
  baseDir: string,
  workdir: string,
  options: { allowFailures?: boolean } = {},
): Promise<ConcreteGraph> {
  const graph = await buildGraph(spec, { registry: builtinRegistry(), baseDir, file: join(baseDir, 'workflow.json') });
  const context = await WorkerContext.open({ workdir, jobs: 2 });
  const summary = await context.run(graph);
  if (options.allowFailures !== true && !summary.ok)
    throw new Error(`workflow failed: ${JSON.stringify(summary.failures)}`);
  return graph;
}

/** matrix -> doubled -> total, and a float vector beside them: a small graph to browse. */
export const SMALL_WORKFLOW: WorkflowSpec = {
  nodes: [
    {
      label: 'matrix',
      operation: 'scalems.Integer64',
      input: {
        data: [
          [1, 2],
          [3, 4],
        ],
      },
    },
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
    const req = request({
      host: base.hostname,
      port: base.port,
      method: options.method ?? 'GET',
      path: options.path,
      headers: options.headers,
      agent: false,
      timeout: 20_000,
    });
    req.once('timeout', () => req.destroy(new Error(`timeout: ${options.path}`)));
    req.once('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.once('end', () => {
        const body = Buffer.concat(parts);
        const text = body.toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          text,
          json: () => JSON.parse(text) as unknown,
        });
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
  expect({ http: res.status, status: (body as { status?: unknown }).status }).toEqual({
    http: API_STATUS[status].http,
    status,
  });
  expect(typeof (body as { message?: unknown }).message).toBe('string');
}
