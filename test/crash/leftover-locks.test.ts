// Locks left by holders that died at awkward moments: between taking a lock
// and renaming their owner file into place (only the temporary owner file
// names them then), or while holding a store another process had just
// committed. Such a lock is taken over at once once its holder is dead, and a
// run that shared its stores with other processes clears those on committed
// stores before it ends. Also: a process's store locks are dated when taken.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WorkerContext } from '../../src/engine/worker-context.js';
import { publishStore } from '../../src/store/data-store.js';
import { claimOwnership, primeLockClock } from '../../src/store/lock.js';
import { OWNER_FILE, currentOwner, ownerTag, pendingOwnerPath, processStartTime, thisHost, type OwnerInfo } from '../../src/store/owner.js';
import { openWorkdir } from '../../src/store/workdir.js';
import { auditWorkdir } from '../../torture/audit.js';
import type { ConcreteGraph, GraphNode } from '../../src/workflow/graph.js';
import { loadGraph } from '../../src/workflow/load-graph.js';

const STALE_MS = 5_000;
let dir: string;
let sleeper: ChildProcess;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'run-graph-leftover-'));
  sleeper = spawn('sleep', ['60']);
});
afterEach(async () => {
  sleeper.kill();
  await rm(dir, { recursive: true, force: true });
});

function ownerFor(pid: number): OwnerInfo {
  return { pid, host: thisHost(), contextId: `ctx-${pid}`, startedAt: new Date().toISOString(), pidStartTime: processStartTime(pid) };
}

function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

/**
 * A lock taken 100 ms ago by `holder`, who then died or stalled with its
 * owner file still under its temporary name: written (`content`), or
 * created and still empty.
 */
async function lockWithPendingOwner(storeDir: string, holder: OwnerInfo, content: 'written' | 'empty' = 'written'): Promise<string> {
  await mkdir(join(storeDir, 'lock'), { recursive: true });
  const lockTime = (Date.now() - 100) / 1000;
  await utimes(join(storeDir, 'lock'), lockTime, lockTime);
  const pending = pendingOwnerPath(storeDir, holder);
  await writeFile(pending, content === 'written' ? JSON.stringify(holder) : '');
  return pending;
}

async function entries(storeDir: string): Promise<string[]> {
  return (await readdir(storeDir)).sort();
}

describe('locks whose holder died before its owner file was in place', () => {
  // First in this file: nothing has taken a lock in this module yet.
  it('are dated when taken once the lock clock is primed, so they can be proven their holder’s', async () => {
    const scratch = join(dir, 'tmp');
    await mkdir(scratch);
    await primeLockClock(scratch, currentOwner());
    expect(await readdir(scratch)).toEqual([]);
    const storeDir = join(dir, 'store');
    await mkdir(storeDir);
    const claim = await claimOwnership(storeDir, currentOwner(), { staleMs: STALE_MS });
    if (claim.kind !== 'acquired') throw new Error(`expected to acquire the lock, got ${claim.kind}`);
    const lockTime = (await stat(join(storeDir, 'lock'), { bigint: true })).mtimeNs;
    const ownerTime = (await stat(join(storeDir, OWNER_FILE), { bigint: true })).mtimeNs;
    await claim.lock.release();
    // Unprimed, proper-lockfile dates a process's first lock at the next whole second plus 5 ms.
    expect(lockTime <= ownerTime, `lock ${lockTime} ns, owner file ${ownerTime} ns`).toBe(true);
  });

  for (const content of ['written', 'empty'] as const) {
    it(`are taken over at once, and the temporary owner file (${content}) goes with them`, async () => {
      const storeDir = join(dir, 'store');
      const pending = await lockWithPendingOwner(storeDir, ownerFor(deadPid()), content);
      const claim = await claimOwnership(storeDir, currentOwner(), { staleMs: STALE_MS });
      expect(claim.kind).toBe('acquired');
      if (claim.kind === 'acquired') await claim.lock.release();
      expect(await entries(storeDir)).not.toContain(basename(pending));
    });

    it(`are left alone while the holder the temporary owner file (${content}) names lives`, async () => {
      const storeDir = join(dir, 'store');
      await lockWithPendingOwner(storeDir, ownerFor(sleeper.pid ?? 0), content);
      const claim = await claimOwnership(storeDir, currentOwner(), { staleMs: STALE_MS });
      expect(claim).toMatchObject({ kind: 'held', owner: { pid: sleeper.pid } });
    });
  }
});

/** A two-step chain: the workflow file of its first step alone, and the graph of both. */
async function chain(): Promise<{ first: string; graph: ConcreteGraph; step0: GraphNode; step1: GraphNode }> {
  const nodes = [0, 1].map((i) => ({ label: `step${i}`, operation: 'run-graph.Add', input: { a: i === 0 ? [0] : { $ref: `step${i - 1}` }, b: 1 } }));
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
  it('does not keep a dead holder\'s lock on a committed store', async () => {
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

  it('is left alone while its reclaimer lives', async () => {
    const storeDir = join(dir, 'store');
    await lockWithPendingOwner(storeDir, ownerFor(deadPid()));
    const inside = join(storeDir, 'lock.reclaim', ownerTag(ownerFor(sleeper.pid ?? 0)));
    await mkdir(inside, { recursive: true });
    const claim = await claimOwnership(storeDir, currentOwner(), { staleMs: STALE_MS });
    expect(claim.kind).toBe('held');
    expect(await readdir(join(storeDir, 'lock.reclaim'))).toEqual([basename(inside)]);
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
    await publishStore(layout, { uid: step1.uid, record: step1.record, operation: { namespace: step1.operation.namespace, name: step1.operation.name, version: step1.operation.version ?? null } }, other);
    const held = await claimOwnership(layout.storeDir(step1.uid), other, { staleMs: STALE_MS, onCompromised: () => undefined });
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
