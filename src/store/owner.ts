/**
 * Who owns a store: process id, host, the WorkerContext's id and when it
 * started, and the process's own start time, so that a pid reused by an
 * unrelated process after a crash is not mistaken for the owner.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { TEMP_PREFIX, readSmallFileSync, uniqueSuffix } from './durable.js';

export const OWNER_FILE = 'owner';
/** The owner file is written under a temporary name, this prefix and an owner tag, then renamed into place. */
const PENDING_OWNER_PREFIX = `${TEMP_PREFIX}${OWNER_FILE}.`;

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

/**
 * A host name longer than this once encoded is recorded in a tag by a hash
 * of it, so that a file name stays within the 255 bytes file systems allow.
 */
const TAG_HOST_MAX = 64;

function tagHost(host: string): string {
  const encoded = encodeURIComponent(host);
  return encoded.length <= TAG_HOST_MAX ? encoded : `~${createHash('sha256').update(host).digest('hex').slice(0, 32)}`;
}

/**
 * A fresh tag naming `owner`, for a file or directory it makes before it can
 * write anything into it (staging entries, temporary owner files):
 * `<pid>.<pid start time>.<random>.<host>`, unique, and parsed back by
 * parseOwnerTag.
 */
export function ownerTag(owner: OwnerInfo): string {
  return `${owner.pid}.${owner.pidStartTime ?? 'x'}.${uniqueSuffix()}.${tagHost(owner.host)}`;
}

/**
 * The owner a tag records, its context id unknown (empty), or undefined for
 * text of another form. A host recorded by its hash is recognised only if it
 * is this one; another stays the hash, which names no host here.
 */
export function parseOwnerTag(tag: string): OwnerInfo | undefined {
  const match = /^(\d+)\.(\d+|x)\.[0-9a-f]+\.(.+)$/.exec(tag);
  if (match === null) return undefined;
  const [, pid, start, hostText = ''] = match;
  let host: string;
  try {
    host = hostText.startsWith('~')
      ? hostText === tagHost(thisHost())
        ? thisHost()
        : hostText
      : decodeURIComponent(hostText);
  } catch {
    return undefined; // not a tag of ours: a malformed escape
  }
  return {
    pid: Number(pid),
    host,
    contextId: '',
    startedAt: '',
    pidStartTime: start === 'x' || start === undefined ? null : start,
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
  return parseOwner(readFileQuietly(join(storeDir, OWNER_FILE)));
}

/**
 * Where `owner` writes its owner file before renaming it into place. The
 * name says who wrote it: a holder killed before the rename, even before
 * writing a byte, leaves a file that still names it, and nothing else does.
 */
export function pendingOwnerPath(storeDir: string, owner: OwnerInfo): string {
  return join(storeDir, `${PENDING_OWNER_PREFIX}${ownerTag(owner)}`);
}

/** The temporary owner files in a store (see pendingOwnerPath), by path. */
export function pendingOwnerFiles(storeDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(storeDir);
  } catch {
    return [];
  }
  return names.filter((name) => name.startsWith(PENDING_OWNER_PREFIX)).map((name) => join(storeDir, name));
}

/** What a store's owner files tell of who holds its lock. */
export interface OwnerEvidence {
  /** Who the owner file that counts names (see readLockHolder). */
  owner: OwnerInfo | undefined;
  /** When that file was written: its mtime in nanoseconds. */
  writtenAtNs: bigint | undefined;
  /** The temporary owner files there were. */
  pending: string[];
}

/**
 * Who holds a store's lock, as far as its files tell: the owner file, unless
 * it predates the lock (whose mtime is `lockTimeNs`) and a temporary owner
 * file was made after it. Such a file belongs to a holder writing its owner
 * file now, or to one killed before renaming it into place, and its name
 * (its content too, once written) names that holder; without it, a lock
 * whose holder died in that moment could only be judged by its heartbeat's
 * age. Times are compared in whole nanoseconds: a lock and the owner file
 * written right after it often carry the same kernel timestamp, which
 * milliseconds in floating point do not always show as equal.
 */
export function readLockHolder(storeDir: string, lockTimeNs: bigint): OwnerEvidence {
  const holder: OwnerEvidence = {
    writtenAtNs: mtimeNs(join(storeDir, OWNER_FILE)),
    owner: readOwnerSync(storeDir),
    pending: pendingOwnerFiles(storeDir),
  };
  if (holder.owner !== undefined && holder.writtenAtNs !== undefined && holder.writtenAtNs >= lockTimeNs) return holder;
  for (const path of holder.pending) {
    const writtenAtNs = mtimeNs(path);
    if (
      writtenAtNs === undefined ||
      (holder.owner !== undefined && holder.writtenAtNs !== undefined && writtenAtNs <= holder.writtenAtNs)
    )
      continue;
    const owner = parseOwner(readFileQuietly(path)) ?? parseOwnerTag(basename(path).slice(PENDING_OWNER_PREFIX.length));
    if (owner !== undefined) Object.assign(holder, { owner, writtenAtNs });
  }
  return holder;
}

/** Milliseconds since a time given in nanoseconds (a file's mtimeNs). */
export function ageMs(timeNs: bigint): number {
  return Date.now() - Number(timeNs / 1_000_000n);
}

/** A path's mtime in nanoseconds, or undefined if it is gone. */
export function mtimeNs(path: string): bigint | undefined {
  return statSync(path, { throwIfNoEntry: false, bigint: true })?.mtimeNs;
}

function readFileQuietly(path: string): string | undefined {
  try {
    return readSmallFileSync(path);
  } catch {
    return undefined;
  }
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
