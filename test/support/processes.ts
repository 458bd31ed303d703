/** Processes seen through /proc (Linux): whether one runs, and the launcher child of a run-graph process. */
import { readFileSync, readdirSync } from 'node:fs';

/** Whether a process runs (a zombie waiting for its parent to reap it counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The parent of a process, or undefined if it is gone. */
export function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** The launcher child of run-graph process `parent` (operations/launcher.ts), which is also its watchdog. */
export function launcherOf(parent: number): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (
        parentOf(Number(name)) === parent &&
        readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('launcher-process.js')
      )
        return Number(name);
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}

/**
 * A first node for a workflow whose other nodes must be started by the
 * launcher: it takes a second, by when the launcher (started with the run's
 * first command) is ready. Its stdout is "1\n"; refer to it as `first`.
 */
export const LAUNCHER_WARM_UP = {
  label: 'first',
  operation: 'scalems.Subprocess',
  input: { argv: ['sh', '-c', 'sleep 1; echo 1'] },
};
