/**
 * A worker stalled past the heartbeat's stale limit (SIGSTOP) loses its lock
 * to another worker, which runs the node and commits it. When the stalled
 * worker comes back (SIGCONT) its own attempt is moot: it must wait for and
 * reuse the other's commit, report nothing that the other committed as
 * failed, and exit 0 once the workflow is done. Through the real CLI, the
 * two workers playing two hosts (RUN_GRAPH_HOSTNAME) so that the lock may
 * be taken over by heartbeat age.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, requireBuiltCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

let box: Sandbox;
beforeAll(async () => {
  requireBuiltCli();
  box = await createSandbox();
});
afterAll(() => box.cleanup());

interface Worker {
  child: ChildProcess;
  stdout: () => string;
  exited: Promise<number | null>;
}

function startWorker(args: string[], host: string, log: string): Worker {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, CI: '1', RUN_GRAPH_HOSTNAME: host, RUN_GRAPH_EXECUTION_LOG: log },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.resume();
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, stdout: () => stdout, exited };
}

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const events = (stdout: string): { type: string; label?: string }[] =>
  stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { type: string; label?: string });

describe('a worker stalled past the stale limit', () => {
  it('waits for the commit of the worker that took its lock over, reuses it, and exits 0', async () => {
    const log = box.path('executions.log');
    const workflow = await box.write('wf.json', {
      nodes: [
        {
          label: 'slow',
          operation: 'scalems.Subprocess',
          input: { argv: ['sh', '-c', 'sleep 3; echo slow > out.txt'], outputFiles: ['out.txt'] },
        },
        {
          label: 'after',
          operation: 'scalems.Subprocess',
          input: { argv: ['sh', '-c', 'cat "$0" > out.txt', { $ref: 'slow.out.txt' }], outputFiles: ['out.txt'] },
        },
      ],
    });
    const args = ['run', workflow, '--workdir', box.path('wf.workdir'), '--stale', '2', '--json'];

    const stalled = startWorker(args, 'host-a', log);
    await until(
      () => events(stalled.stdout()).some((e) => e.type === 'node-started' && e.label === 'slow'),
      'slow to start',
    );
    stalled.child.kill('SIGSTOP');
    try {
      const other = startWorker(args, 'host-b', log);
      expect(await other.exited).toBe(0);
      const otherEvents = events(other.stdout());
      expect(otherEvents.filter((e) => e.type === 'node-committed').map((e) => e.label)).toEqual(['slow', 'after']);
    } finally {
      stalled.child.kill('SIGCONT');
    }
    expect(await stalled.exited).toBe(0);
    const own = events(stalled.stdout());
    expect(own.filter((e) => e.type === 'node-failed' || e.type === 'node-skipped')).toEqual([]);
    expect(own.filter((e) => e.type === 'node-reused').map((e) => e.label)).toEqual(['slow', 'after']);
    expect(own.find((e) => e.type === 'run-finished')).toMatchObject({ ok: true });

    // `slow` ran twice (the stalled attempt and the takeover), was committed once; `after` ran and was committed once.
    const lines = (await readFile(log, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event: string; label: string });
    const count = (event: string, label: string): number =>
      lines.filter((l) => l.event === event && l.label === label).length;
    expect([
      count('start', 'slow'),
      count('commit', 'slow'),
      count('start', 'after'),
      count('commit', 'after'),
    ]).toEqual([2, 1, 1, 1]);
  }, 90_000);
});
