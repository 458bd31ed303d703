/**
 * `run --fail-fast`: after the first node that fails for good, no other node
 * starts; a node already running finishes and commits. Without it (the
 * control), every node not downstream of the failure runs. Each node
 * appends its label to a log, so the log says what ran.
 */
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

let box: Sandbox;
let workflow: string;
beforeEach(async () => {
  box = await createSandbox();
  const log = box.path('log.txt');
  const logged = (label: string, script = 'true') => ({
    label,
    operation: 'scalems.Subprocess',
    input: { argv: ['sh', '-c', `echo ${label} >> "$0"; ${script}`, log] },
  });
  // With --jobs 2, `slow` and `bad` start first (nodes start in file order); bad fails while slow runs.
  workflow = await box.write('wf.json', {
    nodes: [
      logged('slow', 'sleep 1'),
      logged('bad', 'exit 3'),
      logged('a'),
      logged('b'),
      { ...logged('after'), input: { argv: ['sh', '-c', 'echo after >> "$0"', log, { $ref: 'a' }] } },
    ],
  });
});
afterEach(() => box.cleanup());

const ran = async (): Promise<string[]> =>
  (await readFile(box.path('log.txt'), 'utf8'))
    .split('\n')
    .filter((line) => line !== '')
    .sort();

describe('run --fail-fast', () => {
  it('starts nothing after the first failure, and lets the running node commit', async () => {
    const result = await runCli(['run', workflow, '--workdir', box.path('wd'), '--jobs', '2', '--fail-fast']);
    expect(result.code).toBe(1);
    expect(await ran()).toEqual(['bad', 'slow']);
    expect(result.stdout).toMatch(/1 built, 0 reused, 1 failed, 0 skipped, 3 not run, of 5 nodes/);
    const status = await runCli(['status', workflow, '--workdir', box.path('wd')]);
    expect(status.stdout).toMatch(/^slow +[0-9a-f]{12} +committed/m);
  });

  it('without it, runs every node not downstream of the failure', async () => {
    const result = await runCli(['run', workflow, '--workdir', box.path('wd'), '--jobs', '2']);
    expect(result.code).toBe(1);
    expect(await ran()).toEqual(['a', 'after', 'b', 'bad', 'slow']);
  });
});
