/**
 * Named points in the store protocol where the crash tests make a process
 * kill itself, or make a write fail as a full or read-only disk would. The
 * moments a random SIGKILL rarely hits are exactly the ones the protocol must
 * survive, so the tests aim at them on purpose:
 *
 *     RUN_GRAPH_KILL_AT=after-artifact-write       SIGKILL at the first pass
 *     RUN_GRAPH_KILL_AT=after-rename#3             ... at the third pass
 *     RUN_GRAPH_FAIL_AT=artifact-write:ENOSPC      a write fails with ENOSPC
 *     RUN_GRAPH_FAIL_AT=metadata-rename:EIO#1      ... only at the first pass
 *
 * Unset (as in normal use), every point is a no-op costing one comparison.
 */

export type FaultPoint =
  /** The store is complete in tmp/, not yet renamed into place. */
  | 'after-tmp-created'
  /** The store was renamed to `<uid>/`, not yet locked. */
  | 'after-rename'
  /** Artifacts are durable, metadata still says `created`. */
  | 'after-artifact-write'
  /** The committed metadata is fsynced under its temporary name, not yet renamed. */
  | 'after-metadata-temp'
  /** metadata.json says `committed`; the lock is still held. */
  | 'after-commit'
  /** A forced node's committed store was moved to superseded/; nothing else has happened. */
  | 'after-supersede';

/** Writes that fault injection can make fail (`metadata-rename`: the rename that commits a store). */
export type FaultWrite = 'publish' | 'artifact-write' | 'metadata-write' | 'metadata-rename';

interface KillPlan {
  point: string;
  at: number;
}

function parseKillPlan(text: string | undefined): KillPlan | undefined {
  if (text === undefined || text === '') return undefined;
  const [point = '', count] = text.split('#');
  return { point, at: count === undefined ? 1 : Number(count) };
}

function parseFailPlan(text: string | undefined): { write: string; code: string; only?: number } | undefined {
  if (text === undefined || text === '') return undefined;
  const [plan = '', count] = text.split('#');
  const [write = '', code = 'EIO'] = plan.split(':');
  return count === undefined ? { write, code } : { write, code, only: Number(count) };
}

const killPlan = parseKillPlan(process.env['RUN_GRAPH_KILL_AT']);
const failPlan = parseFailPlan(process.env['RUN_GRAPH_FAIL_AT']);
let passes = 0;
let writePasses = 0;

/** Kill this process here if RUN_GRAPH_KILL_AT names this point (and pass). */
export function faultPoint(point: FaultPoint): void {
  if (killPlan === undefined || killPlan.point !== point) return;
  passes++;
  if (passes === killPlan.at) process.kill(process.pid, 'SIGKILL');
}

/** Throw the injected error if RUN_GRAPH_FAIL_AT names this write. */
export function faultWrite(write: FaultWrite, path: string): void {
  if (failPlan === undefined || failPlan.write !== write) return;
  writePasses++;
  if (failPlan.only !== undefined && writePasses !== failPlan.only) return;
  const messages: { [code: string]: string } = {
    ENOSPC: 'no space left on device',
    EROFS: 'read-only file system',
    EACCES: 'permission denied',
    EIO: 'i/o error',
  };
  const error = new Error(
    `${failPlan.code}: ${messages[failPlan.code] ?? 'injected fault'}, open '${path}'`,
  ) as NodeJS.ErrnoException;
  error.code = failPlan.code;
  error.path = path;
  throw error;
}
