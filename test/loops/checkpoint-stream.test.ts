// Checkpoints inside an operation and streamed outputs, each resumed after
// a SIGKILL in the middle: the operation continues from its last published
// state (proven by its own log of steps), and a stream resumes after its
// last durable chunk, with no chunk duplicated or missing.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeNpy } from '../../src/values/npy.js';
import { readStoreMetadata } from '../../src/store/metadata.js';
import { runAttempt } from '../../torture/harness.js';
import { DIST_INDEX_URL, requireBuiltCli } from '../support/cli.js';
import { createSandbox } from '../support/sandbox.js';

// A script using the library: a 40-step sum that checkpoints after every
// step, and a 30-chunk stream, both slow enough to be killed midway.
const SCRIPT = `
import { appendFileSync } from 'node:fs';
import { WorkerContext, buildGraph, builtinRegistry } from ${JSON.stringify(DIST_INDEX_URL)};
const [workdir, log] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const slowSum = {
  namespace: 'test', name: 'SlowSum', version: '1', summary: 'sum of 0..39, one step at a time', defaultOutput: 'total',
  check: () => ({ total: { kind: 'array', dtype: 'float64', shape: [] } }),
  async run(input, context) {
    const saved = await context.checkpoint.load();
    let step = saved?.step ?? 0;
    let total = saved?.total ?? 0;
    while (step < 40) {
      appendFileSync(log, JSON.stringify({ op: 'sum', step }) + '\\n');
      total += step;
      step++;
      await sleep(20);
      await context.checkpoint.write({ step, total, trail: { dtype: 'float64', shape: [1], data: Float64Array.of(total) } });
    }
    return { total: { kind: 'array', value: { dtype: 'float64', shape: [], data: Float64Array.of(total) } } };
  },
};
const counter = {
  namespace: 'test', name: 'Counter', version: '1', summary: '30 chunks of 4 counting numbers', defaultOutput: 'samples', stream: 'samples',
  check: () => ({ samples: { kind: 'array', dtype: 'float64', shape: null } }),
  async *run(input, context) {
    for (let chunk = context.resumeAtChunk ?? 0; chunk < 30; chunk++) {
      appendFileSync(log, JSON.stringify({ op: 'stream', chunk }) + '\\n');
      await sleep(20);
      yield { dtype: 'float64', shape: [4], data: Float64Array.from([0, 1, 2, 3], (x) => chunk * 4 + x) };
    }
  },
};
const registry = builtinRegistry().register(slowSum).register(counter);
const graph = await buildGraph({ nodes: [
  { label: 'sum', operation: 'test.SlowSum', input: {} },
  { label: 'stream', operation: 'test.Counter', input: {} },
  { label: 'streamTotal', operation: 'run-graph.Sum', input: { array: { $ref: 'stream' } } },
] }, { registry });
const context = await WorkerContext.open({ workdir, jobs: 2 });
const summary = await context.run(graph);
console.log(JSON.stringify({ ok: summary.ok, stores: Object.fromEntries([...summary.results].map(([label, m]) => [label, m.uid])) }));
process.exit(summary.ok ? 0 : 1);
`;

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  requireBuiltCli();
  ({ dir, cleanup } = await createSandbox());
});
afterEach(async () => cleanup());

interface Step {
  op: 'sum' | 'stream';
  step?: number;
  chunk?: number;
}

describe('checkpoints and streams', () => {
  it('resume after SIGKILL where they left off', async () => {
    const script = join(dir, 'long.mjs');
    await writeFile(script, SCRIPT);
    const workdir = join(dir, 'work');
    const log = join(dir, 'steps.log');

    // SIGKILL once both have made some progress.
    const child = spawn(process.execPath, [script, workdir, log], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((done) => child.once('close', (_code, signal) => done(signal)));
    for (let waited = 0; waited < 30_000; waited += 20) {
      const text = await readFile(log, 'utf8').catch(() => '');
      if ((text.match(/"op":"sum"/g) ?? []).length >= 8 && (text.match(/"op":"stream"/g) ?? []).length >= 8) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const first = (await readFile(log, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Step);
    const lastSum = Math.max(...first.filter((s) => s.op === 'sum').map((s) => s.step ?? -1));
    const lastChunk = Math.max(...first.filter((s) => s.op === 'stream').map((s) => s.chunk ?? -1));
    expect(lastSum).toBeGreaterThan(2);
    expect(lastSum).toBeLessThan(39);
    expect(lastChunk).toBeGreaterThan(2);

    const resumed = await runAttempt(script, [workdir, log], process.env, undefined);
    expect(resumed.code, resumed.stderr).toBe(0);
    const second = (await readFile(log, 'utf8'))
      .trim()
      .split('\n')
      .slice(first.length)
      .map((l) => JSON.parse(l) as Step);
    const sumSteps = second.filter((s) => s.op === 'sum').map((s) => s.step);
    const chunks = second.filter((s) => s.op === 'stream').map((s) => s.chunk);
    // Only the step (or chunk) in flight at the kill may run again: nothing before it.
    expect(sumSteps[0]).toBeGreaterThanOrEqual(lastSum);
    expect(sumSteps).toEqual(Array.from({ length: 40 - (sumSteps[0] ?? 0) }, (_, i) => (sumSteps[0] ?? 0) + i));
    expect(chunks[0]).toBeGreaterThanOrEqual(lastChunk);
    expect(chunks).toEqual(Array.from({ length: 30 - (chunks[0] ?? 0) }, (_, i) => (chunks[0] ?? 0) + i));

    const stores = (JSON.parse(resumed.stdout.trim().split('\n').pop() ?? '{}') as { stores: Record<string, string> })
      .stores;
    const read = async (label: string, output: string): Promise<number[]> => {
      const storeDir = join(workdir, stores[label] ?? '');
      const metadata = await readStoreMetadata(storeDir);
      if (metadata?.state !== 'committed') throw new Error(`${label} not committed`);
      const artifact = metadata.artifacts[output];
      if (artifact?.kind === 'stream') {
        const parts = await Promise.all(
          (artifact.chunks ?? []).map(async (c) =>
            Array.from(decodeNpy(await readFile(join(storeDir, c.path))).data as Float64Array),
          ),
        );
        return parts.flat();
      }
      return Array.from(decodeNpy(await readFile(join(storeDir, artifact?.path ?? ''))).data as Float64Array);
    };
    expect(await read('sum', 'total')).toEqual([780]);
    expect(await read('stream', 'samples')).toEqual(Array.from({ length: 120 }, (_, i) => i));
    expect(await read('streamTotal', 'result')).toEqual([7140]);
    // A committed store keeps no intermediate state.
    expect(
      await readFile(join(workdir, stores['sum'] ?? '', 'checkpoint', '000001', 'state.json')).catch(() => 'gone'),
    ).toBe('gone');
  }, 60_000);
});
