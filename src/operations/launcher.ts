/**
 * Starting the commands of Subprocess nodes, and making sure none outlives
 * the run.
 *
 * Node starts a child by forking: the whole run-graph process, its heap's
 * page tables included, is copied and then thrown away by the child's exec,
 * and the event loop waits for it. That cost grows with the heap and was
 * the largest single part of a Subprocess node's CPU. So one small helper
 * process per run, the launcher (launcher-process.ts), starts the commands:
 * a line on a pipe to it per command, and a line back with its pid and one
 * with its exit. The launcher is their parent, and run-graph's watchdog:
 * Node cannot ask the kernel to signal a child when its parent dies
 * (PR_SET_PDEATHSIG), but when run-graph exits for any reason, SIGKILL
 * included, the kernel closes the pipe and the launcher kills every group
 * still running.
 *
 * The launcher is started with the first command. Until it says it is
 * ready, and for good if it cannot start or dies, commands are started here
 * as before, and the launcher is only told their groups (`+pgid`, `-pgid`)
 * to kill them if run-graph dies. If it dies while its commands run, their
 * exits cannot be learnt: their groups are killed and their attempts fail.
 * Either way the process group recorded in each store (see
 * store/process-group.ts) is what stops a dead run's command, when its store
 * is next taken over. The launcher is unreferenced: it keeps this process
 * alive only while one of its commands runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, open } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Readable, Writable } from 'node:stream';
import type { ProcessGroupPlace } from '../store/process-group.js';
import { deferred } from '../util/deferred.js';

/** A command to start as the leader of a process group of its own, with its stdout and stderr going to files. */
export interface LaunchRequest {
  command: string;
  args: readonly string[];
  cwd: string;
  /** Added to run-graph's own environment. */
  env: { readonly [key: string]: string };
  stdout: string;
  stderr: string;
  /** Where the store records the command's process group, for the launcher to write it and remove it (see LaunchedCommand.recorded). */
  processGroup?: ProcessGroupPlace;
  /** Make `cwd` (see makeAttemptDir) before anything else. */
  makeCwd?: boolean;
  /**
   * After a clean exit (code 0): files to move from `cwd` to the same names
   * in `into`, then directories to remove in turn while they are empty
   * (`cwd` and its parent), stopping at the first that is not (see
   * CommandExit.moved).
   */
  moveOnSuccess?: { into: string; names: readonly string[]; removeEmpty: readonly string[] };
}

export interface CommandExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The files of `moveOnSuccess` that were moved, and how many of its directories were removed; the rest is the caller's to do. */
  moved?: { names: readonly string[]; removed: number };
}

/**
 * Make an attempt's directory: its parent (`attempts/`, or the store itself)
 * first, then the directory. Two calls for a first attempt, where a
 * recursive mkdir makes three (it tries the deepest directory first).
 */
