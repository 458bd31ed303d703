// readStoreStatus, the one answer to "what state is this store in", on
// real store directories made with the store's own functions: published,
// claimed and committed as a run makes them, with owner files naming this
// process, a process that has exited, or a process on another host.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NodeRecord, Uid } from '../../src/identity/fingerprint.js';
import { commitStore, publishStore } from '../../src/store/data-store.js';
import { claimOwnership, type StoreLock } from '../../src/store/lock.js';
import { readStoreMetadata, type CommittedMetadata, type StoreMetadata } from '../../src/store/metadata.js';
import { OWNER_FILE, currentOwner, type OwnerInfo } from '../../src/store/owner.js';
import { readStoreStatus } from '../../src/store/store-status.js';
import { openWorkdir, type WorkdirLayout } from '../../src/store/workdir.js';

let dir: string;
let layout: WorkdirLayout;
let storeDir: string;
/** Locks taken by a test, released after it. */
const held: StoreLock[] = [];
const uid = 'cd'.repeat(32) as Uid;
const record = { operation: ['test', 'Op', '1'], input: {}, depends: [] } as unknown as NodeRecord;
const operation = { namespace: 'test', name: 'Op', version: '1' };

/** The pid of a process that has exited: no process has it now. */
function deadPid(): number {
  return Number(
    spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout,
  );
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'run-graph-store-status-'));
  layout = await openWorkdir(join(dir, 'work'));
  storeDir = layout.storeDir(uid);
});
afterEach(async () => {
  for (const lock of held.splice(0)) await lock.release();
  await rm(dir, { recursive: true, force: true });
});

/** Publish the store with `owner` named in its owner file; returns its metadata as written. */
async function published(owner: OwnerInfo): Promise<StoreMetadata> {
  expect(await publishStore(layout, { uid, record, operation }, owner)).toBe('created');
  const metadata = await readStoreMetadata(storeDir);
  if (metadata === undefined) throw new Error('no metadata after publishing');
  return metadata;
}

/** Take the store's lock with `owner` written into its owner file (the lock itself is this process's, released after the test). */
async function claimed(owner: OwnerInfo): Promise<StoreLock> {
  const claim = await claimOwnership(storeDir, owner);
  if (claim.kind !== 'acquired') throw new Error(`expected to acquire the lock, got ${claim.kind}`);
  held.push(claim.lock);
  return claim.lock;
}

async function committed(owner: OwnerInfo): Promise<CommittedMetadata> {
  const created = await published(owner);
  const lock = await claimed(owner);
  const metadata = await commitStore(
    storeDir,
    created,
    { n: { kind: 'json', value: 1 } },
    { durationMs: 3, beforeCommit: async () => lock.assertHeld() },
  );
  await lock.release();
  return metadata;
}

describe('readStoreStatus', () => {
  it('says not-started when there is no store directory', async () => {
    expect(await readStoreStatus(storeDir)).toEqual({ state: 'not-started' });
  });

  it('says committed, with the committed metadata, for a committed store', async () => {
    const owner = currentOwner();
    const metadata = await committed(owner);
    expect(await readStoreStatus(storeDir)).toEqual({
      state: 'committed',
      metadata,
      locked: false,
      owner: { ...owner, alive: true },
    });
  });

  it('says committed for a committed store whatever lock is left on it, and reports that lock', async () => {
    const owner = currentOwner();
    const metadata = await committed(owner);
    await claimed(owner);
    expect(await readStoreStatus(storeDir)).toMatchObject({
      state: 'committed',
      metadata,
      locked: true,
      owner: { pid: process.pid, alive: true },
    });
  });

  it('says incomplete for an uncommitted store with no lock, even when its owner lives', async () => {
    const owner = currentOwner();
    const metadata = await published(owner);
    expect(await readStoreStatus(storeDir)).toEqual({
      state: 'incomplete',
      metadata,
      locked: false,
      owner: { ...owner, alive: true },
    });
  });

  it('says incomplete for an uncommitted store whose lock names a process that has exited', async () => {
    const dead = { ...currentOwner(), pid: deadPid() };
    const metadata = await published(dead);
    await claimed(dead);
    expect(await readStoreStatus(storeDir)).toEqual({
      state: 'incomplete',
      metadata,
      locked: true,
      owner: { ...dead, alive: false },
    });
  });

  it('says incomplete for a locked store with no owner file: no owner is named, so none is running', async () => {
    const owner = currentOwner();
    const metadata = await published(owner);
    await claimed(owner);
    await rm(join(storeDir, OWNER_FILE));
    expect(await readStoreStatus(storeDir)).toEqual({ state: 'incomplete', metadata, locked: true, owner: undefined });
  });

  it('says running, naming the owner, for an uncommitted store whose lock this process holds', async () => {
    const owner = currentOwner();
    const metadata = await published(owner);
    await claimed(owner);
    expect(await readStoreStatus(storeDir)).toEqual({
      state: 'running',
      metadata,
      locked: true,
      owner: { ...owner, alive: true },
    });
  });

  it('counts an owner on another host as alive: from here it cannot be proven dead', async () => {
    const elsewhere = { ...currentOwner(), pid: deadPid(), host: 'another-host.invalid' };
    await published(elsewhere);
    await claimed(elsewhere);
    expect(await readStoreStatus(storeDir)).toMatchObject({
      state: 'running',
      owner: { pid: elsewhere.pid, host: elsewhere.host, alive: true },
    });
  });

  it('says incomplete, not not-started, for a store directory without readable metadata', async () => {
    await mkdir(storeDir);
    expect(await readStoreStatus(storeDir)).toEqual({
      state: 'incomplete',
      metadata: undefined,
      locked: false,
      owner: undefined,
    });
  });

  it('judges from the metadata the caller already read, and takes it as saying the store exists', async () => {
    const owner = currentOwner();
    const created = await published(owner);
    const asListed: CommittedMetadata = {
      ...created,
      state: 'committed',
      committedAt: '2020-01-01T00:00:00.000Z',
      durationMs: 1,
      artifacts: {},
    };
    expect(await readStoreStatus(storeDir, { metadata: asListed })).toMatchObject({
      state: 'committed',
      metadata: asListed,
    });
    // Listed with unreadable metadata, then removed (gc, say): still a store that was there, not one never started.
    await rm(storeDir, { recursive: true });
    expect(await readStoreStatus(storeDir, { metadata: undefined })).toEqual({
      state: 'incomplete',
      metadata: undefined,
      locked: false,
      owner: undefined,
    });
  });
});
