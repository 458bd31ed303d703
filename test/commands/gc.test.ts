// gc: lists what no kept workflow reaches and the space it takes, deletes
// only with --yes, never a store a live process holds, and fails before
// deleting anything when a kept workflow does not load.
import { spawn } from 'node:child_process';
import { mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseUid } from '../../src/identity/fingerprint.js';
import { claimOwnership } from '../../src/store/lock.js';
import { currentOwner } from '../../src/store/owner.js';
import { REPO_ROOT, runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { storeUids } from '../support/stores.js';

let box: Sandbox;
let keep: string;
let drop: string;
let workdir: string;

async function stores(): Promise<string[]> {
  return storeUids(workdir);
}

async function uidsOf(workflow: string): Promise<string[]> {
  const result = await runCli(['validate', workflow, '--json']);
  return (JSON.parse(result.stdout) as { nodes: { uid: string }[] }).nodes.map((n) => n.uid).sort();
}

beforeEach(async () => {
  box = await createSandbox();
  workdir = box.path('wd');
  keep = await box.write('keep.json', {
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
      { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'matrix' } } },
    ],
  });
  drop = await box.write('drop.json', {
    nodes: [
      { label: 'big', operation: 'scalems.Float64', input: { data: Array.from({ length: 1000 }, (_, i) => i / 7) } },
      { label: 'other', operation: 'run-graph.Sum', input: { array: { $ref: 'big' } } },
    ],
  });
  for (const workflow of [keep, drop]) {
    const result = await runCli(['run', workflow, '--workdir', workdir]);
    expect(result.code, result.stderr).toBe(0);
  }
});
afterEach(async () => {
  await box.cleanup();
});

describe('gc', () => {
  it('lists the unreachable stores and their size, and deletes nothing without --yes', async () => {
    const before = await stores();
    const result = await runCli(['gc', '--keep', keep, '--workdir', workdir]);
    expect(result.code, result.stderr).toBe(0);
    const dropped = await uidsOf(drop);
    for (const uid of dropped) expect(result.stdout).toContain(uid.slice(0, 12));
    expect(result.stdout).toMatch(/2 stores kept by .*keep\.json; 2 unreachable/);
    expect(result.stdout).toMatch(/2 stores, \d+(\.\d)? KiB: run again with --yes to delete them/);
    expect(await stores()).toEqual(before);
    const json = JSON.parse((await runCli(['gc', '--keep', keep, '--workdir', workdir, '--json'])).stdout) as {
      unreachable: { uid: string; bytes: number }[];
    };
    expect(json.unreachable.map((s) => s.uid).sort()).toEqual(dropped);
    expect(json.unreachable.every((s) => s.bytes > 0)).toBe(true);
  });

  it('deletes them with --yes; the kept workflow is still all reused', async () => {
    const result = await runCli(['gc', '--keep', keep, '--workdir', workdir, '--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/deleted 2 stores, freed \d/);
    expect(await stores()).toEqual(await uidsOf(keep));
    expect((await readdir(join(workdir, 'tmp'))).filter((n) => n.startsWith('gc.'))).toEqual([]);
    const again = await runCli(['run', keep, '--workdir', workdir, '--json']);
    expect(again.stdout).toContain('"reused":2');
  });

  it('keeps the stores the loops of a kept workflow generated', async () => {
    const adaptive = join(REPO_ROOT, 'examples', 'adaptive-ensemble.json');
    const run = await runCli(['run', adaptive, '--workdir', workdir]);
    expect(run.code, run.stderr).toBe(0);
    const generated = (await stores()).length - 2 - 2 - (await uidsOf(adaptive)).length;
    expect(generated).toBeGreaterThan(0);
    const result = await runCli(['gc', '--keep', keep, adaptive, '--workdir', workdir, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as { reachable: number; unreachable: { uid: string }[] };
    expect(report.unreachable.map((s) => s.uid).sort()).toEqual(await uidsOf(drop));
    expect(report.reachable).toBe((await stores()).length - 2);
  });

  it('never deletes a store whose lock a live process holds', async () => {
    const [big] = await uidsOf(drop);
    const held = parseUid(big ?? '');
    const claim = await claimOwnership(join(workdir, held), currentOwner());
    expect(claim.kind).toBe('acquired');
    try {
      const result = await runCli(['gc', '--keep', keep, '--workdir', workdir, '--yes']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(`${held.slice(0, 12)}`);
      expect(result.stdout).toContain(`IN USE by pid ${process.pid}`);
      expect(result.stdout).toMatch(/deleted 1 store,/);
      expect(await stores()).toContain(held);
      expect((await stat(join(workdir, held, 'metadata.json'))).isFile()).toBe(true);
    } finally {
      if (claim.kind === 'acquired') await claim.lock.release();
    }
  });

  it('deletes an unreachable store whose lock was left by a dead process', async () => {
    const [uid] = await uidsOf(drop);
    const storeDir = join(workdir, uid ?? '');
    // A process that has exited: its pid is gone.
    const child = spawn(process.execPath, ['-e', '0']);
    const deadPid = await new Promise<number>((resolve) => child.once('exit', () => resolve(child.pid ?? 0)));
    await writeFile(join(storeDir, 'owner'), JSON.stringify({ ...currentOwner(), pid: deadPid, pidStartTime: null }));
    await mkdir(join(storeDir, 'lock'));
    const old = new Date(Date.now() - 60_000);
    await utimes(join(storeDir, 'lock'), old, old);
    const listed = await runCli(['gc', '--keep', keep, '--workdir', workdir]);
    expect(listed.stdout).toContain(`lock left by dead pid ${deadPid}`);
    const result = await runCli(['gc', '--keep', keep, '--workdir', workdir, '--yes']);
    expect(result.code, result.stderr).toBe(0);
    expect(await stores()).toEqual(await uidsOf(keep));
  });

  it('a kept workflow that does not load fails before anything is deleted', async () => {
    const before = await stores();
    const result = await runCli(['gc', '--keep', keep, box.path('missing.json'), '--workdir', workdir, '--yes']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `run-graph: E_WORKFLOW_READ: ${box.path('missing.json')}: cannot read workflow: no such file`,
    );
    expect(await stores()).toEqual(before);
  });

  it('refuses a directory that is not a working directory, and needs --keep', async () => {
    await mkdir(box.path('plain'));
    await writeFile(box.path('plain', 'notes.txt'), 'mine');
    const result = await runCli(['gc', '--keep', keep, '--workdir', box.path('plain'), '--yes']);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('is not a run-graph working directory');
    const noKeep = await runCli(['gc', '--workdir', workdir]);
    expect(noKeep.code).toBe(2);
    expect(noKeep.stderr).toMatch(/^run-graph: E_USAGE: gc needs at least one --keep <workflow>/);
  });
});
