/**
 * The process group an operation started (a Subprocess's command), recorded
 * in its store while it runs: `process-group`, holding the group id (the
 * leader's pid), the leader's start time (field 22 of /proc/PID/stat) and the
 * host. Whoever takes the store over after its owner died kills what is left
 * of that group before anything else happens in the store, so a killed run
 * leaves no command running beside its next attempt.
 *
 * The start time guards against a recycled pid: a group is killed only if
 * its leader still has the recorded start time, or the leader is gone and
 * the group id is still in use (Linux does not hand out a pid that is still
 * some group's id, so such a group is the recorded one).
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempNameFor, writeFileQuick } from './durable.js';
import { processStartTime, thisHost } from './owner.js';

export const PROCESS_GROUP_FILE = 'process-group';

/** What `process-group` holds. */
export interface ProcessGroupRecord {
  pgid: number;
  /** The leader's start time in clock ticks since boot, or null where /proc is not there. */
  startTime: string | null;
  host: string;
}

/** Where a store records its process group, and the host the record names: what a launcher needs to write it. */
export interface ProcessGroupPlace {
  path: string;
  host: string;
}

export function processGroupPlace(storeDir: string): ProcessGroupPlace {
  return { path: join(storeDir, PROCESS_GROUP_FILE), host: thisHost() };
}

function recordText(pgid: number, host: string): string {
  const record: ProcessGroupRecord = { pgid, startTime: processStartTime(pgid), host };
  return JSON.stringify(record);
}

/**
 * Record that `pgid` runs for this store. Not fsynced: after a power cut
 * no process survives to be killed.
 */
export async function recordProcessGroup(storeDir: string, pgid: number): Promise<void> {
  const { path, host } = processGroupPlace(storeDir);
  await writeFileQuick(path, recordText(pgid, host));
}

/**
 * The same from the launcher (operations/launcher-process.ts), which has no
 * event loop to keep free: synchronous, under a temporary name renamed into
 * place, as above.
 */
export function recordProcessGroupSync(place: ProcessGroupPlace, pgid: number): void {
  const temp = tempNameFor(place.path);
  writeFileSync(temp, recordText(pgid, place.host), { flag: 'wx' });
  renameSync(temp, place.path);
}

/** The group ended (its leader exited and was waited for): forget it. */
export function forgetProcessGroup(storeDir: string): void {
  forgetProcessGroupAt(join(storeDir, PROCESS_GROUP_FILE));
}

export function forgetProcessGroupAt(path: string): void {
  rmSync(path, { force: true });
}

function readRecord(storeDir: string): ProcessGroupRecord | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(storeDir, PROCESS_GROUP_FILE), 'utf8')) as Partial<ProcessGroupRecord>;
    return typeof parsed.pgid === 'number' && parsed.pgid > 1 && typeof parsed.host === 'string'
      ? { pgid: parsed.pgid, startTime: parsed.startTime ?? null, host: parsed.host }
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * SIGKILL what is left of the process group a store records, if it is still
 * the recorded one and on this host, and forget it. For a process that has
 * just taken the store over: its previous owner is dead (or it would not
 * hold the lock), so nothing else can be waiting for that group. Returns the
 * group id killed, or undefined.
 */
export function killLeftoverProcessGroup(storeDir: string): number | undefined {
  const record = readRecord(storeDir);
  if (record === undefined) return undefined;
  let killed: number | undefined;
  if (record.host === thisHost()) {
    const leaderStart = processStartTime(record.pgid);
    // Leader alive with another start time: the pid was recycled, and that group is someone else's.
    // Without /proc (no start time recorded) nothing proves the group is the recorded one: left alone.
    const same = record.startTime !== null && (leaderStart === null || leaderStart === record.startTime);
    if (same) {
      try {
        process.kill(-record.pgid, 'SIGKILL');
        killed = record.pgid;
      } catch {
        // No such group any more.
      }
    }
  }
  forgetProcessGroup(storeDir);
  return killed;
}
