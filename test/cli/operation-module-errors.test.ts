// An operation module that cannot be loaded says why: a missing file is "no such file", but a module that
// imports run-graph from a folder with no node_modules says it is the package that is missing and how to
// install it; after following the hint, the workflow loads.
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

let box: Sandbox;
beforeAll(async () => {
  box = await createSandbox();
  await writeFile(
    box.path('ops.js'),
    [
      "import { defineOperation } from 'run-graph';",
      'export const half = defineOperation({',
      "  namespace: 'my', name: 'Half', version: '1',",
      "  inputs: { x: { dtype: 'float64', shape: [] } }, outputs: { y: { dtype: 'float64', shape: [] } },",
      '  run: ({ x }) => ({ y: x / 2 }),',
      '});',
      '',
    ].join('\n'),
  );
  await box.write('wf.json', {
    operations: ['./ops.js'],
    nodes: [{ label: 'h', operation: 'my.Half', input: { x: 3 } }],
  });
  await box.write('missing.json', { operations: ['./nowhere.js'], nodes: [] });
});
afterAll(async () => {
  await box.cleanup();
});

describe('operation modules that do not load', () => {
  it("a module importing run-graph from a folder without node_modules names the package, not 'no such file'", async () => {
    const result = await runCli(['validate', box.path('wf.json')]);
    expect(result.code).toBe(2);
    expect(result.stderr).not.toContain('no such file');
    expect(result.stderr).toContain("it imports package 'run-graph', which Node cannot find");
    expect(result.stderr).toContain(`no node_modules/run-graph in ${box.dir}`);
    expect(result.stderr).toContain('npm install run-graph');
    expect(result.stderr).toContain('NODE_PATH does not help');
  });

  it('a module file that does not exist is still "no such file"', async () => {
    const result = await runCli(['validate', box.path('missing.json')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/cannot load operation module '\.\/nowhere\.js' \(.*\): no such file/);
  });

  it('once run-graph is in node_modules beside the module (as the hint says), the workflow runs', async () => {
    await mkdir(box.path('node_modules'));
    await symlink(REPO_ROOT, box.path('node_modules', 'run-graph'), 'dir');
    const result = await runCli(['run', box.path('wf.json'), '--workdir', box.path('wd')]);
    expect(result.code, result.stderr).toBe(0);
  });
});
