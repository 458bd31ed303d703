/**
 * No orphans: a Subprocess of a killed run does not outlive it. SIGKILL
 * `run-graph run` while its command sleeps (and would write a file when it
 * wakes): the launcher, run-graph's watchdog, kills the command's process
 * group at once. If the launcher is killed too, the group recorded in the
 * store is killed by the next run as it takes the store over, before the
 * node runs again. Either way the old command writes nothing. (The run's
 * only command is its first, which run-graph starts itself while the
 * launcher starts, so killing the launcher leaves the command running.)
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { must, runCli, startCli, uidsByLabel } from '../support/cli.js';
import { createSandbox, exists, type Sandbox } from '../support/sandbox.js';
import { LAUNCHER_WARM_UP, alive, launcherOf, parentOf } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';

describe('a subprocess of a killed run', () => {
  let box: Sandbox;
  let workflow: string;
  let workdir: string;
  let script: string;

  beforeEach(async () => {
    box = await createSandbox();
    workdir = box.path('wd');
    // Records its shell's and its sleep's pids; quick once `resume` exists, else sleeps and then writes `late`.
    script = [
      'echo $$ > "$1/shell.pid"',
      '[ -f "$1/resume" ] && { echo ok > out.txt; exit 0; }',
      'sleep 30 & echo $! > "$1/sleep.pid"',
      'wait',
      'echo late > "$1/late"',
      'echo ok > out.txt',
    ].join('; ');
    workflow = await box.write('wf.json', {
      nodes: [
        {
          label: 'sleeper',
          operation: 'scalems.Subprocess',
          input: { argv: ['sh', '-c', script, 'sh', box.dir], outputFiles: ['out.txt'] },
        },
      ],
    });
  });
  afterEach(async () => {
    for (const name of ['shell.pid', 'sleep.pid']) {
      const pid = Number(await readFile(box.path(name), 'utf8').catch(() => '0'));
      if (pid > 1 && alive(pid)) process.kill(pid, 'SIGKILL');
    }
    await box.cleanup();
  });

  async function startAndKill(killLauncherFirst: boolean): Promise<{ shell: number; sleep: number }> {
    const run = startCli(['run', workflow, '--workdir', workdir, '--json'], { cwd: box.dir });
    await run.waitFor(/"node-started"/, 20_000);
    await waitUntil(() => readdirSync(box.dir).includes('sleep.pid'), 10_000, 'the command to start its sleep');
    // The record is written as the command starts; on a loaded machine that may come after the command's first lines.
    const uid = must(await uidsByLabel(workflow), 'sleeper');
    await waitUntil(() => existsSync(join(workdir, uid, 'process-group')), 10_000, 'the process group record');
    const shell = Number(await readFile(box.path('shell.pid'), 'utf8'));
    const sleep = Number(await readFile(box.path('sleep.pid'), 'utf8'));
    expect(alive(shell) && alive(sleep)).toBe(true);
    if (killLauncherFirst) {
      let launcher: number | undefined;
      await waitUntil(() => (launcher = launcherOf(run.pid)) !== undefined, 10_000, 'the launcher process');
      process.kill(launcher ?? 0, 'SIGKILL');
    }
    process.kill(run.pid, 'SIGKILL');
    await run.exited;
    return { shell, sleep };
  }

  /** Run again, now quick: the old command is killed first, writes nothing late, and its record goes. */
  async function expectKilledByTheNextRun(file: string, uid: string, shell: number, sleep: number): Promise<void> {
    await writeFile(box.path('resume'), '');
    const resumed = await runCli(['run', file, '--workdir', workdir]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(alive(shell) || alive(sleep)).toBe(false);
    expect(await exists(box.path('late'))).toBe(false);
    expect(await readdir(join(workdir, uid))).not.toContain('process-group');
  }

  it('dies with the run: the launcher kills its group at once', async () => {
    const { shell, sleep } = await startAndKill(false);
    // At once: well before the 30 s sleep ends, and before anything else runs (the bound allows for a loaded machine).
    await waitUntil(() => !alive(shell) && !alive(sleep), 10_000, "the killed run's command to be gone");
    await writeFile(box.path('resume'), '');
    const resumed = await runCli(['run', workflow, '--workdir', workdir]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await exists(box.path('late'))).toBe(false);
  });

  it('is killed by the next run before its node runs again when the launcher died too', async () => {
    const { shell, sleep } = await startAndKill(true);
    // Nothing killed it: it still sleeps.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(alive(shell) && alive(sleep)).toBe(true);
    const uid = must(await uidsByLabel(workflow), 'sleeper');
    expect(await readdir(join(workdir, uid))).toContain('process-group');
    const record = JSON.parse(await readFile(join(workdir, uid, 'process-group'), 'utf8')) as { pgid: number };
    expect(record.pgid).toBe(shell);

    await expectKilledByTheNextRun(workflow, uid, shell, sleep);
  });

  it("is killed by the next run when it was the launcher's, recorded by the launcher, and both died", async () => {
    // A first node, slow enough for the launcher to be ready when the sleeper starts: the launcher starts the sleeper
    // and writes its record. Frozen, the launcher cannot kill it as run-graph dies; it is killed next.
    const chained = await box.write('chained.json', {
      nodes: [
        LAUNCHER_WARM_UP,
        {
          label: 'sleeper',
          operation: 'scalems.Subprocess',
          input: { argv: ['sh', '-c', script, 'sh', box.dir, { $ref: 'first' }], outputFiles: ['out.txt'] },
        },
      ],
    });
    const run = startCli(['run', chained, '--workdir', workdir, '--json'], { cwd: box.dir });
    await waitUntil(() => readdirSync(box.dir).includes('sleep.pid'), 20_000, 'the sleeper to start its sleep');
    const uid = must(await uidsByLabel(chained), 'sleeper');
    await waitUntil(() => existsSync(join(workdir, uid, 'process-group')), 10_000, 'the process group record');
    const shell = Number(await readFile(box.path('shell.pid'), 'utf8'));
    const sleep = Number(await readFile(box.path('sleep.pid'), 'utf8'));
    const launcher = launcherOf(run.pid) ?? 0;
    expect(launcher).toBeGreaterThan(1);
    expect(parentOf(shell)).toBe(launcher);
    const record = JSON.parse(await readFile(join(workdir, uid, 'process-group'), 'utf8')) as { pgid: number };
    expect(record.pgid).toBe(shell);

    process.kill(launcher, 'SIGSTOP');
    process.kill(run.pid, 'SIGKILL');
    await run.exited;
    process.kill(launcher, 'SIGKILL');
    await waitUntil(() => !alive(launcher), 10_000, 'the launcher to be gone');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(alive(shell) && alive(sleep)).toBe(true);

    await expectKilledByTheNextRun(chained, uid, shell, sleep);
  });
});
