/**
 * The local executor honours resources, through the real CLI:
 * - the run's cores default to what the process may use (its CPU affinity,
 *   or Slurm's allocation inside a job), and `--jobs` defaults to them;
 * - a node with `cpus: 2` takes two of them: two such nodes on two cores
 *   never run at once (each subprocess records when it ran, and whether it
 *   found the other running);
 * - a node that can never fit is an E_UNSATISFIABLE error before anything
 *   runs, naming it;
 * - `time` kills the node's whole process group (a grandchild `sleep` too)
 *   and fails it with E_TIMEOUT; an in-process operation that ignores its
 *   signal is abandoned with E_TIMEOUT, and the command still ends.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLI,
  DIST_INDEX_URL,
  eventsOf,
  must,
  parseEvents,
  requireBuiltCli,
  uidsByLabel,
  type CliResult,
} from '../support/cli.js';
import { LAUNCHER_WARM_UP } from '../support/processes.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

let box: Sandbox;
beforeAll(async () => {
  requireBuiltCli();
  box = await createSandbox();
});
afterAll(() => box.cleanup());

const hasTaskset = existsSync('/usr/bin/taskset') || existsSync('/bin/taskset');
/** Without taskset (util-linux) the affinity tests skip on a user's machine, and fail in CI. */
const skipAffinity = !hasTaskset && process.env['CI'] !== 'true';
if (skipAffinity) console.warn('skipping the CPU affinity tests: taskset (util-linux) is not installed');

/** The environment of the tests' CLI runs: no Slurm job around it, unless a test adds one. */
function cleanEnv(extra: { [name: string]: string } = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CI: '1', ...extra };
  for (const name of Object.keys(env)) if (name.startsWith('SLURM_') && !(name in extra)) delete env[name];
  return env;
}

