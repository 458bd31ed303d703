// The store lock, in-process (claimOwnership, primeLockClock): who may take
// a lock over. A dead owner on this host at once; an owner on another host,
// or one that wrote no owner file, only once its heartbeat is older than
// the stale limit; a live owner on this host never, however old its
// heartbeat. A holder that died before its owner file was in place (only
// the temporary owner file names it) is taken over at once, and a reclaim
// guard is left alone while its reclaimer lives. Live owners are a
// `sleep` child; dead ones a process that has exited. Nothing is killed
// here: the tests that SIGKILL real processes are in test/crash/.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { claimOwnership, primeLockClock } from '../../src/store/lock.js';
import { OWNER_FILE, currentOwner, ownerTag, type OwnerInfo } from '../../src/store/owner.js';
import { deadPid, entries, lockWithPendingOwner, ownerFor } from '../support/locks.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

const STALE_MS = 5_000;
let box: Sandbox;
let dir: string;
let sleeper: ChildProcess;

beforeAll(() => {
  sleeper = spawn('sleep', ['60']);
});
afterAll(() => {
  sleeper.kill();
});
beforeEach(async () => {
  box = await createSandbox();
  dir = box.dir;
});
afterEach(async () => box.cleanup());

/** A store whose lock was taken `lockAgeMs` ago by `owner` (none: no owner file), the owner file written right after. */
async function lockedStore(owner: OwnerInfo | undefined, lockAgeMs: number): Promise<string> {
  const store = join(dir, 'store');
  await mkdir(join(store, 'lock'), { recursive: true });
  const lockTime = (Date.now() - lockAgeMs) / 1000;
  if (owner !== undefined) {
    await writeFile(join(store, 'owner'), JSON.stringify(owner));
    await utimes(join(store, 'owner'), lockTime + 0.001, lockTime + 0.001);
  }
  await utimes(join(store, 'lock'), lockTime, lockTime);
  return store;
}

async function claim(store: string): Promise<string> {
  const result = await claimOwnership(store, currentOwner(), { staleMs: STALE_MS });
  if (result.kind === 'acquired') await result.lock.release();
  return result.kind;
}

// First in this file: nothing has taken a lock in this module yet.
describe('the lock clock', () => {
  it('dates locks when taken once primed, so they can be proven their holder’s', async () => {
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
});

describe('taking a lock over', () => {
  it('never robs a live owner on this host, however old its heartbeat', async () => {
    expect(await claim(await lockedStore(ownerFor(sleeper.pid ?? 0), 60_000))).toBe('held');
  });

  it('reclaims the lock of a dead owner on this host at once', async () => {
    expect(await claim(await lockedStore(ownerFor(deadPid()), 100))).toBe('acquired');
  });

  it('reclaims after a short grace, not the stale limit, a dead owner whose owner file predates the lock', async () => {
    // A publisher killed after taking the lock and before writing its owner file anew: the file from staging names it.
    const store = await lockedStore(ownerFor(deadPid()), 2_500);
    const published = (Date.now() - 3_000) / 1000;
    await utimes(join(store, 'owner'), published, published);
    expect(await claim(store)).toBe('acquired');
  });

  it('waits for an owner on another host while its heartbeat is fresh', async () => {
    expect(await claim(await lockedStore(ownerFor(1, { host: 'elsewhere.invalid', pidStartTime: null }), 1_000))).toBe(
      'held',
    );
  });

  it('takes over from an owner on another host once its heartbeat is stale', async () => {
    expect(
      await claim(await lockedStore(ownerFor(1, { host: 'elsewhere.invalid', pidStartTime: null }), STALE_MS + 2_000)),
    ).toBe('acquired');
  });

  it('judges a lock with no owner file by its heartbeat alone', async () => {
    expect(await claim(await lockedStore(undefined, 1_000))).toBe('held');
    await rm(join(dir, 'store'), { recursive: true });
    expect(await claim(await lockedStore(undefined, STALE_MS + 2_000))).toBe('acquired');
  });
});

describe('locks whose holder died before its owner file was in place', () => {
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

describe('a reclaim guard left by a reclaimer', () => {
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

describe('the owner file a claim writes', () => {
  /** An unlocked store whose owner file holds `text`, dated a minute ago. */
  async function storeOwnedBy(text: string): Promise<string> {
    const store = join(dir, 'store');
    await mkdir(store, { recursive: true });
    await writeFile(join(store, OWNER_FILE), text);
    const minuteAgo = (Date.now() - 60_000) / 1000;
    await utimes(join(store, OWNER_FILE), minuteAgo, minuteAgo);
    return store;
  }

  const me = currentOwner();

  async function claimed(store: string): Promise<{ text: string; ino: number; mtimeMs: number; lockMtimeMs: number }> {
    // Locks dated as they are taken (see the lock clock), to compare with the owner file's date.
    await mkdir(join(dir, 'tmp'), { recursive: true });
    await primeLockClock(join(dir, 'tmp'), me);
    const result = await claimOwnership(store, me, { staleMs: STALE_MS });
    expect(result.kind).toBe('acquired');
    const [owner, lock] = await Promise.all([stat(join(store, OWNER_FILE)), stat(join(store, 'lock'))]);
    const text = await readFile(join(store, OWNER_FILE), 'utf8');
    if (result.kind === 'acquired') await result.lock.release();
    return { text, ino: owner.ino, mtimeMs: owner.mtimeMs, lockMtimeMs: lock.mtimeMs };
  }

  it('naming this owner already (a store it just published), is renewed in place: the same file, dated after the lock', async () => {
    const mine = JSON.stringify(me);
    const store = await storeOwnedBy(mine);
    const before = await stat(join(store, OWNER_FILE));
    const after = await claimed(store);
    expect(after.text).toBe(mine);
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).toBeGreaterThanOrEqual(after.lockMtimeMs);
    expect(await entries(store)).not.toContainEqual(expect.stringMatching(/^\.rg-tmp-/));
  });

  it('naming another owner, or holding more, is replaced by a new file naming this one', async () => {
    const mine = JSON.stringify(me);
    for (const other of [JSON.stringify(ownerFor(deadPid())), `${mine}\n`, mine.slice(0, -1)]) {
      const store = await storeOwnedBy(other);
      const before = await stat(join(store, OWNER_FILE));
      const after = await claimed(store);
      expect(after.text).toBe(mine);
      expect(after.ino, other).not.toBe(before.ino);
      expect(after.mtimeMs).toBeGreaterThanOrEqual(after.lockMtimeMs);
      await rm(store, { recursive: true });
    }
  });
});
