/**
 * The stores a run moved to `quarantine/` because they failed verification.
 * Nothing in run-graph reads them again: they are kept so that a user can
 * look at what went wrong, and `gc` lists them (with their age and size) and
 * deletes them with `--yes`, keeping those younger than `--keep-quarantine`.
 *
 * An entry's name is `<uid>.<time it was moved, ':' and '.' as '-'>.<random>`
 * (see quarantineStore); its age is read from that time, or from the
 * entry's modification time when the name does not carry one.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RunGraphError } from '../errors.js';
import { directorySize } from '../store/store-index.js';
import type { WorkdirLayout } from '../store/workdir.js';

/** One store in quarantine. */
export interface QuarantinedStore {
  /** The entry's name inside `quarantine/`. */
  name: string;
  /** The uid it had, when the name starts with one. */
  uid: string | undefined;
  /** When it was moved aside (ISO 8601). */
  quarantinedAt: string;
  bytes: number;
}

const ENTRY_NAME = /^([0-9a-f]{64})\.(\d{4}-\d\d-\d\dT\d\d)-(\d\d)-(\d\d)-(\d{3})Z\./;

/** When an entry was quarantined, from its name; undefined when its name does not say. */
export function quarantineTime(name: string): { uid: string; at: Date } | undefined {
  const match = ENTRY_NAME.exec(name);
  if (match === null) return undefined;
  const [, uid, hour, minutes, seconds, millis] = match;
  const at = new Date(`${hour}:${minutes}:${seconds}.${millis}Z`);
  return uid === undefined || Number.isNaN(at.getTime()) ? undefined : { uid, at };
}

/** Every entry of `quarantine/`, oldest first (none when there is no such directory). */
export async function listQuarantine(layout: WorkdirLayout): Promise<QuarantinedStore[]> {
  const names = await readdir(layout.quarantine).catch(() => [] as string[]);
  const entries: QuarantinedStore[] = [];
  for (const name of names) {
    const path = join(layout.quarantine, name);
    const parsed = quarantineTime(name);
    const at = parsed?.at ?? (await lstat(path).catch(() => undefined))?.mtime;
    if (at === undefined) continue;
    entries.push({ name, uid: parsed?.uid, quarantinedAt: at.toISOString(), bytes: await directorySize(path) });
  }
  return entries.sort((a, b) => a.quarantinedAt.localeCompare(b.quarantinedAt));
}

/** The entries older than `keepMs` at `now`: what `gc --yes` deletes. */
export function expiredQuarantine(
  entries: readonly QuarantinedStore[],
  keepMs: number,
  now: number = Date.now(),
): QuarantinedStore[] {
  return entries.filter((entry) => now - Date.parse(entry.quarantinedAt) >= keepMs);
}

/** Delete quarantined stores. Nothing else uses them, so no lock is needed. */
export async function deleteQuarantined(layout: WorkdirLayout, entries: readonly QuarantinedStore[]): Promise<number> {
  let freed = 0;
  for (const entry of entries) {
    await rm(join(layout.quarantine, entry.name), { recursive: true, force: true });
    freed += entry.bytes;
  }
  return freed;
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `--keep-quarantine`: `7d`, `12h`, `30m`, `90s` or a number of seconds, as milliseconds. */
export function parseQuarantineAge(text: string): number {
  const match = DURATION.exec(text.trim());
  if (match === null) {
    throw new RunGraphError(
      'E_USAGE',
      `--keep-quarantine expects an age such as 7d, 12h, 30m or 90s, got ${JSON.stringify(text)}`,
      {
        value: text,
      },
    );
  }
  const unit = (match[2] ?? 's') as keyof typeof UNIT_MS;
  return Number(match[1]) * UNIT_MS[unit];
}
