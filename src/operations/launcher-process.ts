/**
 * The launcher process (see launcher.ts). On its stdin, a pipe from the
 * run-graph process, it reads one line per message:
 *
 * - `{"id": n, "command": ..., "args": [...], "cwd": ..., "env": {...},
 *   "stdout": path, "stderr": path}`, and as need be `"base": {...}` (run-graph's
 *   own environment, when it changed), `"processGroup": {"path", "host"}`
 *   (a store's record of the group), `"makeCwd": true` and `"moveOnSuccess":
 *   {...}` (see LaunchRequest): make `cwd` if asked, start the command as
 *   the leader of a process group of its own, its stdout and stderr written
 *   to the two files, and record the group where asked; it answers `{"id":
 *   n, "pid": p}` (or `{"id": n, "error": {"code", "message", "syscall",
 *   "path"}}` when it cannot start), then, once the command has exited and
 *   its record is removed (and after a clean exit its files are moved),
 *   `{"id": n, "code": c, "signal": s}`, with `"moved": {"names",
 *   "removed"}` saying what was moved;
 * - `+<pgid>` and `-<pgid>`: a group run-graph started itself, to kill if
 *   run-graph dies, and its end.
 *
 * When the pipe closes (run-graph exited, however it died) it SIGKILLs every
 * group still running, its own commands' and the others', then exits. It
 * has a process group of its own, so a Ctrl-C or a kill of run-graph's group
 * does not reach it first. Its answers go to stdout, one JSON line each;
 * `{"ready": true}` comes first.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, renameSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { forgetProcessGroupAt, recordProcessGroupSync, type ProcessGroupPlace } from '../store/process-group.js';
import type { CommandExit, LaunchRequest } from './launcher.js';

/** A request as launcher.ts sends it. */
type LaunchMessage = LaunchRequest & { id: number; base?: NodeJS.ProcessEnv };

const groups = new Set<number>();
let base: NodeJS.ProcessEnv = process.env;
let pending = '';

function answer(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function failed(id: number, error: unknown): void {
  const { code, message, syscall, path } = error as NodeJS.ErrnoException;
  answer({ id, error: { code: code ?? null, message: String(message), syscall, path } });
}

function launch(message: LaunchMessage): void {
  const { id } = message;
  if (message.base !== undefined) base = message.base;
  const fds: number[] = [];
  try {
    if (message.makeCwd === true) makeAttemptDirSync(message.cwd);
    fds.push(openSync(message.stdout, 'w'), openSync(message.stderr, 'w'));
    const child = spawn(message.command, message.args, {
      cwd: message.cwd,
      env: { ...base, ...message.env },
      stdio: ['ignore', fds[0], fds[1]],
      detached: true,
    });
    const pid = child.pid;
    if (pid === undefined) {
      child.once('error', (error) => failed(id, error));
      return;
    }
    groups.add(pid);
    const place = message.processGroup;
    if (place !== undefined) record(place, pid);
    answer({ id, pid });
    child.once('exit', (code, signal) => {
      groups.delete(pid);
      if (place !== undefined) forget(place);
      const moved =
        code === 0 && message.moveOnSuccess !== undefined ? moveOutputs(message.cwd, message.moveOnSuccess) : undefined;
      answer({ id, code, signal, ...(moved === undefined ? {} : { moved }) });
    });
  } catch (error) {
    failed(id, error);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}

/** launcher.ts's makeAttemptDir, synchronously: the launcher has no event loop to keep free. */
function makeAttemptDirSync(dir: string): void {
  try {
    mkdirSync(dirname(dir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  mkdirSync(dir, { recursive: true });
}

/**
 * Move what a cleanly exited command wrote into the store, in order, up to
 * the first that fails; then remove the directories asked for while they
 * are empty. What is left is run-graph's to move or remove, with its own
 * error reporting.
 */
function moveOutputs(
  cwd: string,
  { into, names, removeEmpty }: NonNullable<LaunchRequest['moveOnSuccess']>,
): NonNullable<CommandExit['moved']> {
  const moved: string[] = [];
  let removed = 0;
  try {
    for (const name of names) {
      renameSync(join(cwd, name), join(into, name));
      moved.push(name);
    }
    for (const dir of removeEmpty) {
      rmdirSync(dir);
      removed += 1;
    }
  } catch {
    // See above.
  }
  return { names: moved, removed };
}

/** A record that cannot be written costs only the kill of a dead run's command; the command runs all the same. */
function record(place: ProcessGroupPlace, pid: number): void {
  try {
    recordProcessGroupSync(place, pid);
  } catch {
    // See above.
  }
}

function forget(place: ProcessGroupPlace): void {
  try {
    forgetProcessGroupAt(place.path);
  } catch {
    // The next owner of the store finds the group gone.
  }
}

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
    if (line.startsWith('{')) {
      launch(JSON.parse(line) as LaunchMessage);
      continue;
    }
    const pgid = Number(line.slice(1));
    if (!Number.isInteger(pgid) || pgid <= 1) continue;
    if (line.startsWith('+')) groups.add(pgid);
    else if (line.startsWith('-')) groups.delete(pgid);
  }
});
process.stdin.on('end', killAll);
process.stdin.on('error', killAll);
// Signals meant for the run (SIGINT, SIGTERM, SIGHUP) leave the launcher to the pipe.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined);
answer({ ready: true });
