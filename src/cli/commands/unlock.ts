/**
 * `run-graph unlock`: list the locks of a working directory, remove those of
 * provably dead owners, and say which live owners hold which nodes.
 * `--force <uid>` removes a named lock whoever holds it, after a warning.
 */
import { RunGraphError, assertNever } from '../../errors.js';
import { parseUid, shortUid } from '../../identity/fingerprint.js';
import { listLocks, removeLock, type LockInfo } from '../../store/unlock.js';
import { isRunGraphWorkdir, workdirLayout } from '../../store/workdir.js';
import { EXIT } from '../exit-codes.js';
import { formatMs } from '../reporter.js';

export interface UnlockCommandOptions {
  workdir?: string;
  force?: string[];
  json?: boolean;
}

function describeHolder(lock: LockInfo): string {
  const age = `heartbeat ${formatMs(Math.round(lock.heartbeatAgeMs))} ago`;
  switch (lock.holder.status) {
    case 'dead':
      return `owner pid ${lock.holder.owner.pid} on ${lock.holder.owner.host} is dead`;
    case 'alive':
      return `held by live pid ${lock.holder.owner.pid} on ${lock.holder.owner.host} (${age})`;
    case 'other-host':
      return `held by pid ${lock.holder.owner.pid} on host ${lock.holder.owner.host}, which cannot be checked from here (${age})`;
    case 'unknown':
      return `no owner file (${age}); a process may have just taken it`;
    default:
      return assertNever(lock.holder, 'lock holder');
  }
}

export async function unlockCommand(options: UnlockCommandOptions): Promise<number> {
  const root = options.workdir ?? '.';
  if (!(await isRunGraphWorkdir(root))) {
    throw new RunGraphError('E_WORKDIR', `${root} is not a run-graph working directory`, {
      value: root,
      hint: 'name it with --workdir',
    });
  }
  const layout = workdirLayout(root);
  const forced = new Set((options.force ?? []).map(parseUid));
  const locks = await listLocks(layout);
  const removed: LockInfo[] = [];
  const kept: LockInfo[] = [];
  for (const lock of locks) {
    if (lock.holder.status === 'dead' || forced.has(lock.uid)) {
      if (forced.has(lock.uid) && lock.holder.status !== 'dead' && options.json !== true) {
        process.stderr.write(
          `warning: removing the lock of ${lock.uid} by --force: ${describeHolder(lock)}; if that process is still running, it will not commit this node\n`,
        );
      }
      await removeLock(layout, lock.uid);
      removed.push(lock);
    } else {
      kept.push(lock);
    }
  }
  const missing = [...forced].filter((uid) => !locks.some((l) => l.uid === uid));
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify({ removed, kept, notLocked: missing }, null, 2)}\n`);
  } else {
    for (const lock of removed) process.stdout.write(`removed  ${shortUid(lock.uid)}  ${describeHolder(lock)}\n`);
    for (const lock of kept) process.stdout.write(`kept     ${shortUid(lock.uid)}  ${describeHolder(lock)}\n`);
    for (const uid of missing) process.stdout.write(`         ${shortUid(uid)}  not locked\n`);
    process.stdout.write(
      `${locks.length} lock${locks.length === 1 ? '' : 's'}: ${removed.length} removed, ${kept.length} kept\n`,
    );
  }
  return EXIT.ok;
}
