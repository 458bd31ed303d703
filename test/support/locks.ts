/**
 * Hand-made locks for the lock tests: owner records of chosen processes, a
 * pid known to be dead, and a lock whose holder never got its owner file
 * into place.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pendingOwnerPath, processStartTime, thisHost, type OwnerInfo } from '../../src/store/owner.js';

/** The owner record process `pid` on this host would write, with `overrides` (another host, no start time...). */
export function ownerFor(pid: number, overrides: Partial<OwnerInfo> = {}): OwnerInfo {
  return {
    pid,
    host: thisHost(),
    contextId: `ctx-${pid}`,
    startedAt: new Date().toISOString(),
    pidStartTime: processStartTime(pid),
    ...overrides,
  };
}

/** The pid of a process that has exited (a node that printed its pid and ended). */
export function deadPid(): number {
  return Number(
    spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout,
  );
}

/**
 * A lock taken 100 ms ago by `holder`, who then died or stalled with its
 * owner file still under its temporary name: written (`content`), or
 * created and still empty. Returns the temporary owner file's path.
 */
export async function lockWithPendingOwner(
  storeDir: string,
  holder: OwnerInfo,
  content: 'written' | 'empty' = 'written',
): Promise<string> {
  await mkdir(join(storeDir, 'lock'), { recursive: true });
  const lockTime = (Date.now() - 100) / 1000;
  await utimes(join(storeDir, 'lock'), lockTime, lockTime);
  const pending = pendingOwnerPath(storeDir, holder);
  await writeFile(pending, content === 'written' ? JSON.stringify(holder) : '');
  return pending;
}

/** The names in a store directory, sorted. */
export async function entries(storeDir: string): Promise<string[]> {
  return (await readdir(storeDir)).sort();
}
