// While loops and maps through the real CLI: results, resume after SIGKILL
// inside an iteration (iterations before it never run again), the
// iteration cap, a condition true at once, and bad loops and maps refused
// before anything runs.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeNpy } from '../../src/values/npy.js';
import { readStoreMetadata } from '../../src/store/metadata.js';
import { auditExecutionLog, auditWorkdir } from '../../torture/audit.js';
import type { runAttempt } from '../../torture/harness.js';
import { loadGraph } from '../../src/workflow/load-graph.js';
import type { WorkflowSpec } from '../../src/workflow/load.js';
import { CLI, requireBuiltCli } from '../support/cli.js';
import { createSandbox } from '../support/sandbox.js';
import { runCliAttempt } from '../support/torture.js';
import { halvingWorkflow } from './workflows.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  requireBuiltCli();
  ({ dir, cleanup } = await createSandbox());
});
afterEach(async () => cleanup());

async function write(spec: WorkflowSpec, name = 'loop.json'): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, JSON.stringify(spec));
  return file;
}

/** The array a node committed for `output`. */
async function outputOf(file: string, workdir: string, label: string, output: string): Promise<number[]> {
  const graph = await loadGraph(file);
  const node = graph.byLabel.get(label);
  if (node === undefined) throw new Error(`no node ${label}`);
  const metadata = await readStoreMetadata(join(workdir, node.uid));
  if (metadata?.state !== 'committed') throw new Error(`${label} is not committed`);
  const artifact = metadata.artifacts[output];
  if (artifact === undefined) throw new Error(`${label} has no output ${output}`);
  return Array.from(decodeNpy(await readFile(join(workdir, node.uid, artifact.path))).data as Float64Array, Number);
}

function events(stdout: string): { type: string; label?: string; iteration?: number; stop?: boolean }[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { type: string });
}

