/**
 * Subprocess workflows as a user runs them, against GNU make: the real
 * `run-graph run` command (process start included, as make's is), on a
 * fan-out and a chain of `sh -c` nodes, beside the same DAG as a Makefile
 * run by `make -j` with the same job count. Each repetition runs, in this
 * order, run-graph cold, run-graph no-op, make cold and make no-op, so that
 * every ratio compares runs of the same minutes. Also the wall time of
 * `run-graph --version` against `node -e 0`, what Node itself costs here.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, runMake } from './make.js';
import { settleDisk, timed } from './stats.js';
import { makefileFor, makefileForChain, subprocessChainWorkflow, subprocessWorkflow } from './workflows.js';

/** The package's bin, as `npx run-graph` starts it. */
const BIN = fileURLToPath(import.meta.resolve('#dist/cli/bin.cjs'));

export type CliShape = 'fanout' | 'chain';
export const CLI_SHAPES: readonly CliShape[] = ['fanout', 'chain'];

export interface CliRunOptions {
  dir: string;
  n: number;
  jobs: number;
  reps: number;
  /** Whether GNU make is there to compare with. */
  make: boolean;
}

/** Wall times in ms, one per repetition. */
export interface CliRunSamples {
  cold: number[];
  noop: number[];
  makeCold: number[];
  makeNoop: number[];
}

/** What make's last target must hold, and the DAG as a workflow and a Makefile. */
function dagFor(shape: CliShape, n: number): { workflow: object; makefile: string; result: string; expected: number } {
  if (shape === 'fanout') {
    const expected = Array.from({ length: n }, (_, i) => i * i + 1).reduce((a, b) => a + b, 0);
    return { workflow: subprocessWorkflow(n), makefile: makefileFor(n), result: 'total.txt', expected };
  }
  return {
    workflow: subprocessChainWorkflow(n),
    makefile: makefileForChain(n),
    result: `s${n - 1}.txt`,
    expected: n - 1,
  };
}

async function runGraph(args: readonly string[]): Promise<number> {
  settleDisk();
  const { ms, value } = await timed(() => run(process.execPath, [BIN, ...args]));
  if (value.code !== 0)
    throw new Error(`run-graph ${args.join(' ')} exited with ${value.code}: ${value.stderr.trim().slice(-1000)}`);
  return ms;
}

export async function measureCliRuns(shape: CliShape, options: CliRunOptions): Promise<CliRunSamples> {
  const samples: CliRunSamples = { cold: [], noop: [], makeCold: [], makeNoop: [] };
  const dag = dagFor(shape, options.n);
  for (let rep = 0; rep < options.reps; rep++) {
    const folder = await mkdtemp(join(options.dir, `run-graph-cli-${shape}-`));
    try {
      const workflow = join(folder, 'workflow.json');
      await writeFile(workflow, JSON.stringify(dag.workflow));
      const args = ['run', workflow, '--workdir', join(folder, 'workdir'), '--jobs', String(options.jobs)];
      samples.cold.push(await runGraph(args));
      samples.noop.push(await runGraph(args));
      if (options.make) {
        const makeDir = join(folder, 'make');
        await mkdir(makeDir);
        await writeFile(join(makeDir, 'Makefile'), dag.makefile);
        settleDisk();
        samples.makeCold.push(await runMake(makeDir, options.jobs));
        const got = Number((await readFile(join(makeDir, dag.result), 'utf8')).trim());
        if (got !== dag.expected) throw new Error(`make computed ${got}, expected ${dag.expected}`);
        settleDisk();
        samples.makeNoop.push(await runMake(makeDir, options.jobs));
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }
  return samples;
}

/** Wall times in ms of `run-graph --version` and of `node -e 0`, interleaved, `reps` of each. */
export async function measureVersion(reps: number): Promise<{ version: number[]; node: number[] }> {
  const out = { version: [] as number[], node: [] as number[] };
  for (let rep = 0; rep < reps; rep++) {
    const version = await timed(() => run(process.execPath, [BIN, '--version']));
    if (version.value.code !== 0) throw new Error(`run-graph --version exited with ${version.value.code}`);
    out.version.push(version.ms);
    out.node.push((await timed(() => run(process.execPath, ['-e', '0']))).ms);
  }
  return out;
}
