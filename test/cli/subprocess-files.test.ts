/**
 * What a Subprocess node leaves in its store: the declared outputs, nested
 * ones in their folders, stdout.txt and stderr.txt, and nothing else: no
 * scratch file, no copy of an input file, no attempt directory.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { must, runCli, uidsByLabel } from '../support/cli.js';
import { LAUNCHER_WARM_UP } from '../support/processes.js';
import { createSandbox, writeJson, type Sandbox } from '../support/sandbox.js';
import { readMetadata } from '../support/stores.js';

describe('a Subprocess store', () => {
  let box: Sandbox;

  beforeEach(async () => {
    box = await createSandbox();
  });
  afterEach(async () => {
    await box.cleanup();
  });

  it('holds the declared outputs, nested ones too, and none of the scratch files or input copies', async () => {
    const params = box.path('params.txt');
    await writeFile(params, '7\n');
    const workflow = box.path('files.json');
    const workdir = box.path('wd');
    await writeJson(workflow, {
      nodes: [
        {
          label: 'run',
          operation: 'scalems.Subprocess',
          input: {
            argv: [
              'sh',
              '-c',
              'mkdir -p results/deep scratch && cat params.txt > results/deep/out.txt && echo junk > scratch/tmp.txt && echo top > top.txt && echo said && echo warned >&2',
            ],
            inputFiles: { 'params.txt': { $file: 'params.txt' } },
            outputFiles: ['results/deep/out.txt', 'top.txt'],
          },
        },
      ],
    });
    const result = await runCli(['run', workflow, '--workdir', workdir]);
    expect(result.code, result.stderr).toBe(0);
    const uid = must(await uidsByLabel(workflow), 'run');
    const store = join(workdir, uid);
    expect((await readMetadata(workdir, uid)).state).toBe('committed');
    expect(await readFile(join(store, 'results', 'deep', 'out.txt'), 'utf8')).toBe('7\n');
    expect(await readFile(join(store, 'top.txt'), 'utf8')).toBe('top\n');
    expect(await readFile(join(store, 'stdout.txt'), 'utf8')).toBe('said\n');
    expect(await readFile(join(store, 'stderr.txt'), 'utf8')).toBe('warned\n');
    expect((await readdir(store)).sort()).toEqual(
      ['exitCode.json', 'metadata.json', 'results', 'stderr.txt', 'stdout.txt', 'top.txt'].sort(),
    );
    expect(await readdir(join(store, 'results'))).toEqual(['deep']);
  });

  // A command with no input or output files is the launcher's from start to exit: it makes the attempt's directory
  // and moves stdout and stderr into the store (operations/launcher.ts); the first command of a run is started by
  // run-graph itself. Either way the store ends the same, with a scratch file left behind or not, on a first attempt
  // or a retry.
  it('holds only stdout, stderr and the exit code for a command with no declared files, however it was started', async () => {
    const workflow = box.path('plain.json');
    const workdir = box.path('wd');
    const marker = box.path('failed-once');
    await writeJson(workflow, {
      nodes: [
        LAUNCHER_WARM_UP,
        {
          label: 'clean',
          operation: 'scalems.Subprocess',
          input: { argv: ['sh', '-c', 'echo clean', 'sh', { $ref: 'first' }] },
        },
        {
          label: 'messy',
          operation: 'scalems.Subprocess',
          input: { argv: ['sh', '-c', 'mkdir -p junk && echo x > junk/y && echo messy >&2', 'sh', { $ref: 'first' }] },
        },
        {
          label: 'retried',
          operation: 'scalems.Subprocess',
          input: {
            argv: [
              'sh',
              '-c',
              '[ -f "$1" ] && { echo second; exit 0; }; touch "$1"; echo first try >&2; exit 3',
              'sh',
              marker,
              { $ref: 'first' },
            ],
          },
          retries: 1,
        },
      ],
    });
    const result = await runCli(['run', workflow, '--workdir', workdir]);
    expect(result.code, result.stderr).toBe(0);
    const uids = await uidsByLabel(workflow);
    const expected = { first: ['1\n', ''], clean: ['clean\n', ''], messy: ['', 'messy\n'], retried: ['second\n', ''] };
    for (const [label, [stdout, stderr]] of Object.entries(expected)) {
      const store = join(workdir, must(uids, label));
      expect((await readdir(store)).sort(), label).toEqual([
        'exitCode.json',
        'metadata.json',
        'stderr.txt',
        'stdout.txt',
      ]);
      expect(await readFile(join(store, 'stdout.txt'), 'utf8'), label).toBe(stdout);
      expect(await readFile(join(store, 'stderr.txt'), 'utf8'), label).toBe(stderr);
    }
    expect((await readMetadata(workdir, must(uids, 'retried'))).attempt).toBe(2);
  });
});