/** Run the CLI, optionally under a prefix command (`taskset -c 0`), with an environment. */
function run(args: string[], options: { prefix?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const [command, ...rest] = [...(options.prefix ?? []), process.execPath, CLI, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(command as string, rest, { env: options.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function jobsOf(result: CliResult): number | undefined {
  return eventsOf(parseEvents(result.stdout), 'run-started')[0]?.jobs;
}

/**
 * A subprocess node that records its start and end (nanoseconds) in
 * `<dir>/<label>.times`, and marks `<dir>/overlap` if another such node was
 * running when it started (an atomic mkdir of `<dir>/running` fails).
 */
function recordingNode(label: string, dir: string, cpus: number): object {
  const script = [
    'start=$(date +%s%N)',
    'if ! mkdir "$1/running" 2>/dev/null; then touch "$1/overlap"; fi',
    'sleep 2',
    'rmdir "$1/running" 2>/dev/null',
    'echo "$start $(date +%s%N)" > "$1/$0.times"',
    'echo done > out.txt',
  ].join('; ');
  return {
    label,
    operation: 'scalems.Subprocess',
    input: { argv: ['sh', '-c', script, label, dir], outputFiles: ['out.txt'] },
    resources: { cpus },
  };
}

async function times(dir: string, label: string): Promise<[number, number]> {
  const [start, end] = (await readFile(`${dir}/${label}.times`, 'utf8')).trim().split(' ').map(Number);
  return [start as number, end as number];
}

describe('cores', () => {
  it.skipIf(skipAffinity)('default to the CPU affinity, and --jobs defaults to them', async () => {
    const file = await box.write('one.json', {
      nodes: [{ label: 'n', operation: 'scalems.Integer64', input: { data: [1] } }],
    });
    const pinned = await run(['run', file, '--json', '--workdir', box.path('one-a.workdir')], {
      prefix: ['taskset', '-c', '0'],
    });
    expect(pinned.code, pinned.stderr).toBe(0);
    expect(jobsOf(pinned)).toBe(1);

    // Inside a Slurm job the allocation counts, not the affinity.
    const inJob = await run(['run', file, '--json', '--workdir', box.path('one-b.workdir')], {
      prefix: ['taskset', '-c', '0'],
      env: cleanEnv({ SLURM_JOB_ID: '7', SLURM_CPUS_PER_TASK: '3' }),
    });
    expect(inJob.code, inJob.stderr).toBe(0);
    expect(jobsOf(inJob)).toBe(3);
    const onNode = await run(['run', file, '--json', '--workdir', box.path('one-c.workdir')], {
      env: cleanEnv({ SLURM_JOB_ID: '7', SLURM_JOB_CPUS_PER_NODE: '5(x2)' }),
    });
    expect(jobsOf(onNode)).toBe(5);
  });

  it.skipIf(skipAffinity)('refuse a node that can never fit, before anything is written', async () => {
    const file = await box.write('big.json', {
      nodes: [
        { label: 'small', operation: 'scalems.Integer64', input: { data: [1] } },
        { label: 'big', operation: 'scalems.Integer64', input: { data: [2] }, resources: { cpus: 2 } },
      ],
    });
    const workdir = box.path('big.workdir');
    const result = await run(['run', file, '--workdir', workdir], { prefix: ['taskset', '-c', '0'] });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /E_UNSATISFIABLE: .*big\.json, node 'big', field 'resources\.cpus': needs 2 cpus, and this run has 1 core \(from CPU affinity\)/,
    );
    await expect(stat(workdir)).rejects.toThrow();

    const memory = await box.write('memory.json', {
      nodes: [{ label: 'huge', operation: 'scalems.Integer64', input: { data: [3] }, resources: { memory: '900T' } }],
    });
    const tooMuch = await run(['run', memory, '--workdir', workdir]);
    expect(tooMuch.code).toBe(2);
    expect(tooMuch.stderr).toMatch(/node 'huge', field 'resources\.memory': needs 900T of memory/);
    await expect(stat(workdir)).rejects.toThrow();
  });

  it('two cpus: 2 nodes never run at once on 2 cores; cpus: 1 nodes do', async () => {
    for (const [cpus, overlap] of [
      [2, false],
      [1, true],
    ] as const) {
      const dir = box.path(`marks-${cpus}`);
      await import('node:fs/promises').then((fs) => fs.mkdir(dir));
      const file = await box.write(`pair-${cpus}.json`, {
        nodes: [recordingNode('first', dir, cpus), recordingNode('second', dir, cpus)],
      });
      const result = await run(['run', file, '--cores', '2', '--workdir', box.path(`pair-${cpus}.workdir`)]);
      expect(result.code, result.stderr).toBe(0);
      const [a, b] = [await times(dir, 'first'), await times(dir, 'second')];
      const disjoint = a[1] <= b[0] || b[1] <= a[0];
      expect(disjoint, `cpus ${cpus}: ${JSON.stringify([a, b])}`).toBe(!overlap);
      expect(existsSync(`${dir}/overlap`)).toBe(overlap);
    }
  });
});

describe('time', () => {
  it('kills the process group at the limit and fails the node with E_TIMEOUT', async () => {
    const pidFile = box.path('grandchild.pid');
    const file = await box.write('slow.json', {
      nodes: [
        {
          label: 'slow',
          operation: 'scalems.Subprocess',
          input: {
            argv: ['sh', '-c', 'sleep 60 & echo $! > "$0"; wait; echo never > out.txt', pidFile],
            outputFiles: ['out.txt'],
          },
          resources: { time: '1s' },
        },
        { label: 'quick', operation: 'scalems.Integer64', input: { data: [1] } },
      ],
    });
    const started = Date.now();
    const result = await run(['run', file, '--json', '--workdir', box.path('slow.workdir')]);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(result.code).toBe(1);
    const failed = eventsOf(parseEvents(result.stdout), 'node-failed');
    expect(failed.map((e) => [e.label, e.error.code])).toEqual([['slow', 'E_TIMEOUT']]);
    expect(failed[0]?.error.message).toMatch(/exceeded its time limit of 1s: sh and its process group were killed/);
    expect(eventsOf(parseEvents(result.stdout), 'node-committed').map((e) => e.label)).toEqual(['quick']);
    const grandchild = Number((await readFile(pidFile, 'utf8')).trim());
    expect(grandchild).toBeGreaterThan(0);
    // Killed is enough: a zombie (state Z) waits only for its reaper, which in some containers never comes.
    const alive = (): boolean => {
      try {
        process.kill(grandchild, 0);
      } catch {
        return false;
      }
      const state = /\) (\S)/.exec(readFileSync(`/proc/${grandchild}/stat`, 'utf8'))?.[1];
      return state !== 'Z';
    };
    expect(alive()).toBe(false);
  });

  // Started by the launcher (the first node gives it time to be ready), which moves a cleanly exited command's
  // output into the store: one that exits 0 only as it is stopped still keeps its logs in its attempt.
  it('keeps the logs of a command that exits cleanly as it is stopped at the limit', async () => {
    const file = await box.write('trapped.json', {
      nodes: [
        LAUNCHER_WARM_UP,
        {
          label: 'trapped',
          operation: 'scalems.Subprocess',
          input: {
            argv: [
              'sh',
              '-c',
              'trap "echo stopped >&2; exit 0" TERM; echo started; sleep 60 & wait',
              'sh',
              { $ref: 'first' },
            ],
          },
          resources: { time: '2s' },
        },
      ],
    });
    const workdir = box.path('trapped.workdir');
    const result = await run(['run', file, '--json', '--workdir', workdir]);
    expect(result.code).toBe(1);
    const failed = eventsOf(parseEvents(result.stdout), 'node-failed');
    expect(failed.map((e) => [e.label, e.error.code])).toEqual([['trapped', 'E_TIMEOUT']]);
    // In the attempt's directory, which the next run keeps (it clears the rest of an unfinished store).
    const store = join(workdir, must(await uidsByLabel(file), 'trapped'));
    expect(await readFile(join(store, 'attempts', '1', 'stdout.txt'), 'utf8')).toBe('started\n');
    expect(await readFile(join(store, 'attempts', '1', 'stderr.txt'), 'utf8')).toBe('stopped\n');
    expect(existsSync(join(store, 'stdout.txt'))).toBe(false);
    const logs = await run(['logs', file, 'trapped', '--workdir', workdir]);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('started');
  });

  it('abandons an in-process operation that ignores its signal, with E_TIMEOUT', async () => {
    await box.write(
      'stuck.mjs',
      `import { defineOperation } from ${JSON.stringify(DIST_INDEX_URL)};
export const stuck = defineOperation({
  namespace: 'demo', name: 'Stuck', version: '1', resources: { time: 1 },
  inputs: {}, outputs: { y: { dtype: 'json' } },
  run: () => new Promise((resolve) => setTimeout(() => resolve({ y: 1 }), 120000)),
});
`,
    );
    const file = await box.write('stuck.json', {
      operations: ['./stuck.mjs'],
      nodes: [{ label: 'stuck', operation: 'demo.Stuck' }],
    });
    const started = Date.now();
    const result = await run(['run', file, '--workdir', box.path('stuck.workdir')]);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(result.code).toBe(1);
    expect(result.stdout + result.stderr).toMatch(/stuck: .*exceeded its time limit of 1s/);
  });
});
