// Claims made ahead: a node whose last upstream is committing has its store
// published and locked before it starts. When it then never starts (the
// upstream's commit failed), the store is taken back: nothing of it is left,
// so the node reads as not started, not as an unfinished attempt. A node that
// did start on the artifacts of an upstream still committing commits only
// after it, and is skipped if that commit fails, or started again once it
// is done if it lost its store to another process.
import { writeFileSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditCommittedUpstreams, auditWorkdir } from '../../torture/audit.js';
import { loadGraph } from '../../src/workflow/load-graph.js';
import { requireBuiltCli } from '../support/cli.js';
import { createSandbox } from '../support/sandbox.js';
import { storeUids } from '../support/stores.js';
import { readStoreMetadata } from '../../src/store/metadata.js';
import { runCliAttempt } from '../support/torture.js';
import { deadPid, ownerFor } from '../support/locks.js';
import { WorkerContext } from '../../src/engine/worker-context.js';
import type { RunEvent } from '../../src/engine/events.js';

let dir: string;
let cleanup: () => Promise<void>;
let file: string;

beforeEach(async () => {
  requireBuiltCli();
  ({ dir, cleanup } = await createSandbox());
  file = join(dir, 'chain.json');
  const nodes = [0, 1, 2].map((i) => ({
    label: `step${i}`,
    operation: 'run-graph.Add',
    input: { a: i === 0 ? [0] : { $ref: `step${i - 1}` }, b: 1 },
  }));
  await writeFile(file, JSON.stringify({ nodes }));
});
afterEach(async () => cleanup());

describe('claims made ahead', () => {
  it('hand each node of a chain its store in order, and leave nothing behind', async () => {
    const workdir = join(dir, 'work');
    const run = await runCliAttempt(['run', file, '--workdir', workdir, '--jobs', '1', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const events = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; label?: string });
    const order = events
      .filter((e) => ['node-started', 'node-committing', 'node-committed'].includes(e.type))
      .map((e) => `${e.type} ${e.label ?? ''}`);
    // Each step starts only once the step before it is committing, and commits only after it has committed.
    for (const i of [1, 2]) {
      expect(order.indexOf(`node-started step${i}`)).toBeGreaterThan(order.indexOf(`node-committing step${i - 1}`));
      expect(order.indexOf(`node-committed step${i}`)).toBeGreaterThan(order.indexOf(`node-committed step${i - 1}`));
    }
    expect(await auditWorkdir(workdir)).toEqual([]);
  });

  it('take back the store of a node that never started because its upstream failed to commit', async () => {
    const workdir = join(dir, 'work');
    const graph = await loadGraph(file);
    const failed = await runCliAttempt(['run', file, '--workdir', workdir, '--jobs', '1'], {
      RUN_GRAPH_FAIL_AT: 'metadata-write:EIO',
    });
    expect(failed.code).toBe(3);
    const stores = await storeUids(workdir);
    // step0 failed to commit and keeps its unfinished store; step1's store, claimed ahead, is gone; step2 was never claimed.
    expect(stores).toEqual([graph.nodes[0]?.uid]);
    expect(await readdir(join(workdir, 'tmp'))).toEqual([]);
    expect(await readdir(join(workdir, stores[0] ?? ''))).not.toContain('lock');

    const fixed = await runCliAttempt(['run', file, '--workdir', workdir]);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(await auditWorkdir(workdir)).toEqual([]);
  });

  it('skip a node started on the artifacts of an upstream whose commit then fails, and commit neither', async () => {
    const workdir = join(dir, 'work');
    // The first commit's last rename fails: step0's, after its artifacts are in place and step1 has started on them.
    // step1's own would succeed.
    const failed = await runCliAttempt(['run', file, '--workdir', workdir, '--jobs', '1', '--json'], {
      RUN_GRAPH_FAIL_AT: 'metadata-rename:EIO#1',
    });
    expect(failed.code, failed.stderr).toBe(3);
    const events = failed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; label?: string; counts?: object });
    const of = (label: string): string[] => events.filter((e) => e.label === label).map((e) => e.type);
    expect(of('step0')).toEqual(['node-started', 'node-committing', 'node-failed']);
    // step1 ran, and was held at its own commit until step0's failed: then skipped, and not committed.
    expect(of('step1')).toEqual(['node-started', 'node-committing', 'node-skipped']);
    // step2 too, if step1's artifacts were in place before step0's commit failed.
    expect(of('step2').at(-1)).toBe('node-skipped');
    expect(of('step2')).not.toContain('node-committed');
    expect(events.at(-1)).toMatchObject({ type: 'run-finished', counts: { committed: 0, failed: 1, skipped: 2 } });
    expect(await auditCommittedUpstreams(workdir)).toEqual([]);
    for (const uid of await storeUids(workdir)) {
      const metadata = await readStoreMetadata(join(workdir, uid));
      expect(metadata?.state, uid).not.toBe('committed');
    }
    expect(await readdir(join(workdir, 'tmp'))).toEqual([]);

    const fixed = await runCliAttempt(['run', file, '--workdir', workdir]);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.stdout).toMatch(/done: 3 built, 0 reused/);
    expect(await auditWorkdir(workdir)).toEqual([]);
  });

  it('start a node again once an upstream that released it lost its store, and commit it only after that upstream', async () => {
    const workdir = join(dir, 'work');
    const graph = await loadGraph(file);
    const step1 = graph.nodes[1];
    if (step1 === undefined) throw new Error('no step1');
    // Another process on this host took step1's store over while step1 ran, and died: step1's own commit must not
    // happen, and the next claim reclaims the store from the dead owner.
    const taker = JSON.stringify(ownerFor(deadPid()));
    const events: RunEvent[] = [];
    let taken = false;
    const context = await WorkerContext.open({
      workdir,
      jobs: 1,
      staleMs: 10_000,
      onEvent: (event) => {
        events.push(event);
        // Synchronously, before step1's commit begins: its artifacts still go into place and release step2.
        if (event.type === 'node-committing' && event.label === 'step1' && !taken) {
          taken = true;
          writeFileSync(join(workdir, step1.uid, 'owner'), taker);
        }
      },
    });
    const summary = await context.run(graph);
    expect(summary.ok).toBe(true);
    // Each node counted once, whatever it started twice.
    expect(summary.counts).toMatchObject({ committed: 3, reused: 0, failed: 0, skipped: 0 });
    const of = (label: string): string[] => events.filter((e) => 'label' in e && e.label === label).map((e) => e.type);
    // step1 gave its first attempt up at the commit point, and ran again on the store reclaimed.
    expect(of('step1').filter((type) => type === 'node-started')).toHaveLength(2);
    expect(of('step1').filter((type) => type === 'node-committed')).toHaveLength(1);
    // step2 started on step1's first artifacts (or was held back before starting), was deferred, and committed once,
    // after step1's commit.
    expect(of('step2').filter((type) => type === 'node-committed')).toHaveLength(1);
    const committedAt = (label: string): number =>
      events.findIndex((e) => e.type === 'node-committed' && 'label' in e && e.label === label);
    expect(committedAt('step2')).toBeGreaterThan(committedAt('step1'));
    expect(await auditWorkdir(workdir)).toEqual([]);
    const resumed = await runCliAttempt(['run', file, '--workdir', workdir]);
    expect(resumed.stdout).toMatch(/done: 0 built, 3 reused/);
  });
});
