/**
 * Failures kept and retried, through the real CLI: a node that fails twice
 * and then succeeds commits on its third attempt after waiting its backoff;
 * one that keeps failing is `failed (exit 3, attempt 2 of 2)` in status,
 * explain says why, logs prints each attempt's output; attempts number on
 * across runs; an interrupt is neither retried nor recorded; a run killed
 * during a backoff is resumed with the budget it had left.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventsOf, must, parseEvents, runCli, startCli, uidsByLabel } from '../support/cli.js';
import { createSandbox, exists, type Sandbox } from '../support/sandbox.js';
import { readMetadata } from '../support/stores.js';

/**
 * A Subprocess that counts its attempts in `counter` (outside the working
 * directory, so the record does not change), says so on stdout and stderr,
 * and exits 3 until it has run `succeedOn` times.
 */
function countingNode(label: string, counter: string, succeedOn: number, policy: object): object {
  const script = [
    'n=$(( $(cat "$1" 2>/dev/null || echo 0) + 1 ))',
    'echo $n > "$1"',
    'echo "out of run $n"',
    'echo "err of run $n" >&2',
    '[ $n -ge $2 ] || exit 3',
    'echo done > result.txt',
  ].join('; ');
  return {
    label,
    operation: 'scalems.Subprocess',
    input: { argv: ['sh', '-c', script, 'sh', counter, String(succeedOn)], outputFiles: ['result.txt'] },
    ...policy,
  };
}

interface FailedRecord {
  attempt: number;
  lastAttempt: number;
  final: boolean;
  durationMs: number;
  error: { code: string; message: string };
  exit?: { code: number | null; signal: string | null };
  stderrTail?: string;
}

