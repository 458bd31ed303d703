/**
 * Published results through the real CLI: a workflow's `"publish"` section
 * puts outputs (every member of an ensemble with `[*]` and `{i}`) at paths
 * beside the workflow file, as hard links to the store's artifacts (copies
 * across file systems), replaced atomically when a later run changes them;
 * bad paths fail before anything runs; `run-graph publish` redoes it from
 * committed stores alone.
 */
import { cp, mkdir, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT, must, runCli, uidsByLabel } from '../support/cli.js';
import { createSandbox, exists, writeJson, type Sandbox } from '../support/sandbox.js';
import { storeUids } from '../support/stores.js';

/** An ensemble of two members (each doubles its input), their gather and its sum, published. */
function workflowDoc(first: number[], publish: { [path: string]: { $ref: string } }): object {
  return {
    subgraphs: {
      twice: {
        inputs: ['x'],
        outputs: { y: { $ref: 'double' } },
        nodes: [{ label: 'double', operation: 'run-graph.Multiply', input: { a: { $input: 'x' }, b: 2 } }],
      },
    },
    nodes: [
      { label: 'first', operation: 'scalems.Integer64', input: { data: first } },
      { label: 'second', operation: 'scalems.Integer64', input: { data: [4, 5, 6] } },
      { label: 'ens', map: { over: [{ $ref: 'first' }, { $ref: 'second' }], as: 'x', subgraph: 'twice' } },
      { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'ens.y' } } },
    ],
    publish,
  };
}

const PUBLISH = {
  'results/member-{i:2}/y.npy': { $ref: 'ens[*].y' },
  'results/total.npy': { $ref: 'total' },
};

/** The artifact file of a node's store (its only `.npy`). */
async function artifactOf(workdir: string, uid: string): Promise<string> {
  const [name] = (await readdir(join(workdir, uid))).filter((n) => n.endsWith('.npy'));
  if (name === undefined) throw new Error(`store ${uid} has no .npy artifact`);
  return join(workdir, uid, name);
}

