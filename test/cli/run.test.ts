/**
 * `run-graph run` end to end: a fresh run commits one store per node; an
 * unchanged run executes nothing; a changed input re-runs exactly that node
 * and its descendants; labels and node order never re-run anything. Node
 * executions are counted by an execution log outside the working directory
 * and by `node-started` events.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeNpy } from '../../src/values/npy.js';
import { eventsOf, labelsOf, must, parseEvents, runCli, uidsByLabel } from '../support/cli.js';
import { createSandbox, exists, writeJson, type Sandbox } from '../support/sandbox.js';
import { readMetadata, sha256File, storeUids } from '../support/stores.js';
import { copyExample, loggedNode, readLog, ref, type WorkflowDoc } from '../support/workflows.js';

/** SCALE-MS's reference record: Integer64 [[1,2],[3,4]] with no dependencies. */
const REFERENCE_UID = '266bb4e33dfb7be89c04735cebe31cae8d7714243ccb9d137a1a37a46a645365';

const ALL_LABELS = ['audit', 'doubled', 'fetch', 'matrix', 'prepare', 'report', 'total'];

interface Variant {
  matrix?: number[][];
  fetchEnv?: { [key: string]: string };
}

/**
 * Two branches that meet in `report`: matrix -> doubled -> total (in-process
 * transforms) and fetch -> prepare (logged subprocesses); report reads
 * prepare and doubled; audit stands alone.
 */
function pipeline(log: string, variant: Variant = {}): WorkflowDoc {
  return {
    nodes: [
      {
        label: 'matrix',
        operation: 'scalems.Integer64',
        input: {
          data: variant.matrix ?? [
            [1, 2],
            [3, 4],
          ],
        },
      },
      { label: 'doubled', operation: 'run-graph.Add', input: { a: ref('matrix'), b: ref('matrix') } },
      { label: 'total', operation: 'run-graph.Sum', input: { array: ref('doubled') } },
      loggedNode('fetch', log, variant.fetchEnv === undefined ? {} : { env: variant.fetchEnv }),
      loggedNode('prepare', log, { inputs: ['fetch.out.txt'] }),
      loggedNode('report', log, { inputs: ['prepare.out.txt', 'doubled'] }),
      loggedNode('audit', log),
    ],
  };
}

async function totalOf(workdir: string, uid: string): Promise<bigint> {
  const array = decodeNpy(await readFile(join(workdir, uid, 'result.npy')));
  expect(array.dtype).toBe('int64');
  expect(array.shape).toEqual([]);
  const value = (array.data as BigInt64Array)[0];
  if (value === undefined) throw new Error('empty total');
  return value;
}

