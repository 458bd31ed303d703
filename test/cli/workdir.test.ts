/**
 * A working directory run-graph cannot use is refused with exit code 3 and a
 * message saying why, and whatever is there is left exactly as it was: a
 * regular file, or a non-empty directory that is not a run-graph working
 * directory.
 */
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createSandbox, writeJson, type Sandbox } from '../support/sandbox.js';
import { storeUids } from '../support/stores.js';
import { loggedNode, readLog } from '../support/workflows.js';

describe('working directory problems', () => {
  let box: Sandbox;
  let workflow: string;
  let log: string;

  beforeEach(async () => {
    box = await createSandbox();
    log = box.path('executions.log');
    workflow = await writeJson(box.path('wf.json'), {
      nodes: [
        {
          label: 'matrix',
          operation: 'scalems.Integer64',
          input: {
            data: [
              [1, 2],
              [3, 4],
            ],
          },
        },
        loggedNode('step', log, { inputs: ['matrix'] }),
      ],
    });
  });
  afterEach(async () => {
    await box.cleanup();
  });

  it('refuses a --workdir that is a regular file, and leaves the file alone', async () => {
    const file = box.path('results.txt');
    await writeFile(file, 'precious\n');
    const result = await runCli(['run', workflow, '--workdir', file]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^run-graph: E_WORKDIR: /);
    expect(result.stderr).toContain(file);
    expect(result.stderr).toContain('is a file, not a directory');
    expect(await readFile(file, 'utf8')).toBe('precious\n');
    expect(await readLog(log)).toEqual([]);
  });

  it('refuses a non-empty directory that is not a run-graph working directory, and touches none of its files', async () => {
    const dir = box.path('my-data');
    await mkdir(box.path('my-data', 'nested'), { recursive: true });
    await writeFile(box.path('my-data', 'notes.txt'), 'keep me\n');
    await writeFile(box.path('my-data', 'nested', 'table.csv'), 'a,b\n1,2\n');
    const mtimeBefore = (await stat(dir)).mtimeMs;

    const result = await runCli(['run', workflow, '--workdir', dir]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^run-graph: E_WORKDIR: /);
    expect(result.stderr).toContain(dir);
    expect(result.stderr).toContain('is not empty and is not a run-graph working directory');
    expect((await readdir(dir)).sort()).toEqual(['nested', 'notes.txt']);
    expect(await readdir(box.path('my-data', 'nested'))).toEqual(['table.csv']);
    expect(await readFile(box.path('my-data', 'notes.txt'), 'utf8')).toBe('keep me\n');
    expect(await readFile(box.path('my-data', 'nested', 'table.csv'), 'utf8')).toBe('a,b\n1,2\n');
    expect((await stat(dir)).mtimeMs).toBe(mtimeBefore);
    expect(await readLog(log)).toEqual([]);

    // With --json the error is also a JSON line on stdout.
    const json = await runCli(['run', workflow, '--workdir', dir, '--json']);
    expect(json.code).toBe(3);
    const line = JSON.parse(json.stdout.trim()) as { type: string; error: { code: string } };
    expect(line).toMatchObject({ type: 'error', error: { code: 'E_WORKDIR' } });
  });

  it('uses an existing empty directory', async () => {
    const dir = box.path('empty');
    await mkdir(dir);
    const result = await runCli(['run', workflow, '--workdir', dir]);
    expect(result.code).toBe(0);
    expect(await storeUids(dir)).toHaveLength(2);
    expect(await readLog(log)).toEqual(['step']);
  });
});
