/**
 * Who owns a store: process id, host, the WorkerContext's id and when it
 * started, and the process's own start time, so that a pid reused by an
 * unrelated process after a crash is not mistaken for the owner.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const OWNER_FILE = 'owner';

export interface OwnerInfo {
  pid: number;
  host: string;
  /** Unique per WorkerContext, so two contexts in one process are told apart. */
  contextId: string;
  /** When the WorkerContext started (ISO 8601). */
  startedAt: string;
  /** The process's start time as the kernel counts it (Linux), or null where unknown. */
  pidStartTime: string | null;
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or null. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * This host's name as owners record it. RUN_GRAPH_HOSTNAME overrides it:
 * for hosts whose name changes (some containers), and for tests that play
 * several hosts on one machine.
 */
export function thisHost(): string {
  return process.env['RUN_GRAPH_HOSTNAME'] || hostname();
}

/** The owner record of this process for a new WorkerContext. */
export function currentOwner(): OwnerInfo {
  return {
    pid: process.pid,
    host: thisHost(),
    contextId: randomUUID(),
    startedAt: new Date().toISOString(),
    pidStartTime: processStartTime(process.pid),
  };
}

/** Whether a process with this pid exists (EPERM means it does, owned by another user). */
function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether an owner is provably dead: it ran on this host and its pid is gone,
 * or the pid now belongs to a process that started at another time. An owner
 * on another host is never provably dead; only its heartbeat can tell.
 */
export function isOwnerDead(owner: OwnerInfo): boolean {
  if (owner.host !== thisHost()) return false;
  if (!pidExists(owner.pid)) return true;
  if (owner.pidStartTime === null) return false;
  const now = processStartTime(owner.pid);
  return now !== null && now !== owner.pidStartTime;
}

export async function readOwner(storeDir: string): Promise<OwnerInfo | undefined> {
  return parseOwner(await readFile(join(storeDir, OWNER_FILE), 'utf8').catch(() => undefined));
}

/** readOwner, synchronously: the commit path reads the owner file of every node it commits, and it is a few hundred bytes. */
export function readOwnerSync(storeDir: string): OwnerInfo | undefined {
  let text: string | undefined;
  try {
    text = readFileSync(join(storeDir, OWNER_FILE), 'utf8');
  } catch {
    text = undefined;
  }
  return parseOwner(text);
}

function parseOwner(text: string | undefined): OwnerInfo | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<OwnerInfo>;
    return typeof parsed.pid === 'number' && typeof parsed.host === 'string' ? (parsed as OwnerInfo) : undefined;
  } catch {
    return undefined;
  }
}

export function sameOwner(a: OwnerInfo | undefined, b: OwnerInfo): boolean {
  return a !== undefined && a.contextId === b.contextId && a.pid === b.pid && a.host === b.host;
}
