/**
 * `run-graph status` reads only: before a run every node is "not started"
 * and no working directory appears; after a run every node is "committed";
 * `--json` is one parseable document with counts. (The "failed" state of
 * a failed node is covered in failure.test.ts and retries.test.ts.)
 */
import { readdir } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, uidsByLabel } from '../support/cli.js';
import { createSandbox, writeJson, type Sandbox } from '../support/sandbox.js';
import { loggedNode, readLog, ref } from '../support/workflows.js';

interface StatusJson {
  workdir: string;
  nodes: { label: string; uid: string; operation: string; state: string }[];
  counts: {
    committed: number;
    'not-started': number;
    failed: number;
    incomplete: number;
    running: number;
    total: number;
  };
}

describe('status', () => {
  let box: Sandbox;
  let workflow: string;
  let log: string;

  beforeEach(async () => {
    box = await createSandbox();
    workflow = box.path('wf.json');
    log = box.path('executions.log');
    await writeJson(workflow, {
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
        { label: 'total', operation: 'run-graph.Sum', input: { array: ref('matrix'), axis: 0 } },
        loggedNode('step', log, { inputs: ['total'] }),
      ],
    });
  });
  afterEach(async () => {
    await box.cleanup();
  });

  it('shows every node as not started before any run, and creates no working directory', async () => {
    const before = (await readdir(box.dir)).sort();
    const text = await runCli(['status', workflow, '--workdir', box.path('wd')]);
    expect(text.code).toBe(0);
    expect(text.stderr).toBe('');
    for (const label of ['matrix', 'total', 'step'])
      expect(text.stdout).toMatch(new RegExp(`^${label} +[0-9a-f]{12} +not started$`, 'm'));
    expect(text.stdout).toContain('3 nodes: 0 committed, 3 not started, 0 failed, 0 incomplete, 0 running');

    const json = await runCli(['status', workflow, '--json']);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as StatusJson;
    expect(report.workdir).toBe(box.path('wf.workdir'));
    expect(report.counts).toEqual({ committed: 0, 'not-started': 3, failed: 0, incomplete: 0, running: 0, total: 3 });
    expect(report.nodes.every((n) => n.state === 'not-started')).toBe(true);
    const uids = await uidsByLabel(workflow);
    for (const node of report.nodes) expect(node.uid).toBe(uids.get(node.label));

    // Neither the --workdir given nor the default one beside the workflow was created.
    expect((await readdir(box.dir)).sort()).toEqual(before);
    expect(await readLog(log)).toEqual([]);
  });

  it('shows every node as committed after a run, without changing anything', async () => {
    const workdir = box.path('wd');
    expect((await runCli(['run', workflow, '--workdir', workdir])).code).toBe(0);
    const listing = (await readdir(workdir)).sort();

    const text = await runCli(['status', workflow, '--workdir', workdir]);
    expect(text.code).toBe(0);
    for (const label of ['matrix', 'total', 'step'])
      expect(text.stdout).toMatch(new RegExp(`^${label} +[0-9a-f]{12} +committed$`, 'm'));
    expect(text.stdout).toContain('3 nodes: 3 committed, 0 not started, 0 failed, 0 incomplete, 0 running');

    const json = await runCli(['status', workflow, '--workdir', workdir, '--json']);
    const report = JSON.parse(json.stdout) as StatusJson;
    expect(report.counts).toEqual({ committed: 3, 'not-started': 0, failed: 0, incomplete: 0, running: 0, total: 3 });
    expect(report.nodes.map((n) => [n.label, n.state]).sort()).toEqual([
      ['matrix', 'committed'],
      ['step', 'committed'],
      ['total', 'committed'],
    ]);
    expect((await readdir(workdir)).sort()).toEqual(listing);
    expect(await readLog(log)).toEqual(['step']);
  });

  it('refuses a bad workflow with exit code 2', async () => {
    const bad = box.path('bad.json');
    await writeJson(bad, { nodes: [{ label: 'total', operation: 'run-graph.Sum', input: { array: ref('nowhere') } }] });
    const result = await runCli(['status', bad]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("node 'total'");
    expect(result.stderr).toContain("field 'input.array'");
  });
});
