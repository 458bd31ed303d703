// explain, inspect and graph on the quickstart-like workflow: plain-word
// reasons for reuse and re-runs (input, file content, incomplete store,
// empty working directory), store details with previews, picture sources;
// and their errors, each naming the thing and where.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { copyExample } from '../support/workflows.js';

let box: Sandbox;
let workflow: string;
let workdir: string;

const spec = (data: number[][], script: string): object => ({
  nodes: [
    { label: 'matrix', operation: 'scalems.Integer64', input: { data } },
    { label: 'doubled', operation: 'run-graph.Add', input: { a: { $ref: 'matrix' }, b: { $ref: 'matrix' } } },
    { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'doubled' } } },
    {
      label: 'report',
      operation: 'scalems.Subprocess',
      input: { argv: ['sh', { $file: script }, { $ref: 'total' }], outputFiles: ['report.txt'] },
    },
  ],
});

beforeAll(async () => {
  box = await createSandbox();
  await box.write('report.sh', 'echo "total is in $1" > report.txt\n');
  workflow = await box.write(
    'wf.json',
    spec(
      [
        [1, 2],
        [3, 4],
      ],
      'report.sh',
    ),
  );
  workdir = box.path('wf.workdir');
  const result = await runCli(['run', workflow]);
  expect(result.code, result.stderr).toBe(0);
});
afterAll(async () => {
  await box.cleanup();
});

