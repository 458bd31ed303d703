/**
 * The GNU make comparison: the subprocess workflow's DAG as a Makefile, run
 * with `make -j` and the same job count, cold (empty folder) and no-op
 * (everything up to date). make writes its targets without fsync and keeps no
 * record of what ran, so the ratio is the price of run-graph's durability and
 * bookkeeping, not a like-for-like race. Times include make's own start-up.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { timed } from './stats.js';
import { makefileFor } from './workflows.js';

export interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a program to its end, collecting its exit code and output. */
export function run(command: string, args: readonly string[], cwd?: string): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The first line of `make --version` when it is GNU make, else undefined (missing, or another make). */
export async function gnuMakeVersion(): Promise<string | undefined> {
  try {
    const { code, stdout } = await run('make', ['--version']);
    const first = stdout.split('\n')[0] ?? '';
    return code === 0 && first.startsWith('GNU Make') ? first : undefined;
  } catch {
    return undefined;
  }
}

export interface MakeOptions {
  dir: string;
  n: number;
  jobs: number;
  reps: number;
}

/** Wall times in ms of cold and no-op `make -j jobs`, one sample per repetition. */
export interface MakeSamples {
  cold: number[];
  noop: number[];
}

/** Wall time in ms of `make -s -j jobs` in `folder`; throws if make fails. */
export async function runMake(folder: string, jobs: number): Promise<number> {
  const { ms, value } = await timed(() => run('make', ['-s', '-j', String(jobs)], folder));
  if (value.code !== 0)
    throw new Error(`make failed with exit code ${value.code}: ${value.stderr.trim().slice(-1000)}`);
  return ms;
}

export async function measureMake(options: MakeOptions): Promise<MakeSamples> {
  const samples: MakeSamples = { cold: [], noop: [] };
  const makefile = makefileFor(options.n);
  const expected = Array.from({ length: options.n }, (_, i) => i * i + 1).reduce((a, b) => a + b, 0);
  for (let rep = 0; rep < options.reps; rep++) {
    const folder = await mkdtemp(join(options.dir, 'run-graph-make-'));
    try {
      await writeFile(join(folder, 'Makefile'), makefile);
      samples.cold.push(await runMake(folder, options.jobs));
      const total = Number((await readFile(join(folder, 'total.txt'), 'utf8')).trim());
      if (total !== expected) throw new Error(`make computed ${total}, expected ${expected}`);
      samples.noop.push(await runMake(folder, options.jobs));
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }
  return samples;
}