describe('retries and failure records', () => {
  let box: Sandbox;
  let counter: string;
  let workdir: string;

  beforeEach(async () => {
    box = await createSandbox();
    counter = box.path('count');
    workdir = box.path('wd');
  });
  afterEach(() => box.cleanup());

  it('commits on the third attempt after waiting the backoff, and keeps no attempt files', async () => {
    const workflow = await box.write('wf.json', {
      nodes: [countingNode('flaky', counter, 3, { retries: 2, backoff: { delay: '300ms', factor: 2 } })],
    });
    const result = await runCli(['run', workflow, '--workdir', workdir, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const events = parseEvents(result.stdout);
    const retrying = eventsOf(events, 'node-retrying');
    expect(retrying.map((e) => [e.attempt, e.lastAttempt, e.delayMs])).toEqual([
      [1, 3, 300],
      [2, 3, 600],
    ]);
    expect(retrying[0]?.error.message).toContain('exited with code 3');
    // The backoff was waited: the attempts started at least 300 ms and 600 ms apart.
    const starts = eventsOf(events, 'node-started').map((e) => Date.parse(e.time));
    expect(starts).toHaveLength(3);
    expect((starts[1] ?? 0) - (starts[0] ?? 0)).toBeGreaterThanOrEqual(300);
    expect((starts[2] ?? 0) - (starts[1] ?? 0)).toBeGreaterThanOrEqual(600);
    expect(await readFile(counter, 'utf8')).toBe('3\n');
    const uid = must(await uidsByLabel(workflow), 'flaky');
    const metadata = (await readMetadata(workdir, uid)) as unknown as { state: string; attempt?: number };
    expect(metadata.state).toBe('committed');
    expect(metadata.attempt).toBe(3);
    expect(await exists(join(workdir, uid, 'attempts'))).toBe(false);
    // logs shows the committed attempt.
    const logs = await runCli(['logs', workflow, 'flaky', '--workdir', workdir, '--stdout']);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toBe('out of run 3\n');
    const gone = await runCli(['logs', workflow, 'flaky', '--workdir', workdir, '--attempt', '1']);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain('E_USAGE');
    expect(gone.stderr).toContain('removed when the node commits');
  });

  it('records each failed attempt; status, explain and logs show them; the next run numbers on', async () => {
    const workflow = await box.write('wf.json', {
      defaults: { retries: 1, backoff: 0 },
      nodes: [countingNode('stubborn', counter, 99, {})],
    });
    const uid = must(await uidsByLabel(workflow), 'stubborn');
    const first = await runCli(['run', workflow, '--workdir', workdir]);
    expect(first.code).toBe(1);
    expect(first.stdout + first.stderr).toMatch(/retry +stubborn .*attempt 1 failed.*attempt 2 of 2/);

    const metadata = (await readMetadata(workdir, uid)) as unknown as { state: string; attempts: FailedRecord[] };
    expect(metadata.state).toBe('failed');
    expect(metadata.attempts.map((a) => [a.attempt, a.lastAttempt, a.final])).toEqual([
      [1, 2, false],
      [2, 2, true],
    ]);
    expect(metadata.attempts[1]).toMatchObject({
      error: { code: 'E_NODE_FAILED' },
      exit: { code: 3, signal: null },
      stderrTail: 'err of run 2',
    });
    expect(await readdir(join(workdir, uid, 'attempts'))).toEqual(['1', '2']);
    expect(await readdir(join(workdir, uid))).not.toContain('lock');

    const status = await runCli(['status', workflow, '--workdir', workdir]);
    expect(status.stdout).toMatch(/^stubborn +[0-9a-f]{12} +failed \(exit 3, attempt 2 of 2\)$/m);
    expect(status.stdout).toContain('1 failed, 0 incomplete');

    const explain = await runCli(['explain', workflow, 'stubborn', '--workdir', workdir]);
    expect(explain.code).toBe(0);
    expect(explain.stdout).toContain('failed (exit 3, attempt 2 of 2); will run again');
    expect(explain.stdout).toContain('exited with code 3');
    expect(explain.stdout).toMatch(/stderr ends with:\n +err of run 2/);
    // Said once: the error's own "; stderr ends with:" is left out where the tail follows.
    expect(explain.stdout.match(/stderr ends with/g)).toHaveLength(1);
    expect(explain.stdout).toContain('Earlier attempts: 1 (exit 3)');
    expect(explain.stdout).not.toContain('stopped before it finished');

    const latest = await runCli(['logs', workflow, 'stubborn', '--workdir', workdir]);
    expect(latest.code).toBe(0);
    expect(latest.stdout).toMatch(/^== stubborn, attempt 2: failed \(exit 3\)/);
    expect(latest.stdout).toContain('-- stdout\nout of run 2\n-- stderr\nerr of run 2\n');
    const earlier = await runCli(['logs', workflow, 'stubborn', '--workdir', workdir, '--attempt', '1', '--stderr']);
    expect(earlier.stdout).toBe('err of run 1\n');
    const missing = await runCli(['logs', workflow, 'stubborn', '--workdir', workdir, '--attempt', '7']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('attempts with logs: 1, 2');

    // A new run gives the node a fresh budget; the numbers go on, and the earlier attempts' files stay.
    expect((await runCli(['run', workflow, '--workdir', workdir])).code).toBe(1);
    const again = await runCli(['status', workflow, '--workdir', workdir]);
    expect(again.stdout).toMatch(/failed \(exit 3, attempt 4 of 4\)/);
    expect((await readdir(join(workdir, uid, 'attempts'))).sort()).toEqual(['1', '2', '3', '4']);
    expect(await readFile(counter, 'utf8')).toBe('4\n');
  });

  it('neither retries nor records an interrupt', async () => {
    const workflow = await box.write('wf.json', {
      nodes: [
        {
          label: 'slow',
          operation: 'scalems.Subprocess',
          input: { argv: ['sh', '-c', 'echo started; exec sleep 20'] },
          retries: 3,
          backoff: 0,
        },
      ],
    });
    const uid = must(await uidsByLabel(workflow), 'slow');
    const run = startCli(['run', workflow, '--workdir', workdir, '--json'], { cwd: box.dir });
    await run.waitFor(/"node-started"/, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(run.pid, 'SIGINT');
    const exit = await run.exited;
    expect(exit.code).not.toBe(0);
    expect(eventsOf(parseEvents(run.stdout()), 'node-retrying')).toEqual([]);
    expect(eventsOf(parseEvents(run.stdout()), 'node-started')).toHaveLength(1);
    expect((await readMetadata(workdir, uid)).state).toBe('created');
  });

  it('resumes a run killed during a backoff with the attempts it had left', async () => {
    const workflow = await box.write('wf.json', {
      nodes: [countingNode('flaky', counter, 99, { retries: 2, backoff: '4s' })],
    });
    const uid = must(await uidsByLabel(workflow), 'flaky');
    const run = startCli(['run', workflow, '--workdir', workdir, '--json'], { cwd: box.dir });
    await run.waitFor(/"node-retrying"/, 20_000);
    const during = await runCli(['status', workflow, '--workdir', workdir]);
    expect(during.stdout).toMatch(/^flaky +[0-9a-f]{12} +running \(attempt 2 of 3, pid \d+ on /m);
    process.kill(run.pid, 'SIGKILL');
    await run.exited;
    // Killed with its lock held: the failure record says failed, never committed.
    const status = await runCli(['status', workflow, '--workdir', workdir]);
    expect(status.stdout).toMatch(/failed \(exit 3, attempt 1 of 3\)/);

    const resumed = await runCli(['run', workflow, '--workdir', workdir, '--json'], { timeoutMs: 90_000 });
    expect(resumed.code).toBe(1);
    const events = parseEvents(resumed.stdout);
    // Attempts 2 and 3: the budget of the killed run, not three more.
    expect(eventsOf(events, 'node-retrying').map((e) => [e.attempt, e.lastAttempt])).toEqual([[2, 3]]);
    expect(await readFile(counter, 'utf8')).toBe('3\n');
    const metadata = (await readMetadata(workdir, uid)) as unknown as { attempts: FailedRecord[] };
    expect(metadata.attempts.map((a) => [a.attempt, a.final])).toEqual([
      [1, false],
      [2, false],
      [3, true],
    ]);
  }, 60_000);

  it("run --retries gives the retries of nodes that set none, under a node's own and above the defaults", async () => {
    const workflow = await box.write('wf.json', {
      defaults: { retries: 0, backoff: 0 },
      nodes: [countingNode('flag', counter, 3, {}), countingNode('own', box.path('own-count'), 3, { retries: 0 })],
    });
    const run = await runCli(['run', workflow, '--workdir', workdir, '--retries', '2']);
    expect(run.code).toBe(1);
    // flag took the flag's two retries and committed on attempt 3; own kept its 0 and failed once.
    expect((await readMetadata(workdir, must(await uidsByLabel(workflow), 'flag'))).attempt).toBe(3);
    expect(await readFile(box.path('own-count'), 'utf8')).toBe('1\n');
    const bad = await runCli(['run', workflow, '--workdir', workdir, '--retries', 'many']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/E_USAGE: .*--retries: expected a whole number of extra attempts, got 'many'/);
    const tooMany = await runCli(['run', workflow, '--workdir', workdir, '--retries', '1000']);
    expect(tooMany.stderr).toMatch(/--retries: expected a whole number of extra attempts from 0 to 100, got 1000/);
  });
});
