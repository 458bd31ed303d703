/**
 * No orphans: the commands a run starts die with it. Node cannot ask the
 * kernel to signal a child when its parent dies (PR_SET_PDEATHSIG), so this
 * process keeps one small helper, the watchdog (watchdog-process.ts), with
 * a pipe to it. It is told each process group a Subprocess starts and ends;
 * when run-graph exits for any reason, SIGKILL included, the kernel closes
 * the pipe and the watchdog kills every group still running.
 *
 * One watchdog per process, started with the first command and reused by
 * every later one, so a command costs a line on a pipe, not a process. It is
 * unreferenced: it never keeps this process alive. If it cannot start, or
 * dies, commands still run; the process group recorded in each store (see
 * store/process-group.ts) is then what stops a dead run's command, when its
 * store is next taken over.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

let watchdog: ChildProcess | undefined;
let failed = false;

function started(): ChildProcess | undefined {
  if (watchdog !== undefined || failed) return watchdog;
  try {
    const child = spawn(process.execPath, [fileURLToPath(new URL('./watchdog-process.js', import.meta.url))], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    child.on('error', () => {
      failed = true;
      watchdog = undefined;
    });
    child.on('exit', () => {
      watchdog = undefined;
    });
    child.stdin?.on('error', () => undefined);
    child.unref();
    // The pipe must not keep this process alive either (a Socket; unref is on the handle).
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    watchdog = child;
  } catch {
    failed = true;
  }
  return watchdog;
}

/** Have the watchdog kill process group `pgid` if this process dies before `unwatchProcessGroup(pgid)`. */
export function watchProcessGroup(pgid: number): void {
  started()?.stdin?.write(`+${pgid}\n`);
}

/** Group `pgid` has ended: the watchdog forgets it (its id may be reused). */
export function unwatchProcessGroup(pgid: number): void {
  watchdog?.stdin?.write(`-${pgid}\n`);
}