export async function makeAttemptDir(dir: string): Promise<void> {
  await mkdir(dirname(dir)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  await mkdir(dir, { recursive: true });
}

export interface LaunchedCommand {
  /** The command's pid, also its process group's id; rejects with the system's error when it cannot start. */
  readonly pid: Promise<number>;
  /** How it ended; rejects when that cannot be learnt (the launcher died while it ran). */
  readonly exit: Promise<CommandExit>;
  /**
   * Whether the launcher records the group where the request said, before
   * it answers the pid, and removes the record before it answers the exit:
   * the caller then does neither. False when the command starts here.
   */
  readonly recorded: boolean;
}

const openAsync = promisify(open);

/** Start a command (see the top of this file for where). */
export function launchCommand(request: LaunchRequest): LaunchedCommand {
  const launcher = currentLauncher();
  return launcher?.ready === true ? launcher.launch(request) : launchHere(request);
}

interface Waiting {
  pid?: number;
  started(pid: number): void;
  exited(exit: CommandExit): void;
  /** It could not start, or its exit cannot be learnt. */
  failed(error: Error): void;
}

/** What the launcher answers, one JSON line each. */
interface Answer {
  ready?: boolean;
  id?: number;
  pid?: number;
  error?: { code: string | null; message: string; syscall?: string; path?: string };
  code?: number | null;
  signal?: NodeJS.Signals | null;
  moved?: CommandExit['moved'];
}

class Launcher {
  ready = false;
  readonly #child: ChildProcess;
  readonly #stdin: Writable;
  readonly #stdout: Readable & { ref?: () => void; unref?: () => void };
  readonly #waiting = new Map<number, Waiting>();
  #next = 1;
  #env: NodeJS.ProcessEnv = { ...process.env };
  #partial = '';

  constructor(child: ChildProcess, stdin: Writable, stdout: Readable) {
    this.#child = child;
    this.#stdin = stdin;
    this.#stdout = stdout;
    stdin.on('error', () => undefined);
    stdout.setEncoding('utf8');
    stdout.on('data', (text: string) => this.#read(text));
    // Its stdout closing is the first sign: the exit itself may come after this process's event loop found nothing to
    // wait for, the child being unreferenced.
    stdout.on('close', () => this.#gone());
    child.on('error', () => this.#gone());
    child.on('exit', () => this.#gone());
    child.unref();
    // Neither pipe keeps this process alive while no command of the launcher runs (they are Sockets; unref is on the handle).
    (stdin as unknown as { unref?: () => void }).unref?.();
    this.#stdout.unref?.();
  }

  tell(line: string): void {
    this.#stdin.write(`${line}\n`);
  }

  launch(request: LaunchRequest): LaunchedCommand {
    const id = this.#next++;
    const pid = deferred<number>();
    const exit = deferred<CommandExit>();
    this.#waiting.set(id, {
      started: pid.resolve,
      exited: exit.resolve,
      failed: (error) => {
        pid.reject(error);
        exit.reject(error);
      },
    });
    if (this.#waiting.size === 1) this.#stdout.ref?.();
    // run-graph's environment is sent again only when it changed since the launcher last had it.
    const base = sameEnvironment(this.#env, process.env) ? undefined : (this.#env = { ...process.env });
    this.tell(JSON.stringify({ id, ...request, ...(base === undefined ? {} : { base }) }));
    return { pid: pid.promise, exit: exit.promise, recorded: request.processGroup !== undefined };
  }

  #read(text: string): void {
    this.#partial += text;
    const lines = this.#partial.split('\n');
    this.#partial = lines.pop() ?? '';
    for (const line of lines) {
      const answer = JSON.parse(line) as Answer;
      if (answer.ready === true) {
        this.ready = true;
        continue;
      }
      const waiting = answer.id === undefined ? undefined : this.#waiting.get(answer.id);
      if (waiting === undefined || answer.id === undefined) continue;
      if (answer.pid !== undefined) {
        waiting.pid = answer.pid;
        waiting.started(answer.pid);
      } else {
        this.#settled(answer.id);
        if (answer.error !== undefined) {
          const { message, code, syscall, path } = answer.error;
          waiting.failed(Object.assign(new Error(message), { code: code ?? undefined, syscall, path }));
        } else
          waiting.exited({
            code: answer.code ?? null,
            signal: answer.signal ?? null,
            ...(answer.moved === undefined ? {} : { moved: answer.moved }),
          });
      }
    }
  }

  #settled(id: number): void {
    this.#waiting.delete(id);
    if (this.#waiting.size === 0) this.#stdout.unref?.();
  }

  /** The launcher is gone: its commands' exits cannot be learnt, so they are stopped; later ones start here. */
  #gone(): void {
    if (launcher !== this) return;
    launcher = undefined;
    unavailable = true;
    const error = new Error(`the command launcher (pid ${this.#child.pid ?? '?'}) exited while the command ran`);
    for (const [id, waiting] of this.#waiting) {
      this.#settled(id);
      if (waiting.pid !== undefined) killGroup(waiting.pid);
      waiting.failed(error);
    }
  }
}

let launcher: Launcher | undefined;
/** Set once the launcher could not start or has died: commands are started here from then on. */
let unavailable = false;

function currentLauncher(): Launcher | undefined {
  if (launcher !== undefined || unavailable) return launcher;
  try {
    const child = spawn(process.execPath, [fileURLToPath(new URL('./launcher-process.js', import.meta.url))], {
      stdio: ['pipe', 'pipe', 'ignore'],
      detached: true,
    });
    if (child.stdin === null || child.stdout === null) throw new Error('no pipes to the launcher');
    launcher = new Launcher(child, child.stdin, child.stdout);
  } catch {
    unavailable = true;
  }
  return launcher;
}

function sameEnvironment(a: NodeJS.ProcessEnv, b: NodeJS.ProcessEnv): boolean {
  const keys = Object.keys(b);
  if (Object.keys(a).length !== keys.length) return false;
  for (const key of keys) if (a[key] !== b[key]) return false;
  return true;
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Start the command from this process (the launcher is not ready, or gone). */
function launchHere(request: LaunchRequest): LaunchedCommand {
  const exit = deferred<CommandExit>();
  const pid = (async () => {
    if (request.makeCwd === true) await makeAttemptDir(request.cwd);
    const fds = await openOutputs([request.stdout, request.stderr]);
    let child: ChildProcess;
    try {
      child = spawn(request.command, request.args, {
        cwd: request.cwd,
        env: { ...process.env, ...request.env },
        stdio: ['ignore', fds[0], fds[1]],
        detached: true,
      });
    } finally {
      // The child has its own copies; a close takes microseconds and changes nothing on disk.
      for (const fd of fds) closeSync(fd);
    }
    const started = child.pid;
    // The launcher, once it runs, kills the group if this process dies first.
    if (started !== undefined) launcher?.tell(`+${started}`);
    child.once('close', (code, signal) => {
      if (started !== undefined) launcher?.tell(`-${started}`);
      exit.resolve({ code, signal });
    });
    return new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      if (started !== undefined) resolve(started);
    });
  })();
  pid.catch((error: Error) => exit.reject(error));
  return { pid, exit: exit.promise, recorded: false };
}

/** Create the files in one wait, closing those opened if one fails. */
async function openOutputs(paths: readonly string[]): Promise<number[]> {
  const results = await Promise.allSettled(paths.map((path) => openAsync(path, 'w')));
  const opened = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failure === undefined) return opened;
  for (const fd of opened) closeSync(fd);
  throw failure.reason;
}
