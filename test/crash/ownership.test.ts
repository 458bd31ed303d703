// Who may take a lock over (claimOwnership): a dead owner on this host at
// once; an owner on another host, or one that wrote no owner file, only once
// its heartbeat is older than the stale limit; a live owner on this host
// never, however old its heartbeat.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { claimOwnership } from '../../src/store/lock.js';
import { currentOwner, processStartTime, thisHost, type OwnerInfo } from '../../src/store/owner.js';

const STALE_MS = 5_000;
let dir: string;
let sleeper: ChildProcess;

beforeAll(() => {
  sleeper = spawn('sleep', ['60']);
});
afterAll(() => {
  sleeper.kill();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'run-graph-ownership-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

/** A store whose lock was taken `lockAgeMs` ago by `owner` (none: no owner file), the owner file written right after. */
async function lockedStore(owner: Partial<OwnerInfo> & { pid: number } | undefined, lockAgeMs: number): Promise<string> {
  const store = join(dir, 'store');
  await mkdir(join(store, 'lock'), { recursive: true });
  const lockTime = (Date.now() - lockAgeMs) / 1000;
  if (owner !== undefined) {
    const full: OwnerInfo = { host: thisHost(), contextId: `ctx-${owner.pid}`, startedAt: new Date().toISOString(), pidStartTime: processStartTime(owner.pid), ...owner };
    await writeFile(join(store, 'owner'), JSON.stringify(full));
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

describe('taking a lock over', () => {
  it('never robs a live owner on this host, however old its heartbeat', async () => {
    expect(await claim(await lockedStore({ pid: sleeper.pid ?? 0 }, 60_000))).toBe('held');
  });

  it('reclaims the lock of a dead owner on this host at once', async () => {
    expect(await claim(await lockedStore({ pid: deadPid() }, 100))).toBe('acquired');
  });

  it('reclaims after a short grace, not the stale limit, a dead owner whose owner file predates the lock', async () => {
    // A publisher killed after taking the lock and before writing its owner file anew: the file from staging names it.
    const store = await lockedStore({ pid: deadPid() }, 2_500);
    const published = (Date.now() - 3_000) / 1000;
    await utimes(join(store, 'owner'), published, published);
    expect(await claim(store)).toBe('acquired');
  });

  it('waits for an owner on another host while its heartbeat is fresh', async () => {
    expect(await claim(await lockedStore({ pid: 1, host: 'elsewhere.invalid', pidStartTime: null }, 1_000))).toBe('held');
  });

  it('takes over from an owner on another host once its heartbeat is stale', async () => {
    expect(await claim(await lockedStore({ pid: 1, host: 'elsewhere.invalid', pidStartTime: null }, STALE_MS + 2_000))).toBe('acquired');
  });

  it('judges a lock with no owner file by its heartbeat alone', async () => {
    expect(await claim(await lockedStore(undefined, 1_000))).toBe('held');
    await rm(join(dir, 'store'), { recursive: true });
    expect(await claim(await lockedStore(undefined, STALE_MS + 2_000))).toBe('acquired');
  });
});
