/**
 * Numbers kept exactly, through the built CLI: a workflow file with float
 * literals spelled `1.0` and `1`, and the int64 extremes, runs into stores
 * under SCALE-MS's uids; `metadata.json` holds the record Python hashes to
 * that uid; the `.npy` artifacts read back equal in numpy; a no-op resume
 * reuses everything; and a SCALE-MS document carrying those uids imports.
 */
import { spawnSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

// SCALE-MS's uids of scalems.Float64 [[1.0, 2.5]] and scalems.Integer64 at the int64 extremes.
const FLOATS_UID = '8a93d11a535791d6c3fcc5a1cc7994ae25a692fa544d779a73aadf1ece3fe66c';
const EXTREMES_UID = '9b3c06e5eed92288553b30d91ceb1dcf2b5d1dc608566e7f1577e2d817e95cc8';

// Raw text: JSON.stringify could not write these literals as a file spells them.
const WORKFLOW = `{
  "nodes": [
    { "label": "floats", "operation": "scalems.Float64", "input": { "data": [[1.0, 2.5]] } },
    { "label": "ints_as_floats", "operation": "scalems.Float64", "input": { "data": [[1, 2.5]] } },
    { "label": "extremes", "operation": "scalems.Integer64", "input": { "data": [[9223372036854775807, -9223372036854775808]] } },
    { "label": "same", "operation": "run-graph.Add", "input": { "a": { "$ref": "extremes" }, "b": [[0, 0]] } }
  ]
}
`;

/** Python's view of a store: the uid its metadata's record hashes to, and its artifact as a list. */
function pythonReads(storeDir: string, artifact: string): { uid: string; values: unknown } {
  const script = [
    'import hashlib, json, sys, numpy',
    'store, artifact = sys.argv[1], sys.argv[2]',
    'record = json.load(open(store + "/metadata.json"))["record"]',
    'text = json.dumps(record, separators=(",", ":"), sort_keys=True, ensure_ascii=True)',
    // Integers as text: JSON.parse would round those past 2^53.
    'exact = lambda v: [exact(x) for x in v] if isinstance(v, list) else str(v) if isinstance(v, int) else v',
    'print(json.dumps({"uid": hashlib.sha256(text.encode()).hexdigest(), "values": exact(numpy.load(store + "/" + artifact).tolist())}))',
  ].join('\n');
  const result = spawnSync('python3', ['-c', script, storeDir, artifact], { encoding: 'utf8' });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as { uid: string; values: unknown };
}

let box: Sandbox;

async function write(name: string, text: string): Promise<string> {
  const path = box.path(name);
  await writeFile(path, text);
  return path;
}

beforeAll(async () => {
  box = await createSandbox();
});
afterAll(async () => {
  await box.cleanup();
});

describe('numbers through run-graph run', () => {
  it('stores Float64 [[1.0, 2.5]] (however spelled) and Integer64 at the int64 extremes under SCALE-MS uids', async () => {
    const file = await write('numbers.json', WORKFLOW);
    const workdir = box.path('wd');
    const first = await runCli(['run', file, '--workdir', workdir]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`floats (${FLOATS_UID.slice(0, 12)})`);
    expect(first.stdout).toContain(`ints_as_floats (${FLOATS_UID.slice(0, 12)})`);
    expect(first.stdout).toContain(`extremes (${EXTREMES_UID.slice(0, 12)})`);
    const stores = (await readdir(workdir)).filter((name) => /^[0-9a-f]{64}$/.test(name));
    expect(stores).toContain(FLOATS_UID);
    expect(stores).toContain(EXTREMES_UID);
    expect(stores).toHaveLength(3);

    const metadata = await readFile(join(workdir, EXTREMES_UID, 'metadata.json'), 'utf8');
    expect(metadata).toContain('9223372036854775807');
    expect(metadata).toContain('-9223372036854775808');
    expect(await readFile(join(workdir, FLOATS_UID, 'metadata.json'), 'utf8')).toMatch(/1\.0,\s*2\.5/);

    const again = await runCli(['run', file, '--workdir', workdir]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('0 built, 4 reused');
  });

  it.skipIf(!hasNumpy)(
    'numpy reads the exact values back, and Python hashes each stored record to its uid',
    async () => {
      const workdir = box.path('wd');
      const extremes = pythonReads(join(workdir, EXTREMES_UID), 'data.npy');
      expect(extremes).toEqual({ uid: EXTREMES_UID, values: [['9223372036854775807', '-9223372036854775808']] });
      const floats = pythonReads(join(workdir, FLOATS_UID), 'data.npy');
      expect(floats).toEqual({ uid: FLOATS_UID, values: [[1, 2.5]] });
      const sum =
        (await readdir(workdir)).find(
          (name) => /^[0-9a-f]{64}$/.test(name) && name !== FLOATS_UID && name !== EXTREMES_UID,
        ) ?? '';
      const added = pythonReads(join(workdir, sum), 'result.npy');
      expect(added).toEqual({ uid: sum, values: [['9223372036854775807', '-9223372036854775808']] });
    },
  );

  it('validate prints the same uids without writing anything', async () => {
    const result = await runCli(['validate', box.path('numbers.json'), '--json']);
    expect(result.code, result.stderr).toBe(0);
    const uids = (JSON.parse(result.stdout) as { nodes: { label: string; uid: string }[] }).nodes.map((n) => [
      n.label,
      n.uid,
    ]);
    expect(uids).toContainEqual(['floats', FLOATS_UID]);
    expect(uids).toContainEqual(['ints_as_floats', FLOATS_UID]);
    expect(uids).toContainEqual(['extremes', EXTREMES_UID]);
  });
});

const DOCUMENT = (extremesUid: string): string => `{
  "version": "scalems_workflow_1",
  "types": {},
  "referents": [
    { "uid": "${FLOATS_UID}", "label": "floats", "type": ["scalems", "Float64"], "data": [[1.0, 2.5]] },
    { "uid": "${extremesUid}", "label": "extremes", "type": ["scalems", "Integer64"], "data": [[9223372036854775807, -9223372036854775808]] }
  ]
}
`;

describe('numbers through run-graph import', () => {
  it('imports a SCALE-MS document carrying SCALE-MS uids, keeping its numbers as written', async () => {
    const doc = await write('scalems.json', DOCUMENT(EXTREMES_UID));
    const out = box.path('imported.json');
    const result = await runCli(['import', doc, '--output', out]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('2 referents; every declared uid matches');
    const text = await readFile(out, 'utf8');
    expect(text).toMatch(/1\.0,\s*2\.5/);
    expect(text).toMatch(/9223372036854775807,\s*-9223372036854775808/);
    const validated = await runCli(['validate', out, '--json']);
    expect(validated.code, validated.stderr).toBe(0);
    expect((JSON.parse(validated.stdout) as { nodes: { uid: string }[] }).nodes.map((n) => n.uid)).toEqual([
      FLOATS_UID,
      EXTREMES_UID,
    ]);
  });

  it('a mismatching uid is E_UID_MISMATCH quoting the record with its numbers as in the file', async () => {
    const doc = await write('wrong.json', DOCUMENT('f'.repeat(64)));
    const result = await runCli(['import', doc, '--output', box.path('never.json')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `E_UID_MISMATCH: ${doc}, node 'extremes', field 'referents[1].uid': declares uid ${'f'.repeat(64)}, but its record hashes to ${EXTREMES_UID}`,
    );
    expect(result.stderr).toContain('"data":[[9223372036854775807,-9223372036854775808]]');
    expect(await readdir(box.dir)).not.toContain('never.json');
  });
});
