// Large literals through the CLI: a node whose record holds a large literal array keeps it once, in
// record.json (canonical text, sha256 = uid), with only a reference in metadata.json; it resumes by reuse,
// its uid is unchanged; and a literal too large for the heap is E_TOO_LARGE naming the file, node and field
// before anything is written. Small records (the quickstart, SCALE-MS's reference records) stay inline,
// with their uids.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO_ROOT, runCli } from '../support/cli.js';
import { createSandbox, exists, type Sandbox } from '../support/sandbox.js';

const N = 200_000;
let box: Sandbox;
let workflow: string;
let uid: string;

function literalWorkflow(n: number): string {
  const data = Array.from({ length: n }, (_, i) => (i * 0.618033988749895) % 1);
  return JSON.stringify({
    nodes: [
      { label: 'big', operation: 'scalems.Float64', input: { data } },
      { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'big' } } },
    ],
  });
}

async function uidsOf(path: string): Promise<Map<string, string>> {
  const result = await runCli(['validate', path, '--json']);
  expect(result.code, result.stderr).toBe(0);
  const { nodes } = JSON.parse(result.stdout) as { nodes: { label: string; uid: string }[] };
  return new Map(nodes.map((n) => [n.label, n.uid]));
}

beforeAll(async () => {
  box = await createSandbox();
  workflow = box.path('big.json');
  await writeFile(workflow, literalWorkflow(N));
  uid = (await uidsOf(workflow)).get('big') ?? '';
  const run = await runCli(['run', workflow, '--workdir', box.path('wd')]);
  expect(run.code, run.stderr).toBe(0);
});
afterAll(async () => {
  await box.cleanup();
});

describe('a large literal', () => {
  it('is stored once: record.json holds its canonical text, metadata.json a reference', async () => {
    const store = box.path('wd', uid);
    const metadataText = await readFile(join(store, 'metadata.json'), 'utf8');
    const metadata = JSON.parse(metadataText) as { record?: unknown; recordFile?: { path: string; size: number } };
    expect(metadata.record).toBeUndefined();
    expect(metadata.recordFile?.path).toBe('record.json');
    expect(metadataText.length).toBeLessThan(2000);
    const record = await readFile(join(store, 'record.json'));
    expect(metadata.recordFile?.size).toBe(record.length);
    expect(createHash('sha256').update(record).digest('hex')).toBe(uid);
    // Beside the .npy of N float64s, the record is the only other copy of the data.
    expect((await stat(join(store, 'data.npy'))).size).toBe(128 + 8 * N);
  });

  it('resumes by reuse, also with --verify, and inspect and explain read the record', async () => {
    const again = await runCli(['run', workflow, '--workdir', box.path('wd'), '--json', '--verify']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('"reused":2');
    const inspect = await runCli(['inspect', 'big', '--workflow', workflow, '--workdir', box.path('wd'), '--json']);
    expect(inspect.code, inspect.stderr).toBe(0);
    const report = JSON.parse(inspect.stdout) as { record: { input: { data: unknown[] } } };
    expect(report.record.input.data).toHaveLength(N);
    // A changed literal is traced to the record kept in record.json.
    const changed = box.path('changed.json');
    await writeFile(changed, (await readFile(workflow, 'utf8')).replace('"data":[0,', '"data":[0.5,'));
    const explain = await runCli(['explain', changed, 'big', '--workdir', box.path('wd')]);
    expect(explain.code, explain.stderr).toBe(0);
    expect(explain.stdout).toMatch(/input\.data\[0\] changed: 0\.0 -> 0\.5|input\.data.*changed/);
  });

  it('a damaged record.json is caught before reuse, and the store rebuilt', async () => {
    const wd = box.path('wd-damaged');
    expect((await runCli(['run', workflow, '--workdir', wd])).code).toBe(0);
    await truncate(join(wd, uid, 'record.json'), 100);
    const rerun = await runCli(['run', workflow, '--workdir', wd, '--json']);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toContain('"type":"store-quarantined"');
    expect(rerun.stdout).toContain('"committed":1');
  });

  it('too large for the heap: E_TOO_LARGE naming file, node and field, nothing written', async () => {
    // A small heap stands for a huge literal: the limit is derived from the heap limit.
    const path = box.path('huge.json');
    await writeFile(
      path,
      JSON.stringify({
        nodes: [
          { label: 'small', operation: 'scalems.Integer64', input: { data: [1] } },
          { label: 'huge', operation: 'scalems.Integer64', input: { data: new Array<number>(1_000_000).fill(7) } },
        ],
      }),
    );
    const result = spawnSync(process.execPath, [CLI, 'run', path, '--workdir', box.path('wd-huge')], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, CI: '1', NODE_OPTIONS: '--max-old-space-size=96' },
    });
    expect(result.status, result.stderr).toBe(2);
    expect(result.stderr).toMatch(
      /^run-graph: E_TOO_LARGE: \S*huge\.json, node 'huge', field 'input\.data': the literal array at input\.data has 1000000 elements; at most \d+ fit in memory here \(hint: the heap limit is \d+ MiB/,
    );
    expect(await exists(box.path('wd-huge'))).toBe(false);
  });
});

describe('uids are unchanged', () => {
  it("the quickstart's uids, and its stores' records inline as before", async () => {
    const uids = await uidsOf(join(REPO_ROOT, 'examples', 'quickstart.json'));
    expect([...uids.values()].sort()).toEqual([
      '266bb4e33dfb7be89c04735cebe31cae8d7714243ccb9d137a1a37a46a645365',
      '794525a46410bd9b81f48046ee00cf4523cbddd220707047ff0184691f0bd65a',
      '97f5218c419327408def44afb075326848251b280be800ff105e7bd210e8e824',
      'eaaebf1b519884ee36cec2f30d386113d4803a450b14b666f73686f98e0202f7',
    ]);
    const run = await runCli(['run', join(REPO_ROOT, 'examples', 'quickstart.json'), '--workdir', box.path('qs')]);
    expect(run.code, run.stderr).toBe(0);
    for (const id of uids.values()) {
      const metadata = JSON.parse(await readFile(box.path('qs', id, 'metadata.json'), 'utf8')) as { record?: unknown };
      expect(metadata.record).toBeDefined();
      expect(await exists(box.path('qs', id, 'record.json'))).toBe(false);
    }
  });

  it("SCALE-MS's reference uids", async () => {
    const path = box.path('refs.json');
    await writeFile(
      path,
      '{"nodes": [' +
        '{"label": "m", "operation": "scalems.Integer64", "input": {"data": [[1, 2], [3, 4]]}},' +
        '{"label": "f", "operation": "scalems.Float64", "input": {"data": [[1.0, 2.5]]}},' +
        '{"label": "x", "operation": "scalems.Integer64", "input": {"data": [[9223372036854775807, -9223372036854775808]]}}]}',
    );
    const uids = await uidsOf(path);
    expect(uids.get('m')).toBe('266bb4e33dfb7be89c04735cebe31cae8d7714243ccb9d137a1a37a46a645365');
    expect(uids.get('f')).toBe('8a93d11a535791d6c3fcc5a1cc7994ae25a692fa544d779a73aadf1ece3fe66c');
    expect(uids.get('x')).toBe('9b3c06e5eed92288553b30d91ceb1dcf2b5d1dc608566e7f1577e2d817e95cc8');
  });
});
