/**
 * The watchdog process (see watchdog.ts): it reads `+<pgid>` and `-<pgid>`
 * lines from its stdin, a pipe from the run-graph process, and when that
 * pipe closes (run-graph exited, however it died) it SIGKILLs every process
 * group still on its list, then exits. It has a process group of its own, so
 * a Ctrl-C or a kill of run-graph's group does not reach it first.
 */
const groups = new Set<number>();
let pending = '';

function killAll(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  process.exit(0);
}

process.stdin.setEncoding('utf8');
process.stdin.on('data', (text: string) => {
  pending += text;
  const lines = pending.split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) {
    const pgid = Number(line.slice(1));
    if (!Number.isInteger(pgid) || pgid <= 1) continue;
    if (line.startsWith('+')) groups.add(pgid);
    else if (line.startsWith('-')) groups.delete(pgid);
  }
});
process.stdin.on('end', killAll);
process.stdin.on('error', killAll);
// Signals meant for the run (SIGINT, SIGTERM, SIGHUP) leave the watchdog to the pipe.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined);
