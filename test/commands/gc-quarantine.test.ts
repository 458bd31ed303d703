// gc and quarantine/: a store that failed verification is moved to quarantine/ by a run; gc lists it with
// its age and size, deletes it with --yes (unless younger than --keep-quarantine), and gc without --keep
// answers in run-graph's one-line error format.
import { readdir, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createSandbox, exists, type Sandbox } from '../support/sandbox.js';

let box: Sandbox;
let workflow: string;
let workdir: string;

beforeEach(async () => {
  box = await createSandbox();
  workdir = box.path('wd');
  workflow = await box.write('wf.json', {
    nodes: [
      { label: 'big', operation: 'scalems.Float64', input: { data: Array.from({ length: 1000 }, (_, i) => i / 7) } },
      { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'big' } } },
    ],
  });
  expect((await runCli(['run', workflow, '--workdir', workdir])).code).toBe(0);
  const uid = (JSON.parse((await runCli(['validate', workflow, '--json'])).stdout) as { nodes: { uid: string }[] })
    .nodes[0]?.uid;
  // A damaged artifact: the next run moves the store to quarantine/ and rebuilds it.
  await truncate(join(workdir, uid ?? '', 'data.npy'), 10);
  const rerun = await runCli(['run', workflow, '--workdir', workdir]);
  expect(rerun.code, rerun.stderr).toBe(0);
  expect(await readdir(join(workdir, 'quarantine'))).toHaveLength(1);
});
afterEach(async () => {
  await box.cleanup();
});

describe('gc and quarantine/', () => {
  it('lists quarantined stores and deletes nothing without --yes', async () => {
    const result = await runCli(['gc', '--keep', workflow, '--workdir', workdir]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/quarantine\/: 1 store that failed verification/);
    expect(result.stdout).toMatch(/[0-9a-f]{64}\.\S+\s+\d+(\.\d)? KiB\s+\d{4}-\d\d-\d\dT/);
    expect(result.stdout).toMatch(/1 quarantined store, .*: run again with --yes to delete it/);
    expect(await readdir(join(workdir, 'quarantine'))).toHaveLength(1);
  });

  it('deletes them with --yes, and keeps those younger than --keep-quarantine', async () => {
    const young = await runCli(['gc', '--keep', workflow, '--workdir', workdir, '--yes', '--keep-quarantine', '7d']);
    expect(young.code, young.stderr).toBe(0);
    expect(young.stdout).toContain('younger than --keep-quarantine: kept');
    expect(young.stdout).toContain('deleted 0 quarantined stores');
    expect(await readdir(join(workdir, 'quarantine'))).toHaveLength(1);

    const result = await runCli(['gc', '--keep', workflow, '--workdir', workdir, '--yes', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as { quarantineResult: { deleted: string[]; freedBytes: number } };
    expect(report.quarantineResult.deleted).toHaveLength(1);
    expect(report.quarantineResult.freedBytes).toBeGreaterThan(8000);
    expect(await readdir(join(workdir, 'quarantine'))).toEqual([]);
    // The workflow's own stores are untouched.
    expect((await runCli(['run', workflow, '--workdir', workdir, '--json'])).stdout).toContain('"reused":2');
  });

  it('a bad --keep-quarantine is an E_USAGE error before anything is deleted', async () => {
    const result = await runCli(['gc', '--keep', workflow, '--workdir', workdir, '--yes', '--keep-quarantine', 'soon']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^run-graph: E_USAGE: --keep-quarantine expects an age/);
    expect(await readdir(join(workdir, 'quarantine'))).toHaveLength(1);
  });
});

describe('gc without --keep', () => {
  it('answers in run-graph error format, on one line, and deletes nothing', async () => {
    const result = await runCli(['gc', '--workdir', workdir, '--yes']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^run-graph: E_USAGE: gc needs at least one --keep <workflow>/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).not.toContain('error: required option');
    expect(await exists(join(workdir, 'quarantine'))).toBe(true);
  });
});