describe('run', () => {
  let box: Sandbox;
  let log: string;
  let workflow: string;
  let workdir: string;

  beforeEach(async () => {
    box = await createSandbox();
    log = box.path('executions.log');
    workflow = box.path('pipeline.json');
    workdir = box.path('wd');
  });
  afterEach(async () => {
    await box.cleanup();
  });

  it('commits one complete store per node on a first run, and leaves no staging or locks', async () => {
    await writeJson(workflow, pipeline(log));
    const result = await runCli(['run', workflow, '--workdir', workdir]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);

    const uids = await uidsByLabel(workflow);
    expect(must(uids, 'matrix')).toBe(REFERENCE_UID);
    const stores = await storeUids(workdir);
    expect(stores).toEqual([...uids.values()].sort());
    expect(stores).toHaveLength(ALL_LABELS.length);
    // Besides the stores: the marker, staging (empty), and bookkeeping, but no store under another name.
    const others = (await readdir(workdir)).filter((name) => !stores.includes(name));
    expect(others).toEqual(expect.arrayContaining(['.run-graph', 'tmp']));
    for (const name of others) expect(await exists(join(workdir, name, 'metadata.json')), name).toBe(false);
    expect(await readdir(join(workdir, 'tmp'))).toEqual([]);

    for (const uid of stores) {
      const metadata = await readMetadata(workdir, uid);
      expect(metadata.state).toBe('committed');
      expect(metadata.uid).toBe(uid);
      const entries = await readdir(join(workdir, uid));
      // A committed store is owned by no one: lock and owner file are gone.
      expect(entries).not.toContain('lock');
      expect(entries).not.toContain('lock.reclaim');
      expect(entries).not.toContain('owner');
      const artifacts = Object.values(metadata.artifacts ?? {});
      expect(artifacts.length).toBeGreaterThan(0);
      for (const artifact of artifacts) {
        const path = join(workdir, uid, artifact.path);
        expect(await sha256File(path), `${uid}/${artifact.path}`).toBe(artifact.sha256);
        expect((await readFile(path)).length).toBe(artifact.size);
      }
    }

    const matrixNpy = await readFile(join(workdir, REFERENCE_UID, 'data.npy'));
    expect(matrixNpy.subarray(0, 6)).toEqual(Buffer.from('\x93NUMPY', 'latin1'));
    const matrix = decodeNpy(matrixNpy);
    expect(matrix.dtype).toBe('int64');
    expect(matrix.shape).toEqual([2, 2]);
    expect([...(matrix.data as BigInt64Array)]).toEqual([1n, 2n, 3n, 4n]);
    expect(await totalOf(workdir, must(uids, 'total'))).toBe(20n);

    // Each subprocess ran once, and data flowed along the references.
    expect((await readLog(log)).sort()).toEqual(['audit', 'fetch', 'prepare', 'report']);
    const report = await readFile(join(workdir, must(uids, 'report'), 'out.txt'));
    expect(report.subarray(0, 'report\nprepare\nfetch\n'.length).toString()).toBe('report\nprepare\nfetch\n');
    expect(report.includes(Buffer.from('\x93NUMPY', 'latin1'))).toBe(true);
  });

  it('executes nothing on an unchanged second run and reports every node as reused', async () => {
    await writeJson(workflow, pipeline(log));
    expect((await runCli(['run', workflow, '--workdir', workdir])).code).toBe(0);
    const logAfterFirst = await readLog(log);
    const storesAfterFirst = await storeUids(workdir);

    const second = await runCli(['run', workflow, '--workdir', workdir, '--json']);
    expect(second.code).toBe(0);
    const events = parseEvents(second.stdout);
    expect(eventsOf(events, 'node-started')).toEqual([]);
    expect(eventsOf(events, 'node-committed')).toEqual([]);
    expect(labelsOf(events, 'node-reused')).toEqual(ALL_LABELS);
    const finished = eventsOf(events, 'run-finished');
    expect(finished).toHaveLength(1);
    expect(finished[0]?.counts).toMatchObject({ total: 7, reused: 7, committed: 0, failed: 0, skipped: 0, notRun: 0 });
    expect(await readLog(log)).toEqual(logAfterFirst);
    expect(await storeUids(workdir)).toEqual(storesAfterFirst);
  });

  it('re-runs exactly a changed node and its descendants, and keeps the old stores', async () => {
    await writeJson(workflow, pipeline(log));
    expect((await runCli(['run', workflow, '--workdir', workdir])).code).toBe(0);
    const firstStores = await storeUids(workdir);
    const firstUids = await uidsByLabel(workflow);

    // A literal in an in-process node: matrix, doubled, total and report (which reads doubled).
    await writeJson(
      workflow,
      pipeline(log, {
        matrix: [
          [1, 2],
          [3, 5],
        ],
      }),
    );
    const changed = await runCli(['run', workflow, '--workdir', workdir, '--json']);
    expect(changed.code).toBe(0);
    let events = parseEvents(changed.stdout);
    expect(labelsOf(events, 'node-started')).toEqual(['doubled', 'matrix', 'report', 'total']);
    expect(labelsOf(events, 'node-committed')).toEqual(['doubled', 'matrix', 'report', 'total']);
    expect(labelsOf(events, 'node-reused')).toEqual(['audit', 'fetch', 'prepare']);
    expect(await readLog(log)).toHaveLength(5);
    expect((await readLog(log)).slice(4)).toEqual(['report']);
    const secondUids = await uidsByLabel(workflow);
    for (const label of ['matrix', 'doubled', 'total', 'report'])
      expect(must(secondUids, label)).not.toBe(must(firstUids, label));
    for (const label of ['fetch', 'prepare', 'audit']) expect(must(secondUids, label)).toBe(must(firstUids, label));
    expect(await totalOf(workdir, must(secondUids, 'total'))).toBe(22n);
    // Old stores stay (a later run with the old input reuses them); four new ones join them.
    const secondStores = await storeUids(workdir);
    expect(secondStores).toEqual(expect.arrayContaining(firstStores));
    expect(secondStores).toHaveLength(firstStores.length + 4);

    // An input of the first subprocess: it and its chain re-run, in dependency order.
    await writeJson(
      workflow,
      pipeline(log, {
        matrix: [
          [1, 2],
          [3, 5],
        ],
        fetchEnv: { MIRROR: 'b' },
      }),
    );
    const third = await runCli(['run', workflow, '--workdir', workdir, '--json']);
    expect(third.code).toBe(0);
    events = parseEvents(third.stdout);
    expect(labelsOf(events, 'node-started')).toEqual(['fetch', 'prepare', 'report']);
    expect(labelsOf(events, 'node-reused')).toEqual(['audit', 'doubled', 'matrix', 'total']);
    expect((await readLog(log)).slice(5)).toEqual(['fetch', 'prepare', 'report']);

    // Back to the first workflow: everything is already there.
    await writeJson(workflow, pipeline(log));
    const back = await runCli(['run', workflow, '--workdir', workdir, '--json']);
    expect(back.code).toBe(0);
    expect(eventsOf(parseEvents(back.stdout), 'node-started')).toEqual([]);
    expect(await readLog(log)).toHaveLength(8);
  });

  it('re-runs nothing when labels are renamed or nodes reordered', async () => {
    await writeJson(workflow, pipeline(log));
    expect((await runCli(['run', workflow, '--workdir', workdir])).code).toBe(0);
    const before = await uidsByLabel(workflow);
    const stores = await storeUids(workdir);

    // Rename prepare -> cleaned and matrix -> m (updating the references), keep the tags, reverse the order.
    const renamed = pipeline(log);
    const rename = (label: string): string => (label === 'prepare' ? 'cleaned' : label === 'matrix' ? 'm' : label);
    const json = JSON.stringify(renamed.nodes.map((n) => ({ ...n, label: rename(n.label) })))
      .replaceAll('"$ref":"prepare.', '"$ref":"cleaned.')
      .replaceAll('"$ref":"matrix"', '"$ref":"m"');
    const nodes = (JSON.parse(json) as WorkflowDoc['nodes']).reverse();
    // The tag of `prepare` is its old label, so its record is unchanged.
    await writeJson(workflow, { nodes });
    const after = await uidsByLabel(workflow);
    expect(must(after, 'cleaned')).toBe(must(before, 'prepare'));
    expect(must(after, 'm')).toBe(must(before, 'matrix'));
    expect([...after.values()].sort()).toEqual([...before.values()].sort());

    const result = await runCli(['run', workflow, '--workdir', workdir, '--json']);
    expect(result.code).toBe(0);
    const events = parseEvents(result.stdout);
    expect(eventsOf(events, 'node-started')).toEqual([]);
    expect(labelsOf(events, 'node-reused')).toEqual(['audit', 'cleaned', 'doubled', 'fetch', 'm', 'report', 'total']);
    expect(await readLog(log)).toHaveLength(4);
    expect(await storeUids(workdir)).toEqual(stores);
  });

  it('prints only JSON event lines with --json, from run-started to run-finished', async () => {
    await writeJson(workflow, pipeline(log));
    const result = await runCli(['run', workflow, '--workdir', workdir, '--json', '--jobs', '2']);
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n').filter((line) => line !== '');
    for (const line of lines) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
    const events = parseEvents(result.stdout);
    expect(events.length).toBe(lines.length);
    expect(events[0]?.type).toBe('run-started');
    expect(events.at(-1)?.type).toBe('run-finished');
    for (const event of events) expect(Number.isNaN(Date.parse(event.time)), event.type).toBe(false);

    const started = eventsOf(events, 'run-started')[0];
    expect(started).toMatchObject({ total: 7, jobs: 2 });
    expect(labelsOf(events, 'node-started')).toEqual(ALL_LABELS);
    expect(labelsOf(events, 'node-committed')).toEqual(ALL_LABELS);
    // Each node commits after it starts; it starts once what it reads is committing (its artifacts in place), and
    // commits only after that has committed.
    const at = (type: string, label: string): number =>
      events.findIndex((e) => e.type === type && 'label' in e && e.label === label);
    for (const label of ALL_LABELS) expect(at('node-committed', label)).toBeGreaterThan(at('node-started', label));
    for (const [node, upstream] of [
      ['report', 'prepare'],
      ['report', 'doubled'],
      ['total', 'doubled'],
    ] as const) {
      expect(at('node-started', node)).toBeGreaterThan(at('node-committing', upstream));
      expect(at('node-committed', node)).toBeGreaterThan(at('node-committed', upstream));
    }
    const uids = await uidsByLabel(workflow);
    for (const event of eventsOf(events, 'node-committed')) expect(event.uid).toBe(must(uids, event.label));
    expect(eventsOf(events, 'run-finished')[0]).toMatchObject({
      ok: true,
      interrupted: false,
      counts: { total: 7, committed: 7, reused: 0 },
    });
  });

  it('runs the shipped quickstart example in the default working directory beside the workflow', async () => {
    const copy = await copyExample('quickstart.json', box);
    const first = await runCli(['run', copy], { cwd: box.dir });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/done: 4 built, 0 reused, 0 failed/);
    const defaultWorkdir = box.path('quickstart.workdir');
    expect(await exists(join(defaultWorkdir, REFERENCE_UID, 'data.npy'))).toBe(true);
    const uids = await uidsByLabel(copy);
    expect(await readFile(join(defaultWorkdir, must(uids, 'report'), 'magic.txt'), 'utf8')).toMatch(
      /93 4e 55 4d 50 59/,
    );
    const again = await runCli(['run', copy], { cwd: box.dir });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/done: 0 built, 4 reused/);
  });
});
