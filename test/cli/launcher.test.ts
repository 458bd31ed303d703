/**
 * The launcher: after the first command of a run, Subprocess commands are
 * started by run-graph's small launcher process, not by forking run-graph
 * itself; and a command whose launcher dies while it runs is stopped (its
 * group killed) and its attempt fails, to be retried like any failure.
 * Each command records the command line of its parent process.
 */
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { must, requireBuiltCli, runCli, startCli, uidsByLabel } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { alive, launcherOf } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';

/** Records the command line of the command's parent in `parent.txt`, with spaces for the NULs. */
const RECORD_PARENT = `tr '\\0' ' ' < /proc/$PPID/cmdline > parent.txt`;

describe('the command launcher', () => {
  let box: Sandbox;
  beforeEach(async () => {
    requireBuiltCli();
    box = await createSandbox();
  });
  afterEach(async () => {
    const pid = Number(await readFile(box.path('sleep.pid'), 'utf8').catch(() => '0'));
    if (pid > 1 && alive(pid)) process.kill(pid, 'SIGKILL');
    await box.cleanup();
  });

  it('starts the commands after the first one, which run-graph starts while the launcher starts', async () => {
    // The first command lasts long enough for the launcher to be ready, on a loaded machine too.
    const workflow = await box.write('wf.json', {
      nodes: [
        {
          label: 'first',
          operation: 'scalems.Subprocess',
          input: { argv: ['sh', '-c', `${RECORD_PARENT}; sleep 3`], outputFiles: ['parent.txt'] },
        },
        {
          label: 'second',
          operation: 'scalems.Subprocess',
          input: { argv: ['sh', '-c', RECORD_PARENT, 'sh', { $ref: 'first' }], outputFiles: ['parent.txt'] },
        },
      ],
    });
    const workdir = box.path('wd');
    const result = await runCli(['run', workflow, '--workdir', workdir]);
    expect(result.code, result.stderr).toBe(0);
    const uids = await uidsByLabel(workflow);
    const parentOf = (label: string): Promise<string> =>
      readFile(join(workdir, must(uids, label), 'parent.txt'), 'utf8');
    expect(await parentOf('first')).toMatch(/dist\/cli\/bin\.cjs run /);
    expect(await parentOf('second')).toMatch(/launcher-process\.js/);
  });

  it('stops a command whose launcher died while it ran; the node is retried', async () => {
    // Attempt 1 sleeps (and would write `late` when it wakes); attempt 2, seeing the marker, ends at once.
    const script = [
      RECORD_PARENT,
      '[ -f "$1/marker" ] && { echo ok; exit 0; }',
      'touch "$1/marker"',
      'sleep 30 & echo $! > "$1/sleep.pid"',
      'wait',
      'echo late > "$1/late"',
    ].join('; ');
    const workflow = await box.write('wf.json', {
      nodes: [
        { label: 'first', operation: 'scalems.Subprocess', input: { argv: ['sh', '-c', 'sleep 3'] } },
        {
          label: 'sleeper',
          operation: 'scalems.Subprocess',
          retries: 1,
          input: { argv: ['sh', '-c', script, 'sh', box.dir, { $ref: 'first' }], outputFiles: ['parent.txt'] },
        },
      ],
    });
    const workdir = box.path('wd');
    const run = startCli(['run', workflow, '--workdir', workdir, '--json'], { cwd: box.dir });
    await waitUntil(() => readdirSync(box.dir).includes('sleep.pid'), 30_000, 'the command to start its sleep');
    const sleep = Number(await readFile(box.path('sleep.pid'), 'utf8'));
    let launcher: number | undefined;
    await waitUntil(() => (launcher = launcherOf(run.pid)) !== undefined, 10_000, 'the launcher process');
    process.kill(launcher ?? 0, 'SIGKILL');
    const { code } = await run.exited;
    expect(code, run.stderr()).toBe(0);
    expect(alive(sleep)).toBe(false);
    expect(readdirSync(box.dir)).not.toContain('late');
    const store = join(workdir, must(await uidsByLabel(workflow), 'sleeper'));
    const metadata = JSON.parse(await readFile(join(store, 'metadata.json'), 'utf8')) as { attempt?: number };
    expect(metadata.attempt).toBe(2);
    expect(await readFile(join(store, 'stdout.txt'), 'utf8')).toBe('ok\n');
    // The retry was started by run-graph itself, the launcher being gone.
    expect(await readFile(join(store, 'parent.txt'), 'utf8')).toMatch(/dist\/cli\/bin\.cjs run /);
    expect(run.stdout()).toMatch(/the command launcher \(pid \d+\) exited while the command ran/);
  });
});
