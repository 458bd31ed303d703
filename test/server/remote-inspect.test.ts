/**
 * `run-graph inspect --remote URL`: the built CLI inspects nodes of a real
 * server (a `run-graph serve` process, and servers started from the
 * library) and prints what a local inspect of the same working directory
 * prints, the store's place aside: by label of the served workflow or of a
 * local one, by uid and uid prefix, with a token, for committed,
 * incomplete and not-started nodes; and its errors.
 */
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Uid } from '../../src/identity/fingerprint.js';
import type { InspectReport } from '../../src/views/inspect.js';
import { builtinRegistry } from '../../src/operations/registry.js';
import { startServer, type RunGraphServer } from '../../src/server/server.js';
import { buildGraph, type ConcreteGraph } from '../../src/workflow/graph.js';
import type { WorkflowSpec } from '../../src/workflow/load.js';
import { startCli, type CliProcess } from '../support/cli.js';
import { createSandbox, writeJson, type Sandbox } from '../support/sandbox.js';
import { runWorkflow, SMALL_WORKFLOW } from '../support/server.js';

const TOKEN = 'remote-inspect-token-0123456789';
/** A hand-made store that was started and never committed. */
const INCOMPLETE_UID = 'c'.repeat(64) as Uid;

const SPEC: WorkflowSpec = {
  nodes: [
    ...SMALL_WORKFLOW.nodes,
    {
      label: 'note',
      operation: 'scalems.Subprocess',
      input: { argv: ['sh', '-c', 'echo hello from the store > note.txt'], outputFiles: ['note.txt'] },
    },
  ],
};
/** The same workflow and one node more, never run. */
const MORE: WorkflowSpec = {
  nodes: [...SPEC.nodes, { label: 'extra', operation: 'scalems.Float64', input: { data: [42] } }],
};

let sandbox: Sandbox;
let workdir: string;
let graph: ConcreteGraph;
let served: CliProcess;
let servedUrl: string;
let guarded: RunGraphServer;
let planning: RunGraphServer;

async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startCli(args, { cwd: sandbox.dir, limitMs: 30_000 });
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