describe('while loops', () => {
  it('runs until the condition says stop, and its outputs are the last state', async () => {
    const file = await write(halvingWorkflow({ initial: [100, 300, 800], below: 1, maxIterations: 50 }));
    const workdir = join(dir, 'work');
    const run = await runCliAttempt(['run', file, '--workdir', workdir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const checks = events(run.stdout).filter((e) => e.type === 'loop-iteration');
    // 800 / 2^10 < 1 <= 800 / 2^9: ten halvings, eleven checks, the last one says stop.
    expect(checks.map((e) => e.iteration)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(checks.map((e) => e.stop)).toEqual([...Array(10).fill(false), true]);
    expect(await outputOf(file, workdir, 'relax', 'ensemble')).toEqual([100 / 1024, 300 / 1024, 800 / 1024]);
    expect(await outputOf(file, workdir, 'final', 'result')).toEqual([1200 / 1024]);

    const again = await runCliAttempt(['run', file, '--workdir', workdir, '--json']);
    expect(events(again.stdout).filter((e) => e.type === 'node-started')).toEqual([]);
  });

  it('a condition true at once means zero iterations: the outputs are the initial state', async () => {
    const file = await write(halvingWorkflow({ initial: [0.25, 0.5], below: 1, maxIterations: 5 }));
    const workdir = join(dir, 'work');
    const run = await runCliAttempt(['run', file, '--workdir', workdir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(events(run.stdout).filter((e) => e.type === 'loop-iteration')).toEqual([
      expect.objectContaining({ iteration: 0, stop: true }),
    ]);
    expect(await outputOf(file, workdir, 'relax', 'ensemble')).toEqual([0.25, 0.5]);
  });

  it("a streamed state becomes a stream of the loop, its chunks linked into the loop's own store", async () => {
    // A streaming operation of the workflow's own: three chunks of two rows each.
    await writeFile(
      join(dir, 'ops.mjs'),
      `export const counter = {
  namespace: 'probe', name: 'Counter', version: '1', summary: 'chunks of counting numbers', defaultOutput: 'samples', stream: 'samples',
  check: () => ({ samples: { kind: 'array', dtype: 'float64', shape: null } }),
  async *run() { for (let c = 0; c < 3; c++) yield { dtype: 'float64', shape: [2], data: Float64Array.of(2 * c, 2 * c + 1) }; },
};
`,
    );
    const file = await write({
      operations: ['./ops.mjs'],
      subgraphs: {
        same: {
          inputs: ['x'],
          outputs: { x: { $ref: 'copy.result' } },
          nodes: [{ label: 'copy', operation: 'run-graph.Add', input: { a: { $input: 'x' }, b: 0 } }],
        },
        small: {
          inputs: ['x'],
          outputs: { done: { $ref: 'below' } },
          nodes: [
            { label: 'largest', operation: 'run-graph.Max', input: { array: { $input: 'x' } } },
            { label: 'below', operation: 'run-graph.Compare', input: { a: { $ref: 'largest' }, b: 100, op: 'lt' } },
          ],
        },
      },
      nodes: [
        { label: 'walk', operation: 'probe.Counter', input: {} },
        {
          label: 'relax',
          while: {
            subgraph: 'same',
            until: 'small',
            stopWhen: 'done',
            state: { x: { $ref: 'walk' } },
            maxIterations: 3,
          },
        },
        { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'relax.x' } } },
      ],
    } as WorkflowSpec);
    const workdir = join(dir, 'work');
    const run = await runCliAttempt(['run', file, '--workdir', workdir]);
    expect(run.code, run.stderr).toBe(0);
    const graph = await loadGraph(file);
    const loop = graph.byLabel.get('relax');
    const metadata = loop === undefined ? undefined : await readStoreMetadata(join(workdir, loop.uid));
    if (metadata?.state !== 'committed') throw new Error('the loop did not commit');
    const stream = metadata.artifacts['x'];
    expect(stream?.kind).toBe('stream');
    expect(stream?.chunks?.map((c) => c.path)).toEqual([
      'stream/x/000000.npy',
      'stream/x/000001.npy',
      'stream/x/000002.npy',
    ]);
    const rows = await Promise.all(
      (stream?.chunks ?? []).map(async (c) =>
        Array.from(decodeNpy(await readFile(join(workdir, metadata.uid, c.path))).data as Float64Array),
      ),
    );
    expect(rows).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    expect(await outputOf(file, workdir, 'total', 'result')).toEqual([15]);
    expect(await auditWorkdir(workdir)).toEqual([]);
  });

  it('fails at maxIterations unless the workflow accepts the cap', async () => {
    const failing = await write(halvingWorkflow({ initial: [800], below: 1, maxIterations: 3 }), 'capped.json');
    const run = await runCliAttempt(['run', failing, '--workdir', join(dir, 'a')]);
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).toContain('did not stop within maxIterations (3)');

    const accepting = await write(
      halvingWorkflow({ initial: [800], below: 1, maxIterations: 3, onMaxIterations: 'accept' }),
      'accept.json',
    );
    const workdir = join(dir, 'b');
    const accepted = await runCliAttempt(['run', accepting, '--workdir', workdir]);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(await outputOf(accepting, workdir, 'relax', 'ensemble')).toEqual([100]);
  });

  it('killed inside iteration k, a rerun reuses iterations before k and continues inside k', async () => {
    const log = join(dir, 'execution.log');
    const file = await write(
      halvingWorkflow({
        initial: [100, 200, 300, 400, 500, 600, 700, 800],
        below: 1,
        maxIterations: 50,
        log: join(dir, 'ticks.log'),
      }),
    );
    const workdir = join(dir, 'work');
    const env = { ...process.env, RUN_GRAPH_EXECUTION_LOG: log };
    // Kill once iteration 4's body has started running.
    const killed = await new Promise<Awaited<ReturnType<typeof runAttempt>>>((resolve, reject) => {
      import('node:child_process').then(({ spawn }) => {
        const child = spawn(process.execPath, [CLI, 'run', file, '--workdir', workdir, '--json'], { env });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (/"label":"relax#4\/members\[3\]"/.test(out) && out.includes('"type":"node-started"'))
            child.kill('SIGKILL');
        });
        child.once('close', (code, signal) =>
          resolve({
            code,
            signal,
            killed: signal === 'SIGKILL',
            stderr: '',
            stdout: out,
            firstStartMs: undefined,
            durationMs: 0,
          }),
        );
        child.once('error', reject);
      }, reject);
    });
    expect(killed.signal).toBe('SIGKILL');
    const before = (await readFile(log, 'utf8')).split('\n').filter((l) => l !== '').length;

    const resumed = await runCliAttempt(['run', file, '--workdir', workdir, '--json'], {
      RUN_GRAPH_EXECUTION_LOG: log,
    });
    expect(resumed.code, resumed.stderr).toBe(0);
    const { problems } = await auditExecutionLog(log);
    expect(problems).toEqual([]);
    const after = (await readFile(log, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .slice(before)
      .map((l) => JSON.parse(l) as { event: string; label: string });
    const iterationOf = (label: string): number => Number(/^relax#(\d+)\//.exec(label)?.[1] ?? -1);
    const rerun = after.filter((e) => e.event === 'start' && iterationOf(e.label) >= 0);
    expect(rerun.length).toBeGreaterThan(0);
    // Nothing of iterations 0-3 ran again; the rerun started inside iteration 4.
    expect(Math.min(...rerun.map((e) => iterationOf(e.label)))).toBe(4);
    expect(await auditWorkdir(workdir)).toEqual([]);
    expect(await outputOf(file, workdir, 'relax', 'ensemble')).toEqual(
      [100, 200, 300, 400, 500, 600, 700, 800].map((x) => x / 1024),
    );
  });
});

describe('maps', () => {
  it('fans an operation out over 8 members and gathers them', async () => {
    const file = await write({
      nodes: [
        { label: 'values', operation: 'scalems.Integer64', input: { data: [1, 2, 3, 4, 5, 6, 7, 8] } },
        {
          label: 'squares',
          map: { over: { $ref: 'values' }, as: 'a', operation: 'run-graph.Multiply', input: { b: { $ref: 'values' } } },
        },
        { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'squares.result' } } },
      ],
    } as WorkflowSpec);
    // Member i multiplies row i (a scalar) by the whole array: the gathered result is the outer product.
    const workdir = join(dir, 'work');
    const run = await runCliAttempt(['run', file, '--workdir', workdir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const members = events(run.stdout).filter(
      (e) => e.type === 'node-committed' && /^squares\[\d+\]$/.test(e.label ?? ''),
    );
    expect(members.length).toBe(8);
    expect(await outputOf(file, workdir, 'total', 'result')).toEqual([36 * 36]);
  });

  it('maps a subgraph over 1,000 members of a list, each its own node', async () => {
    const over = Array.from({ length: 1000 }, (_, i) => i);
    const file = await write({
      subgraphs: {
        twice: {
          inputs: ['x'],
          outputs: { y: { $ref: 'double' } },
          nodes: [{ label: 'double', operation: 'run-graph.Multiply', input: { a: { $input: 'x' }, b: 2 } }],
        },
      },
      nodes: [
        { label: 'ensemble', map: { over, as: 'x', subgraph: 'twice' } },
        { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'ensemble.y' } } },
        { label: 'member7', operation: 'run-graph.Add', input: { a: { $ref: 'ensemble[7].y' }, b: 0 } },
      ],
    } as WorkflowSpec);
    const workdir = join(dir, 'work');
    const run = await runCliAttempt(['run', file, '--workdir', workdir, '--jobs', '4']);
    expect(run.code, run.stderr).toBe(0);
    expect(await outputOf(file, workdir, 'total', 'result')).toEqual([999 * 1000]);
    const graph = await loadGraph(file);
    expect(graph.nodes.filter((n) => /^ensemble\[\d+\]\/double$/.test(n.label)).length).toBe(1000);
    expect(await outputOf(file, workdir, 'member7', 'result')).toEqual([14]);
  }, 120_000);
});

describe('bad loops and maps are refused before anything runs', () => {
  const cases: { name: string; mutate: (spec: WorkflowSpec) => void; message: RegExp }[] = [
    {
      name: 'a body that does not produce what the next iteration needs',
      mutate: (spec) => {
        const advance = spec.subgraphs?.['advance'];
        if (advance !== undefined) advance.outputs = { something: { $ref: 'members.result' } };
      },
      message: /does not output 'ensemble', which the next iteration needs/,
    },
    {
      name: 'a condition that is not boolean',
      mutate: (spec) => {
        const converged = spec.subgraphs?.['converged'];
        if (converged !== undefined) converged.outputs = { done: { $ref: 'largest' } };
      },
      message: /loop condition 'converged.done' is a float64 array \[\], not a boolean/,
    },
    {
      name: 'a map over a non-sequence',
      mutate: (spec) => {
        const members = spec.subgraphs?.['advance']?.nodes[0];
        if (members?.map !== undefined) members.map.over = 'eight';
      },
      message: /map needs a list, or an array whose leading dimension is known before the run; got "eight"/,
    },
  ];
  for (const { name, mutate, message } of cases) {
    it(name, async () => {
      const spec = halvingWorkflow({ initial: [8], below: 1, maxIterations: 10 });
      mutate(spec);
      const file = await write(spec);
      const workdir = join(dir, 'never');
      for (const command of [
        ['validate', file],
        ['run', file, '--workdir', workdir],
      ]) {
        const result = await runCliAttempt(command);
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(message);
        expect(result.stderr).toContain("node 'relax");
      }
      await expect(readFile(join(workdir, '.run-graph'))).rejects.toThrow();
    });
  }
});
