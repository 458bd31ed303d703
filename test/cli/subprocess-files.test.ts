/**
 * What a Subprocess node leaves in its store: the declared outputs, nested
 * ones in their folders, stdout.txt and stderr.txt, and nothing else: no
 * scratch file, no copy of an input file, no attempt directory.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { must, runCli, uidsByLabel } from '../support/cli.js';
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
});
