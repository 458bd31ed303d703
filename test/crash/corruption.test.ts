// A committed artifact that was truncated or had bytes flipped is detected
// (truncation by the default size check, flipped bytes by --verify), its
// store is moved to quarantine/ (never deleted), the node is rebuilt, and the
// warning names the file.
import { readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readStoreMetadata } from '../../src/store/metadata.js';
import { auditWorkdir } from '../../torture/audit.js';
import { loadGraph } from '../../src/workflow/load-graph.js';
import { requireBuiltCli } from '../support/cli.js';
import { createSandbox } from '../support/sandbox.js';
import { runCliAttempt, writeTortureWorkflow } from '../support/torture.js';

let dir: string;
let cleanup: () => Promise<void>;
let workflow: { file: string; log: string };
let workdir: string;

beforeEach(async () => {
  requireBuiltCli();
  ({ dir, cleanup } = await createSandbox());
  workflow = await writeTortureWorkflow(dir);
  workdir = join(dir, 'work');
  const first = await runCliAttempt(['run', workflow.file, '--workdir', workdir]);
  expect(first.code, first.stderr).toBe(0);
});
afterEach(async () => cleanup());

async function artifactOf(label: string): Promise<{ uid: string; path: string; bytes: Buffer }> {
  const graph = await loadGraph(workflow.file);
  const node = graph.byLabel.get(label);
  if (node === undefined) throw new Error(`no node ${label}`);
  const metadata = await readStoreMetadata(join(workdir, node.uid));
  if (metadata?.state !== 'committed') throw new Error(`${label} is not committed`);
  const artifact = Object.values(metadata.artifacts)[0];
  if (artifact === undefined) throw new Error(`${label} has no artifact`);
  const path = join(workdir, node.uid, artifact.path);
  return { uid: node.uid, path, bytes: await readFile(path) };
}

function executions(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((line) => line.includes('"type":"node-started"'))
    .map((line) => (JSON.parse(line) as { label: string }).label);
}

describe('corrupted artifacts', () => {
  it('a truncated artifact is caught by the default size check, quarantined and rebuilt', async () => {
    const { uid, path, bytes } = await artifactOf('add1_2');
    await truncate(path, bytes.length - 8);
    const run = await runCliAttempt(['run', workflow.file, '--workdir', workdir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const quarantined = run.stdout.split('\n').find((line) => line.includes('"type":"store-quarantined"'));
    expect(quarantined).toContain('result.npy');
    expect(executions(run.stdout)).toEqual(['add1_2']);
    expect((await readFile(path)).equals(bytes)).toBe(true);
    const kept = await readdir(join(workdir, 'quarantine'));
    expect(kept.length).toBe(1);
    expect(kept[0]?.startsWith(uid)).toBe(true);
    expect(await auditWorkdir(workdir)).toEqual([]);
  });

  it('flipped bytes pass the size check but not --verify, which rebuilds the node', async () => {
    const { path, bytes } = await artifactOf('source2');
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 0xff;
    await writeFile(path, flipped);

    const cheap = await runCliAttempt(['run', workflow.file, '--workdir', workdir, '--json']);
    expect(executions(cheap.stdout)).toEqual([]);

    const verified = await runCliAttempt(['run', workflow.file, '--workdir', workdir, '--json', '--verify']);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain('does not match its sha256');
    expect(executions(verified.stdout)).toEqual(['source2']);
    expect((await readFile(path)).equals(bytes)).toBe(true);
  });
});
