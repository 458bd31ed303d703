// The five views that say what state a store is in (status, explain,
// inspect, gc and a served working directory) give one answer, since each
// maps readStoreStatus: checked on one node's store while this process
// holds its lock, while the lock names a process that has exited, and once
// it is committed.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { commitStore, publishStore } from '../../src/store/data-store.js';
import { claimOwnership, type StoreLock } from '../../src/store/lock.js';
import { readStoreMetadata } from '../../src/store/metadata.js';
import { currentOwner, type OwnerInfo } from '../../src/store/owner.js';
import { openWorkdir } from '../../src/store/workdir.js';
import { openLocalGraph } from '../../src/views/browse/local-graph.js';
import { explainNode } from '../../src/views/explain/explain.js';
import { findGarbage } from '../../src/views/gc.js';
import { inspectStore } from '../../src/views/inspect.js';
import { readStatus } from '../../src/views/status.js';
import type { ConcreteGraph, GraphNode } from '../../src/workflow/graph.js';
import { loadGraph } from '../../src/workflow/load-graph.js';

let dir: string;
let workdir: string;
let graph: ConcreteGraph;
let node: GraphNode;
const held: StoreLock[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'run-graph-store-views-'));
  const file = join(dir, 'wf.json');
  await writeFile(
    file,
    JSON.stringify({
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
      ],
    }),
  );
  graph = await loadGraph(file);
  node = graph.nodes[0] as GraphNode;
  workdir = (await openWorkdir(join(dir, 'work'))).root;
});
afterEach(async () => {
  for (const lock of held.splice(0)) await lock.release();
  await rm(dir, { recursive: true, force: true });
});

/** The node's store, published and locked with `owner` in its owner file. */
async function lockedStore(owner: OwnerInfo): Promise<{ storeDir: string; lock: StoreLock }> {
  const layout = await openWorkdir(workdir);
  const operation = {
    namespace: node.operation.namespace,
    name: node.operation.name,
    version: node.operation.version ?? null,
  };
  expect(await publishStore(layout, { uid: node.uid, record: node.record, operation }, owner)).toBe('created');
  const storeDir = layout.storeDir(node.uid);
  const claim = await claimOwnership(storeDir, owner);
  if (claim.kind !== 'acquired') throw new Error(`expected to acquire the lock, got ${claim.kind}`);
  held.push(claim.lock);
  return { storeDir, lock: claim.lock };
}

/** What each view says of the node's store, in a few words each. */
async function answers(): Promise<Record<string, string>> {
  const status = (await readStatus(graph, workdir)).nodes[0];
  const explained = await explainNode(graph, node.label, workdir);
  const inspected = await inspectStore(workdir, node.uid, [node.label], graph);
  const garbage = (await findGarbage(workdir, new Set())).unreachable[0];
  const served = await (await openLocalGraph(workdir)).node(node.uid).info();
  const who = (s: { state: string; owner?: { pid: number } }): string =>
    s.state === 'running' ? `running ${s.owner?.pid}` : s.state;
  return {
    status: status === undefined ? 'none' : who(status),
    explain:
      explained.verdict === 'running'
        ? `running ${explained.owner.pid}`
        : explained.verdict === 'reused'
          ? 'committed'
          : explained.reason,
    inspect: `${inspected.state === 'running' ? `running ${inspected.owner?.pid}` : inspected.state}, owner ${inspected.owner?.alive === true ? 'alive' : 'dead'}`,
    gc: garbage === undefined ? 'none' : `${garbage.state}, ${garbage.holder.status}`,
    served: who(served),
  };
}

describe('every view of a store', () => {
  it('says running, naming this process, while it holds the lock', async () => {
    await lockedStore(currentOwner());
    const running = `running ${process.pid}`;
    expect(await answers()).toEqual({
      status: running,
      explain: running,
      inspect: `${running}, owner alive`,
      gc: 'uncommitted, live',
      served: running,
    });
  });

  it('says incomplete while the lock names a process that has exited', async () => {
    const pid = Number(
      spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout,
    );
    await lockedStore({ ...currentOwner(), pid });
    expect(await answers()).toEqual({
      status: 'incomplete',
      explain: 'incomplete',
      inspect: 'incomplete, owner dead',
      gc: 'uncommitted, dead',
      served: 'incomplete',
    });
  });

  it('says committed once the store is committed, whatever lock is left on it', async () => {
    const { storeDir, lock } = await lockedStore(currentOwner());
    const created = await readStoreMetadata(storeDir);
    if (created === undefined) throw new Error('no metadata after publishing');
    await commitStore(
      storeDir,
      created,
      {
        data: {
          kind: 'json',
          value: [
            [1, 2],
            [3, 4],
          ],
        },
      },
      { durationMs: 1, beforeCommit: async () => lock.assertHeld() },
    );
    expect(await answers()).toEqual({
      status: 'committed',
      explain: 'committed',
      inspect: 'committed, owner alive',
      gc: 'committed, live',
      served: 'committed',
    });
  });
});