describe('published results', () => {
  let box: Sandbox;
  let workflow: string;
  let workdir: string;

  beforeEach(async () => {
    box = await createSandbox();
    workflow = box.path('flow.json');
    workdir = box.path('flow.workdir');
  });
  afterEach(async () => {
    await box.cleanup();
  });

  it('puts every member and the total beside the workflow as hard links, and leaves them alone when unchanged', async () => {
    await writeJson(workflow, workflowDoc([1, 2, 3], PUBLISH));
    const uids = await uidsByLabel(workflow);
    const result = await runCli(['run', workflow]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/published results\/member-01\/y\.npy <- ens\[1\]\/double\.result \(linked\)/);
    for (const [path, label] of [
      ['results/member-00/y.npy', 'ens[0]/double'],
      ['results/member-01/y.npy', 'ens[1]/double'],
      ['results/total.npy', 'total'],
    ] as const) {
      const published = box.path(path);
      const artifact = await artifactOf(workdir, must(uids, label));
      expect(await readFile(published)).toEqual(await readFile(artifact));
      expect((await stat(published)).ino).toBe((await stat(artifact)).ino);
    }
    expect((await readdir(box.path('results'))).sort()).toEqual(['member-00', 'member-01', 'total.npy']);

    const again = await runCli(['run', workflow]);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain('published');
  });

  it('replaces a published file atomically when a later run changes it: a reader of the old one keeps it', async () => {
    await writeJson(workflow, workflowDoc([1, 2, 3], PUBLISH));
    expect((await runCli(['run', workflow])).code).toBe(0);
    const before = await readFile(box.path('results/total.npy'));
    const oldInode = (await stat(box.path('results/total.npy'))).ino;

    await writeJson(workflow, workflowDoc([10, 20, 30], PUBLISH));
    const uids = await uidsByLabel(workflow);
    const result = await runCli(['run', workflow]);
    expect(result.code, result.stderr).toBe(0);
    const after = await readFile(box.path('results/total.npy'));
    expect(after).not.toEqual(before);
    expect(after).toEqual(await readFile(await artifactOf(workdir, must(uids, 'total'))));
    expect((await stat(box.path('results/total.npy'))).ino).not.toBe(oldInode);
    // Nothing left under a temporary name.
    expect((await readdir(box.path('results'))).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('copies when the publish directory is on another file system', async () => {
    const other = '/dev/shm';
    const sameDevice = !(await exists(other)) || (await stat(other)).dev === (await stat(tmpdir())).dev;
    if (sameDevice) {
      if (process.env['CI'] === 'true') throw new Error(`${other} must be a separate file system (tmpfs) in CI`);
      console.log(`skipped: ${other} is missing or on the same file system as ${tmpdir()}, so nothing forces a copy`);
      return;
    }
    const target = join(other, `run-graph-publish-${process.pid}-${Date.now()}`);
    await mkdir(target);
    try {
      await writeJson(workflow, workflowDoc([1, 2, 3], PUBLISH));
      const uids = await uidsByLabel(workflow);
      const result = await runCli(['run', workflow, '--publish-dir', target]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/published results\/total\.npy <- total\.result \(copied\)/);
      const artifact = await artifactOf(workdir, must(uids, 'total'));
      expect(await readFile(join(target, 'results/total.npy'))).toEqual(await readFile(artifact));
      const again = await runCli(['run', workflow, '--publish-dir', target]);
      expect(again.stdout).not.toContain('published');
    } finally {
      await rm(target, { recursive: true, force: true });
    }
  });

  const badPublishes: [string, { [path: string]: { $ref: string } }, RegExp][] = [
    [
      'two outputs claim one path',
      { 'out/a.npy': { $ref: 'total' }, 'out/./a.npy': { $ref: 'first' } },
      /E_PUBLISH_CONFLICT: .*flow\.json, field 'publish\.out\/\.\/a\.npy'.*claimed by two outputs: total\.result and first\.data/,
    ],
    ['a path escapes its root', { '../outside.npy': { $ref: 'total' } }, /E_PUBLISH_PATH: .*leaves the directory/],
    ['an absolute path', { '/tmp/x.npy': { $ref: 'total' } }, /E_PUBLISH_PATH: .*must be relative/],
    [
      'a path inside the working directory',
      { 'flow.workdir/total.npy': { $ref: 'total' } },
      /E_PUBLISH_PATH: .*collides with the working directory/,
    ],
    [
      'the members without {i}',
      { 'results/y.npy': { $ref: 'ens[*].y' } },
      /E_PUBLISH_CONFLICT: .*no \{i\} to put each member/,
    ],
    [
      'a path inside another published file',
      { 'a.npy': { $ref: 'total' }, 'a.npy/b.npy': { $ref: 'first' } },
      /E_PUBLISH_CONFLICT: .*inside 'a\.npy'/,
    ],
    ['an unknown label', { 'a.npy': { $ref: 'totl' } }, /E_UNKNOWN_REFERENCE/],
  ];
  for (const [what, publish, error] of badPublishes) {
    it(`fails before anything runs when ${what}`, async () => {
      await writeJson(workflow, workflowDoc([1, 2, 3], publish));
      const result = await runCli(['run', workflow]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(error);
      expect(await exists(workdir)).toBe(false);
    });
  }

  it('fails before anything runs when a directory on the path is a symbolic link out of the root', async () => {
    const outside = await createSandbox();
    try {
      await symlink(outside.dir, box.path('results'));
      await writeJson(workflow, workflowDoc([1, 2, 3], PUBLISH));
      const result = await runCli(['run', workflow]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/E_PUBLISH_PATH: .*'results\/member-00\/y\.npy' leads outside .*symbolic link/);
      expect(await exists(workdir)).toBe(false);
      expect(await readdir(outside.dir)).toEqual([]);
    } finally {
      await outside.cleanup();
    }
  });

  it('a targeted run publishes what it ran; `publish` redoes it from committed stores and names the rest', async () => {
    await writeJson(workflow, workflowDoc([1, 2, 3], PUBLISH));
    const first = await runCli(['run', workflow, 'ens[0]']);
    expect(first.code, first.stderr).toBe(0);
    expect(await exists(box.path('results/member-00/y.npy'))).toBe(true);
    expect(await exists(box.path('results/member-01/y.npy'))).toBe(false);
    expect(await exists(box.path('results/total.npy'))).toBe(false);

    await rm(box.path('results'), { recursive: true });
    const stores = await storeUids(workdir);
    const publish = await runCli(['publish', workflow]);
    expect(publish.code).toBe(1);
    expect(publish.stdout).toMatch(/linked +results\/member-00\/y\.npy <- ens\[0\]\/double\.result/);
    expect(publish.stdout).toMatch(
      /not published +results\/member-01\/y\.npy <- ens\[1\]\/double\.result: its node is not run yet/,
    );
    expect(publish.stdout).toMatch(/not published +results\/total\.npy/);
    expect(publish.stdout).toContain('2 of 3 outputs not published');
    expect(await exists(box.path('results/member-00/y.npy'))).toBe(true);
    expect(await storeUids(workdir)).toEqual(stores);

    expect((await runCli(['run', workflow])).code).toBe(0);
    await rm(box.path('results'), { recursive: true });
    const all = await runCli(['publish', workflow, '--json']);
    expect(all.code, all.stderr).toBe(0);
    const parsed = JSON.parse(all.stdout) as { published: { path: string; outcome: string }[] };
    expect(parsed.published.map((p) => p.outcome)).toEqual(['linked', 'linked', 'linked']);
    expect(await exists(box.path('results/total.npy'))).toBe(true);
  });

  it("runs the README's example: each member's outputs at results/member-NN/, the README showing its section", async () => {
    const example = await readFile(join(REPO_ROOT, 'examples', 'published-ensemble.json'), 'utf8');
    const section = /^ {2}"publish": \{\n[\s\S]*?^ {2}\}/m.exec(example)?.[0];
    expect(section).toBeDefined();
    const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
    expect(readme).toContain((section as string).replace(/^ {2}/gm, ''));

    await cp(join(REPO_ROOT, 'examples', 'scripts'), box.path('scripts'), { recursive: true });
    const copy = await box.write('published-ensemble.json', example);
    const result = await runCli(['run', copy], { timeoutMs: 60_000 });
    expect(result.code, result.stderr).toBe(0);
    for (const member of ['00', '01', '02'])
      expect((await readdir(box.path('results', `member-${member}`))).sort()).toEqual(['msd.npy', 'positions.npy']);
    const header = (await readFile(box.path('results/member-02/msd.npy'))).subarray(0, 6).toString('latin1');
    expect(header).toBe('\x93NUMPY');
  });
});