describe('explain', () => {
  it('says a committed node is reused, and why', async () => {
    const result = await runCli(['explain', workflow, 'doubled']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^doubled \(uid [0-9a-f]{12}, run-graph\.Add 1\): reused\./);
    expect(result.stdout).toContain('Its record is unchanged');
    expect(result.stdout).toContain('Ledger: made by pid');
  });

  it('traces a changed input through every descendant, each cause once', async () => {
    const changed = await box.write(
      'changed.json',
      spec(
        [
          [1, 2],
          [3, 5],
        ],
        'report.sh',
      ),
    );
    const result = await runCli(['explain', changed, 'total', '--workdir', workdir]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('total (uid ');
    expect(result.stdout).toContain('- input.array: upstream uid changed');
    expect(result.stdout).toContain("because 'doubled' changed:");
    expect(result.stdout).toContain('- input.data[1][1] changed: 4 -> 5');
    expect(result.stdout).toContain("because 'matrix' changed (as above)");
    const json = JSON.parse((await runCli(['explain', changed, 'matrix', '--workdir', workdir, '--json'])).stdout) as {
      verdict: string;
      closest: { differences: unknown[] };
    };
    expect(json.verdict).toBe('will-run');
    expect(json.closest.differences).toEqual([{ kind: 'input-changed', field: 'input.data[1][1]', from: 4, to: 5 }]);
  });

  it('says when a file input changed', async () => {
    await box.write('report2.sh', 'echo "the total is in $1" > report.txt\n');
    const changed = await box.write(
      'script.json',
      spec(
        [
          [1, 2],
          [3, 4],
        ],
        'report2.sh',
      ),
    );
    const result = await runCli(['explain', changed, 'report', '--workdir', workdir]);
    expect(result.stdout).toMatch(
      /- input\.argv\[1\]: the file changed \(content sha256 [0-9a-f]{12} -> content sha256 [0-9a-f]{12}\)/,
    );
  });

  it('says when a store is incomplete, and when the working directory is empty', async () => {
    const changed = await box.write('seven.json', spec([[7]], 'report.sh'));
    const empty = await runCli(['explain', changed, 'matrix', '--workdir', box.path('nowhere')]);
    expect(empty.stdout).toContain('holds no stores yet');
    const fresh = await runCli(['explain', changed, 'matrix', '--workdir', workdir]);
    expect(fresh.stdout).toContain('- input.data changed: [[1,2],[3,4]] -> [[7]]');
    const validated = JSON.parse((await runCli(['validate', changed, '--json'])).stdout) as {
      nodes: { label: string; uid: string }[];
    };
    const uid = validated.nodes.find((n) => n.label === 'matrix')?.uid ?? '';
    await mkdir(join(workdir, uid));
    await writeFile(
      join(workdir, uid, 'metadata.json'),
      JSON.stringify({
        format: 'run-graph-store/1',
        uid,
        record: {},
        operation: { namespace: 'scalems', name: 'Integer64', version: null },
        createdAt: new Date().toISOString(),
        state: 'created',
      }),
    );
    const incomplete = await runCli(['explain', changed, 'matrix', '--workdir', workdir]);
    expect(incomplete.stdout).toContain('Its store exists but was never committed');
    // A store with a malformed record is skipped, not a crash, when others look for prior stores.
    const status = await runCli([
      'status',
      await box.write('nine.json', spec([[9]], 'report.sh')),
      '--workdir',
      workdir,
    ]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/matrix +[0-9a-f]{12} +not started/);
  });

  it('an unknown label is an error naming the workflow and suggesting the near one', async () => {
    const result = await runCli(['explain', workflow, 'totl']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `run-graph: E_UNKNOWN_NODE: ${workflow}: no node labelled 'totl' in the workflow (hint: did you mean 'total'?)\n`,
    );
  });
});

describe('inspect', () => {
  it('shows operation, version, state, timings and artifacts with previews, by label or uid prefix', async () => {
    const byLabel = await runCli(['inspect', 'doubled', '--workflow', workflow]);
    expect(byLabel.code, byLabel.stderr).toBe(0);
    expect(byLabel.stdout).toMatch(/label +doubled\noperation +run-graph\.Add\nversion +1\nstate +committed/);
    expect(byLabel.stdout).toMatch(/committed +\S+ \(ran [\d.]+ (ms|s|min)/);
    expect(byLabel.stdout).toMatch(/result +int64 \[2, 2\], 160 B, result\.npy: \[\[2,4\],\[6,8\]\]/);
    const uid = /uid +([0-9a-f]{64})/.exec(byLabel.stdout)?.[1] ?? '';
    const byPrefix = await runCli(['inspect', uid.slice(0, 10), '--workdir', workdir, '--json']);
    expect(byPrefix.code, byPrefix.stderr).toBe(0);
    const report = JSON.parse(byPrefix.stdout) as {
      uid: string;
      state: string;
      artifacts: { output: string; dtype: string; shape: number[]; preview: string }[];
      ledger: unknown[];
    };
    expect(report).toMatchObject({
      uid,
      state: 'committed',
      artifacts: [{ output: 'result', dtype: 'int64', shape: [2, 2], preview: '[[2,4],[6,8]]' }],
    });
    expect(report.ledger).toHaveLength(1);
    const text = await runCli(['inspect', 'report', '--workflow', workflow]);
    expect(text.stdout).toMatch(/report\.txt +file, \d+ B, report\.txt: total is in \//);
    expect(text.stdout).toMatch(/exitCode +json, 2 B, exitCode\.json: 0/);
  });

  it('shows a node not started yet by its label', async () => {
    const changed = await box.write('eight.json', spec([[8]], 'report.sh'));
    const result = await runCli(['inspect', 'matrix', '--workflow', changed, '--workdir', workdir]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/state +not started/);
  });

  it('errors name the target and where it was looked for', async () => {
    const unknown = await runCli(['inspect', 'nosuch', '--workflow', workflow]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      `E_UNKNOWN_NODE: ${workflow}: 'nosuch' is neither a label of the workflow nor the uid of a store in ${workdir}`,
    );
    const missing = await runCli(['inspect', 'a'.repeat(64), '--workdir', workdir]);
    expect(missing.stderr).toContain(`no store ${'a'.repeat(64)} in ${workdir}`);
    const noWorkdir = await runCli(['inspect', 'doubled']);
    expect(noWorkdir.code).toBe(2);
    expect(noWorkdir.stderr).toContain('E_USAGE: inspect doubled: no working directory');
  });
});

describe('graph', () => {
  it('prints Mermaid with states, and DOT', async () => {
    const mermaid = await runCli(['graph', workflow]);
    expect(mermaid.code, mermaid.stderr).toBe(0);
    expect(mermaid.stdout.split('\n')[0]).toBe('flowchart LR');
    expect(mermaid.stdout).toContain('n0["matrix<br/>scalems.Integer64"]');
    expect(mermaid.stdout).toContain('n0 -->|"a"| n1');
    expect(mermaid.stdout).toContain('n2 -->|"argv[2]"| n3');
    expect(mermaid.stdout).toContain('class n0,n1,n2,n3 committed');
    const dot = await runCli(['graph', workflow, '--format', 'dot']);
    expect(dot.stdout).toMatch(/^digraph workflow \{/);
    expect(dot.stdout).toContain('"matrix" -> "doubled" [label="a"];');
    expect(dot.stdout).toContain('fillcolor="#c8e6c9"');
  });

  it('draws plain boxes without a working directory, and refuses an unknown format', async () => {
    // The example's copy: beside the checkout's, a user's run may have left its default working directory.
    const plain = await runCli(['graph', await copyExample('quickstart.json', box)]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).not.toContain('classDef');
    const bad = await runCli(['graph', workflow, '--format', 'png']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("argument 'png' is invalid. Allowed choices are mermaid, dot.");
  });
});
