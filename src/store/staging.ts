/**
 * Names of staging entries in `tmp/`: `<uid prefix>.<owner tag>` (see
 * ownerTag). The name alone says who staged an entry, so an entry whose
 * process died before writing anything into it is still known to be
 * abandoned.
 */
import { ownerTag, parseOwnerTag, type OwnerInfo } from './owner.js';

export function stagingName(uidPrefix: string, owner: OwnerInfo): string {
  return `${uidPrefix}.${ownerTag(owner)}`;
}

/** The owner a staging entry's name records, or undefined for a name of another form. */
export function stagingOwner(name: string): OwnerInfo | undefined {
  const match = /^[0-9a-f]+\.(.+)$/.exec(name);
  return match?.[1] === undefined ? undefined : parseOwnerTag(match[1]);
}
