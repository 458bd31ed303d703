// The store lifecycle the engine sees (store/store.ts), without the engine:
// claim, open, commit, reuse, give back, quarantine. Each step checked on
// the files it leaves, since those are what a later run or another process
// reads.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NodeRecord, Uid } from '../../src/identity/fingerprint.js';
import { primeLockClock } from '../../src/store/lock.js';
import { readStoreMetadata } from '../../src/store/metadata.js';
import { currentOwner } from '../../src/store/owner.js';
import { Stores, type ClaimedStore, type NewStore } from '../../src/store/store.js';
import { openWorkdir, type WorkdirLayout } from '../../src/store/workdir.js';

let dir: string;
let layout: WorkdirLayout;
let stores: Stores;
const owner = currentOwner();
const uid = 'cd'.repeat(32) as Uid;
const record = { operation: ['test', 'Op', '1'], input: {}, depends: [] } as unknown as NodeRecord;
const identity: NewStore = { uid, record, operation: { namespace: 'test', name: 'Op', version: '1' } };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'run-graph-lifecycle-'));
  layout = await openWorkdir(join(dir, 'work'));
  await primeLockClock(layout.tmp, owner);
  stores = new Stores(layout, owner, { verify: 'size', staleMs: 30_000 });
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

async function claimed(mayExist = false): Promise<ClaimedStore> {
  const claim = await stores.claim(identity, { mayExist });
  if (claim.kind !== 'acquired') throw new Error(`expected to acquire the store, got ${claim.kind}`);
  return claim.store;
}

/** Claim, open and commit the store with one JSON output; returns once it is tidied. */
async function committed(): Promise<void> {
  const store = await claimed();
  const opened = await store.open();
  if (opened.kind !== 'ready') throw new Error(`expected a fresh store, got ${opened.kind}`);
  const { tidied } = await store.commit(opened.created, { answer: { kind: 'json', value: 42 } }, 5);
  await tidied;
}

describe('Stores', () => {
  it('publishes an absent store on claim, and opens it ready to run', async () => {
    const store = await claimed();
    expect(store.published).toBe(true);
    const opened = await store.open();
    expect(opened.kind).toBe('ready');
    if (opened.kind === 'ready') {
      expect(opened.created).toMatchObject({ uid, state: 'created', operation: identity.operation });
      // The graph's record object itself, not a parsed copy.
      expect(opened.created.record).toBe(record);
    }
    expect(existsSync(join(stores.dir(uid), 'lock'))).toBe(true);
    await store.release();
    expect(existsSync(join(stores.dir(uid), 'lock'))).toBe(false);
  });

  it('commits, tidies the owner file and lock away, and then reuses the store without a claim', async () => {
    expect(await stores.reusable(uid, record)).toBeUndefined();
    await committed();
    expect((await readdir(stores.dir(uid))).sort()).toEqual(['answer.json', 'metadata.json']);
    const reused = await stores.reusable(uid, record);
    expect(reused).toMatchObject({ state: 'committed', durationMs: 5 });
    expect(reused?.record).toBe(record);
  });

  it('clears the lock a dead process left on a committed store when reusing it', async () => {
    await committed();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    await mkdir(join(stores.dir(uid), 'lock'));
    await writeFile(join(stores.dir(uid), 'owner'), JSON.stringify({ ...owner, pid: dead, contextId: 'dead' }));
    expect(await stores.reusable(uid, record)).toMatchObject({ state: 'committed' });
    expect((await readdir(stores.dir(uid))).sort()).toEqual(['answer.json', 'metadata.json']);
  });

  it('tells a second claim of a held store who holds it', async () => {
    const store = await claimed();
    const second = await stores.claim(identity, { mayExist: true });
    expect(second.kind).toBe('held');
    expect(second.foundPublished).toBe(true);
    if (second.kind === 'held') expect(second.owner?.contextId).toBe(owner.contextId);
    await store.release();
  });

  it('gives back a store claimed ahead of time: the node reads as not started', async () => {
    const store = await claimed();
    await store.giveBack();
    expect(existsSync(stores.dir(uid))).toBe(false);
    expect(await readdir(layout.tmp)).toEqual([]);
  });

  it('keeps a store it did not publish when giving it back', async () => {
    await (await claimed()).release();
    const store = await claimed(true);
    expect(store.published).toBe(false);
    await store.giveBack();
    expect((await readStoreMetadata(stores.dir(uid)))?.state).toBe('created');
    expect(existsSync(join(stores.dir(uid), 'lock'))).toBe(false);
  });

  it('resets what an unfinished attempt left, and says what it removed', async () => {
    await (await claimed()).release();
    await writeFile(join(stores.dir(uid), 'half-written.dat'), 'x');
    const store = await claimed(true);
    const opened = await store.open();
    expect(opened).toMatchObject({ kind: 'ready', removed: ['half-written.dat'] });
    await store.release();
  });

  it('does not reuse a corrupt committed store, and quarantines it once claimed', async () => {
    await committed();
    await truncate(join(stores.dir(uid), 'answer.json'), 1);
    expect(await stores.reusable(uid, record)).toBeUndefined();
    const store = await claimed(true);
    const opened = await store.open();
    expect(opened.kind).toBe('quarantined');
    if (opened.kind === 'quarantined') {
      expect(opened.reason).toMatch(/answer\.json/);
      expect(existsSync(opened.path)).toBe(true);
    }
    expect(store.held).toBe(false);
    expect(existsSync(stores.dir(uid))).toBe(false);
  });

  it('opens a store committed by someone else meanwhile as committed, and releases it', async () => {
    await committed();
    const store = await claimed(true);
    const opened = await store.open();
    expect(opened.kind).toBe('committed');
    expect(store.held).toBe(false);
    expect(existsSync(join(stores.dir(uid), 'lock'))).toBe(false);
  });
});
