/**
 * Names that say who made a file or directory, for the entries a process
 * stages before it can write anything into them: `tmp/` staging entries,
 * `<uid prefix>.<owner tag>`, and temporary owner files. An owner tag is
 * `<pid>.<pid start time>.<random>.<host>`, so an entry whose process died
 * before writing anything into it is still known to be abandoned.
 */
import { randomBytes } from 'node:crypto';
import type { OwnerInfo } from './owner.js';

/** A fresh tag naming `owner`: unique, and parsed back by parseOwnerTag. */
export function ownerTag(owner: OwnerInfo): string {
  return `${owner.pid}.${owner.pidStartTime ?? 'x'}.${randomBytes(6).toString('hex')}.${encodeURIComponent(owner.host)}`;
}

/** The owner a tag records (its context id unknown: empty), or undefined for text of another form. */
export function parseOwnerTag(tag: string): OwnerInfo | undefined {
  const match = /^(\d+)\.(\d+|x)\.[0-9a-f]+\.(.+)$/.exec(tag);
  if (match === null) return undefined;
  const [, pid, start, host] = match;
  return { pid: Number(pid), host: decodeURIComponent(host ?? ''), contextId: '', startedAt: '', pidStartTime: start === 'x' || start === undefined ? null : start };
}

export function stagingName(uidPrefix: string, owner: OwnerInfo): string {
  return `${uidPrefix}.${ownerTag(owner)}`;
}

/** The owner a staging entry's name records, or undefined for a name of another form. */
export function stagingOwner(name: string): OwnerInfo | undefined {
  const match = /^[0-9a-f]+\.(.+)$/.exec(name);
  return match?.[1] === undefined ? undefined : parseOwnerTag(match[1]);
}
