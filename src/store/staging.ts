/**
 * Names of staging entries in `tmp/`: `<uid prefix>.<pid>.<pid start time>.<random>.<host>`.
 * The name alone says who staged an entry, so an entry whose process died
 * before writing anything into it is still known to be abandoned.
 */
import { randomBytes } from 'node:crypto';
import type { OwnerInfo } from './owner.js';

export function stagingName(uidPrefix: string, owner: OwnerInfo): string {
  return `${uidPrefix}.${owner.pid}.${owner.pidStartTime ?? 'x'}.${randomBytes(6).toString('hex')}.${encodeURIComponent(owner.host)}`;
}

/** The owner a staging entry's name records, or undefined for a name of another form. */
export function stagingOwner(name: string): OwnerInfo | undefined {
  const match = /^[0-9a-f]+\.(\d+)\.(\d+|x)\.[0-9a-f]+\.(.+)$/.exec(name);
  if (match === null) return undefined;
  const [, pid, start, host] = match;
  return { pid: Number(pid), host: decodeURIComponent(host ?? ''), contextId: '', startedAt: '', pidStartTime: start === 'x' || start === undefined ? null : start };
}