async function report(args: string[]): Promise<InspectReport> {
  const result = await cli([...args, '--json']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as InspectReport;
}

function uidOf(label: string): Uid {
  const node = graph.byLabel.get(label);
  if (node === undefined) throw new Error(`no ${label}`);
  return node.uid;
}

/** A remote report is the local one with the node's URL as its store. */
function expectSameReport(remote: InspectReport, local: InspectReport, url: string): void {
  expect(remote.storeDir).toBe(`${url}/v1/nodes/${local.uid}`);
  expect(local.storeDir).toBe(join(workdir, local.uid));
  expect({ ...remote, storeDir: 'x' }).toEqual({ ...local, storeDir: 'x' });
}

beforeAll(async () => {
  sandbox = await createSandbox();
  workdir = sandbox.path('small.workdir');
  await writeFile(sandbox.path('small.json'), JSON.stringify(SPEC));
  await writeFile(sandbox.path('more.json'), JSON.stringify(MORE));
  graph = await runWorkflow(SPEC, sandbox.dir, workdir);
  // An incomplete store: a committed one's record under another uid, its metadata back to `created`.
  await cp(join(workdir, uidOf('matrix')), join(workdir, INCOMPLETE_UID), { recursive: true });
  const metadata = JSON.parse(await readFile(join(workdir, INCOMPLETE_UID, 'metadata.json'), 'utf8')) as {
    [key: string]: unknown;
  };
  for (const key of ['committedAt', 'durationMs', 'artifacts']) delete metadata[key];
  await writeJson(join(workdir, INCOMPLETE_UID, 'metadata.json'), {
    ...metadata,
    uid: INCOMPLETE_UID,
    state: 'created',
  });

  served = startCli(['serve', 'small.json', '--port', '0', '--json'], { cwd: sandbox.dir, limitMs: 120_000 });
  servedUrl = (JSON.parse((await served.waitFor(/\{"type":"listening".*\}/, 15_000))[0]) as { url: string }).url;
  guarded = await startServer({ workdir, port: 0, token: TOKEN });
  const more = await buildGraph(MORE, {
    registry: builtinRegistry(),
    baseDir: sandbox.dir,
    file: sandbox.path('more.json'),
  });
  planning = await startServer({ workdir, graph: more, port: 0 });
});

afterAll(async () => {
  await served?.stop();
  await guarded?.close();
  await planning?.close();
  await sandbox?.cleanup();
});

describe('inspect --remote', () => {
  it('reports a committed node by a label of the served workflow as a local inspect does', async () => {
    for (const label of ['total', 'doubled', 'note']) {
      const remote = await report(['inspect', label, '--remote', servedUrl]);
      const local = await report(['inspect', label, '--workflow', 'small.json']);
      expect(local).toMatchObject({ uid: uidOf(label), labels: [label], state: 'committed' });
      expect(local.ledger.length).toBeGreaterThan(0);
      expect(local.artifacts.length).toBeGreaterThan(0);
      expectSameReport(remote, local, servedUrl);
    }
    // The subprocess's text file is previewed from its first bytes, fetched as a byte range.
    const note = await report(['inspect', 'note', '--remote', servedUrl]);
    expect(note.artifacts.find((a) => a.output === 'note.txt')?.preview).toBe('hello from the store');
  }, 60_000);

  it('prints the same lines as a local inspect, the store line aside', async () => {
    const remote = await cli(['inspect', 'doubled', '--remote', servedUrl]);
    const local = await cli(['inspect', 'doubled', '--workflow', 'small.json']);
    expect(remote.code, remote.stderr).toBe(0);
    const storeLine = (text: string): string | undefined => text.split('\n').find((l) => l.startsWith('store '));
    expect(storeLine(remote.stdout)).toBe(`store      ${servedUrl}/v1/nodes/${uidOf('doubled')}`);
    const others = (text: string): string[] => text.split('\n').filter((l) => !l.startsWith('store '));
    expect(others(remote.stdout)).toEqual(others(local.stdout));
    expect(remote.stdout).toContain('label      doubled');
    expect(remote.stdout).toMatch(/^ {2}result +int64 \[2, 2\], .*: \[\[2,4\],\[6,8\]\]$/m);
  }, 60_000);

  it('takes a uid or a uid prefix, and a token', async () => {
    const uid = uidOf('total');
    const local = await report(['inspect', uid.slice(0, 12), '--workdir', workdir]);
    expectSameReport(
      await report(['inspect', uid.slice(0, 12), '--remote', guarded.url, '--token', TOKEN]),
      local,
      guarded.url,
    );
    expectSameReport(await report(['inspect', uid, '--remote', guarded.url, '--token', TOKEN]), local, guarded.url);
    // By uid through the served workflow: its labels, as a local inspect with that workflow gives them.
    expectSameReport(
      await report(['inspect', uid, '--remote', servedUrl]),
      await report(['inspect', uid, '--workflow', 'small.json']),
      servedUrl,
    );
    const refused = await cli(['inspect', uid, '--remote', guarded.url]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/E_REMOTE: UNAUTHORIZED \(HTTP 401\)/);
  }, 60_000);

  it('reports incomplete and not-started nodes', async () => {
    const incomplete = await report(['inspect', INCOMPLETE_UID, '--remote', servedUrl]);
    expect(incomplete).toMatchObject({ state: 'incomplete', artifacts: [] });
    expectSameReport(incomplete, await report(['inspect', INCOMPLETE_UID, '--workdir', workdir]), servedUrl);

    // A node of a local workflow that the server has no store of.
    const extra = await report(['inspect', 'extra', '--remote', servedUrl, '--workflow', 'more.json']);
    const local = await report(['inspect', 'extra', '--workflow', 'more.json', '--workdir', workdir]);
    expect(local).toMatchObject({
      state: 'not-started',
      labels: ['extra'],
      operation: { namespace: 'scalems', name: 'Float64' },
    });
    expectSameReport(extra, local, servedUrl);
    // A node of the served workflow: its operation and version from the server; the record stays there.
    const planned = await report(['inspect', 'extra', '--remote', planning.url]);
    const { record: _record, ...withoutRecord } = local;
    expectSameReport(planned, withoutRecord as InspectReport, planning.url);
  }, 60_000);

  it('fails on what the server does not have, and on contradictory options', async () => {
    const unknown = await cli(['inspect', 'nosuch', '--remote', servedUrl]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /E_UNKNOWN_NODE: 'nosuch' is neither a label of the served workflow nor the uid of a store at http:\/\/127\.0\.0\.1:\d+\/ \(hint: labels: /,
    );
    const missing = await cli(['inspect', 'a'.repeat(64), '--remote', guarded.url, '--token', TOKEN]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`E_UNKNOWN_NODE: no store ${'a'.repeat(64)} at ${guarded.url}/`);
    const both = await cli(['inspect', 'total', '--remote', servedUrl, '--workdir', workdir]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('E_USAGE: inspect takes --workdir or --remote, not both');
    const unreachable = await cli(['inspect', 'total', '--remote', 'http://127.0.0.1:9']);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/E_REMOTE: NETWORK/);
  }, 60_000);
});
