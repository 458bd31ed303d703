// Locks left on committed stores by holders that died at awkward moments:
// while tidying after a commit, between taking a lock and renaming their
// owner file into place, inside a reclaim guard, or (SIGKILLed here) while
// holding a store another run waits for. A run reuses such a store and
// clears the lock unless its holder lives. The lock's own rules, tested in
// process on hand-made locks, are in test/unit/lock.test.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WorkerContext } from '../../src/engine/worker-context.js';
import { publishStore } from '../../src/store/data-store.js';
import { claimOwnership } from '../../src/store/lock.js';
import { OWNER_FILE, ownerTag } from '../../src/store/owner.js';
import { openWorkdir } from '../../src/store/workdir.js';
import { auditWorkdir } from '../../torture/audit.js';
import type { ConcreteGraph, GraphNode } from '../../src/workflow/graph.js';
import { loadGraph } from '../../src/workflow/load-graph.js';
import { deadPid, entries, lockWithPendingOwner, ownerFor } from '../support/locks.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

const STALE_MS = 5_000;
let box: Sandbox;
let dir: string;
let sleeper: ChildProcess;

beforeEach(async () => {
  box = await createSandbox();
  dir = box.dir;
  sleeper = spawn('sleep', ['60']);
});
afterEach(async () => {
  sleeper.kill();
  await box.cleanup();
});

/** A two-step chain: the workflow file of its first step alone, and the graph of both. */
async function chain(): Promise<{ first: string; graph: ConcreteGraph; step0: GraphNode; step1: GraphNode }> {
  const nodes = [0, 1].map((i) => ({
    label: `step${i}`,
    operation: 'run-graph.Add',
    input: { a: i === 0 ? [0] : { $ref: `step${i - 1}` }, b: 1 },
  }));
  const first = join(dir, 'first.json');
  const both = join(dir, 'both.json');
  await writeFile(first, JSON.stringify({ nodes: nodes.slice(0, 1) }));
  await writeFile(both, JSON.stringify({ nodes }));
  const graph = await loadGraph(both);
  const [step0, step1] = graph.nodes;
  if (step0 === undefined || step1 === undefined) throw new Error('expected two nodes');
  return { first, graph, step0, step1 };
}

async function run(workdir: string, file: string): Promise<void> {
  const context = await WorkerContext.open({ workdir, jobs: 1 });
  expect((await context.run(await loadGraph(file))).ok).toBe(true);
}

describe('a committed store with a lock', () => {
  it('loses it on the next run unless the holder lives, and is tidied as after a commit', async () => {
    const workdir = join(dir, 'work');
    const { graph, step0, step1 } = await chain();
    await run(workdir, join(dir, 'both.json'));
    const layout = await openWorkdir(workdir);
    // step0: the holder was killed while tidying, between removing its owner file and its lock.
    await mkdir(join(layout.storeDir(step0.uid), 'lock'));
    // step1: a live process holds it (to look at it), and has written its owner file.
    await mkdir(join(layout.storeDir(step1.uid), 'lock'));
    await writeFile(join(layout.storeDir(step1.uid), OWNER_FILE), JSON.stringify(ownerFor(sleeper.pid ?? 0)));

    const context = await WorkerContext.open({ workdir, jobs: 1 });
    const summary = await context.run(graph);
    expect(summary.counts).toMatchObject({ reused: 2, committed: 0 });
    expect(await entries(layout.storeDir(step0.uid))).toEqual(['metadata.json', 'result.npy']);
    expect(await entries(layout.storeDir(step1.uid))).toEqual(['lock', 'metadata.json', OWNER_FILE, 'result.npy']);
  });
});

describe('a reclaim guard left by a process killed inside it', () => {
  it("does not keep a dead holder's lock on a committed store", async () => {
    const workdir = join(dir, 'work');
    const { graph, step0 } = await chain();
    await run(workdir, join(dir, 'both.json'));
    const storeDir = (await openWorkdir(workdir)).storeDir(step0.uid);
    const dead = ownerFor(deadPid());
    // The dead holder's lock, and the guard of a reclaimer that died inside it a moment ago.
    await lockWithPendingOwner(storeDir, dead);
    await mkdir(join(storeDir, 'lock.reclaim', ownerTag(ownerFor(deadPid()))), { recursive: true });
    const context = await WorkerContext.open({ workdir, jobs: 1 });
    expect((await context.run(graph)).counts).toMatchObject({ reused: 2, committed: 0 });
    expect(await entries(storeDir)).toEqual(['metadata.json', 'result.npy']);
  });
});

describe('a run that shares its stores with another process', () => {
  it('clears, before it ends, the lock a process that died meanwhile left on a committed store', async () => {
    const workdir = join(dir, 'work');
    const { first, graph, step0, step1 } = await chain();
    await run(workdir, first);

    // The sleeper plays another worker: it holds step1's store, and has locked committed step0 to look at it.
    const layout = await openWorkdir(workdir);
    const other = ownerFor(sleeper.pid ?? 0);
    await lockWithPendingOwner(layout.storeDir(step0.uid), other);
    await publishStore(
      layout,
      {
        uid: step1.uid,
        record: step1.record,
        operation: {
          namespace: step1.operation.namespace,
          name: step1.operation.name,
          version: step1.operation.version ?? null,
        },
      },
      other,
    );
    const held = await claimOwnership(layout.storeDir(step1.uid), other, {
      staleMs: STALE_MS,
      onCompromised: () => undefined,
    });
    expect(held.kind).toBe('acquired');

    // It dies while the run waits for step1.
    const events: string[] = [];
    const context = await WorkerContext.open({
      workdir,
      jobs: 1,
      staleMs: STALE_MS,
      onEvent: (event) => {
        events.push(`${event.type} ${'label' in event ? event.label : ''}`);
        if (event.type === 'lock-waiting') sleeper.kill('SIGKILL');
      },
    });
    const summary = await context.run(graph);
    expect(summary.ok).toBe(true);
    expect(events).toEqual(expect.arrayContaining(['lock-waiting step1', 'node-reused step0', 'node-committed step1']));
    expect(await auditWorkdir(workdir)).toEqual([]);
  });
});
