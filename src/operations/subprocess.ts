/**
 * `scalems.Subprocess`: run an executable in the node's own store directory.
 *
 *     "input": {
 *       "argv": ["python3", {"$file": "scripts/fit.py"}, {"$ref": "raw"}, "--out", "fit.npy"],
 *       "inputFiles": {"params.json": {"$ref": "config"}},
 *       "outputFiles": ["fit.npy", "log.txt"],
 *       "env": {"OMP_NUM_THREADS": "1"}
 *     }
 *
 * A reference in argv becomes the absolute path of the upstream artifact; a
 * `$file` the absolute path of a file beside the workflow (hashed by content,
 * so editing a script re-runs its nodes). Each attempt runs in a fresh
 * scratch directory inside the store (`attempts/<n>/`), with `inputFiles`
 * copied in under the given names; on success the declared outputs move into
 * the store and the scratch directory is removed. Outputs:
 * every declared output file (an `.npy` one is typed as an array), plus
 * `stdout` and `stderr` (files) and `exitCode`. A non-zero exit fails the node
 * with the tail of its stderr; the store stays uncommitted and keeps the
 * attempt's directory, and the engine records the failure (exit code or
 * signal, stderr tail) in it. The command's process group is reported to
 * the engine while it runs (so it dies with the run), and its CPU time and
 * peak memory (process-usage.ts) go into the committed metadata.
 *
 * The executable itself is found on PATH and is not part of the uid: pin it
 * through an argument (a version in its path, or a `$file`) when its results
 * can change.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, lstat, mkdir, readFile, rename, rm, rmdir } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { RunGraphError } from '../errors.js';
import type { ValueType } from '../values/values.js';
import { expectFields, expectFileLike, expectList, expectObject, expectString, inputError } from './check.js';
import { isTimeout } from './resources.js';
import {
  isFileInput,
  isInputRef,
  type ArtifactRef,
  type CheckSite,
  type InputTree,
  type OperationContext,
  type OperationDefinition,
  type OperationOutputs,
  type TypedRef,
} from './operation.js';
import { ProcessExitError, type ProcessExit } from './process-exit.js';
import { launchCommand, makeAttemptDir, type CommandExit, type LaunchRequest } from './launcher.js';
import { ProcessUsageSampler } from './process-usage.js';

/** Names in a store that belong to run-graph; no output or input file may use them. */
export const RESERVED_STORE_NAMES: ReadonlySet<string> = new Set([
  'metadata.json',
  'owner',
  'lock',
  'checkpoint',
  'stdout.txt',
  'stderr.txt',
  'attempts',
  'process-group',
]);

const STDERR_TAIL_LINES = 20;
const KILL_GRACE_MS = 5_000;

function checkStorePath(name: string, site: CheckSite, field: string): void {
  const normalized = normalize(name);
  const top = normalized.split(sep)[0] ?? '';
  if (name.length === 0 || isAbsolute(name) || normalized.startsWith('..') || normalized !== name.replace(/\/+$/, '')) {
    throw inputError(
      site,
      field,
      'E_INPUT_TYPE',
      `'${name}' must be a plain relative path inside the node's store (no '..', no absolute path, no './')`,
      name,
    );
  }
  if (RESERVED_STORE_NAMES.has(top) || top.startsWith('.rg-')) {
    throw inputError(
      site,
      field,
      'E_INPUT_TYPE',
      `'${name}' is a name run-graph keeps for itself in a store`,
      name,
      `reserved: ${[...RESERVED_STORE_NAMES].join(', ')}`,
    );
  }
}

function outputType(name: string): ValueType {
  return name.endsWith('.npy') ? { kind: 'array', dtype: null, shape: null } : { kind: 'file' };
}

function checkArgv(argv: InputTree<TypedRef>[], site: CheckSite): void {
  if (argv.length === 0) throw inputError(site, 'input.argv', 'E_INPUT_TYPE', 'argv needs at least the executable');
  argv.forEach((arg, i) => {
    if (typeof arg === 'string') return;
    expectFileLike(arg, site, `input.argv[${i}]`);
  });
  if (typeof argv[0] !== 'string' && !isFileInput(argv[0] ?? null)) {
    throw inputError(site, 'input.argv[0]', 'E_INPUT_TYPE', 'the executable must be a string or a {"$file": ...}');
  }
}

export const subprocess: OperationDefinition = {
  namespace: 'scalems',
  name: 'Subprocess',
  version: '1',
  summary: 'run an executable in the node store: argv, inputFiles, outputFiles, env',
  defaultOutput: 'stdout',
  check(input, site) {
    expectFields(input, site, ['argv'], ['inputFiles', 'outputFiles', 'env']);
    checkArgv(expectList(input['argv'], site, 'input.argv'), site);
    const outputs: { [name: string]: ValueType } = {
      stdout: { kind: 'file' },
      stderr: { kind: 'file' },
      exitCode: { kind: 'json' },
    };
    const seen = new Set<string>();
    if (input['inputFiles'] !== undefined) {
      for (const [name, value] of Object.entries(expectObject(input['inputFiles'], site, 'input.inputFiles'))) {
        checkStorePath(name, site, `input.inputFiles.${name}`);
        expectFileLike(value, site, `input.inputFiles.${name}`);
        seen.add(name);
      }
    }
    if (input['outputFiles'] !== undefined) {
      expectList(input['outputFiles'], site, 'input.outputFiles').forEach((item, i) => {
        const name = expectString(item, site, `input.outputFiles[${i}]`);
        checkStorePath(name, site, `input.outputFiles[${i}]`);
        if (seen.has(name))
          throw inputError(
            site,
            `input.outputFiles[${i}]`,
            'E_INPUT_TYPE',
            `'${name}' is declared twice (as an input or output file)`,
            name,
          );
        if (name in outputs)
          throw inputError(
            site,
            `input.outputFiles[${i}]`,
            'E_INPUT_TYPE',
            `'${name}' clashes with the built-in output of the same name`,
            name,
          );
        seen.add(name);
        outputs[name] = outputType(name);
      });
    }
    if (input['env'] !== undefined) {
      for (const [key, value] of Object.entries(expectObject(input['env'], site, 'input.env')))
        expectString(value, site, `input.env.${key}`);
    }
    return outputs;
  },
  async run(input, context) {
    const argv = (input['argv'] as InputTree<ArtifactRef>[]).map(argumentText);
    const inputFiles = (input['inputFiles'] ?? {}) as { [name: string]: InputTree<ArtifactRef> };
    const outputFiles = (input['outputFiles'] ?? []) as string[];
    // The devices the node holds, unless its own env names others.
    const env = {
      ...(context.gpus === undefined ? {} : { CUDA_VISIBLE_DEVICES: context.gpus.join(',') }),
      ...((input['env'] ?? {}) as { [key: string]: string }),
    };

    // Each attempt runs in a scratch directory of its own inside the store. A process orphaned by a killed
    // run-graph can then only write into a directory the next attempt deletes, never into the store itself.
    const attempt =
      context.attempt?.dir ?? join(context.storeDir, `${ATTEMPT_PREFIX}${randomBytes(4).toString('hex')}`);
    // A command with no files to copy in or check after leaves its attempt's directory, and moving its output
    // into the store, to the launcher: no round trip of the event loop for either.
    const plain = Object.keys(inputFiles).length === 0 && outputFiles.length === 0;
    if (!plain) {
      await makeAttemptDir(attempt);
      for (const [name, source] of Object.entries(inputFiles)) {
        const target = join(attempt, name);
        await mkdir(dirname(target), { recursive: true });
        await copyFile(argumentText(source), target, fsConstants.COPYFILE_FICLONE);
      }
      for (const name of outputFiles) await mkdir(dirname(join(attempt, name)), { recursive: true });
    }

    const { moved, ...exit } = await runChild(argv, env, attempt, context, plain);
    const exitCode =
      exit.code ?? 128 + (exit.signal === null ? 0 : (osConstants.signals[exit.signal as NodeJS.Signals] ?? 0));
    if (exitCode !== 0) {
      const tail = await stderrTail(join(attempt, 'stderr.txt'));
      const how = exit.signal === null ? `exited with code ${exitCode}` : `was killed by ${exit.signal}`;
      throw new ProcessExitError(
        'E_NODE_FAILED',
        `${argv[0] ?? ''} ${how}${tail === '' ? '' : `; stderr ends with:\n${tail}`}`,
        exit,
        {
          node: context.label,
          value: exitCode,
          hint: `run-graph logs ${context.label} prints its stdout and stderr`,
        },
      );
    }
    for (const name of outputFiles) {
      // lstat: a symlink would commit a file outside the store, which could change after the commit.
      const found = await lstat(join(attempt, name)).catch(() => undefined);
      if (found?.isSymbolicLink() === true) {
        throw new RunGraphError(
          'E_NODE_FAILED',
          `declared output file '${name}' is a symbolic link; outputs must be regular files written inside the node's directory`,
          { node: context.label, field: 'input.outputFiles', value: name, hint: 'copy the file instead of linking it' },
        );
      }
      if (found === undefined || !found.isFile()) {
        throw new RunGraphError(
          'E_NODE_FAILED',
          `${argv[0] ?? ''} exited 0 but did not write its declared output file '${name}'`,
          { node: context.label, field: 'input.outputFiles', value: name, hint: `its files are in ${attempt}` },
        );
      }
    }
    // Only what was declared moves into the store; scratch files and input copies go with the attempt directory.
    // All at once, each waited for, so that none is still running when a failure is reported.
    const moves = await Promise.allSettled(
      ['stdout.txt', 'stderr.txt', ...outputFiles]
        .filter((name) => moved?.names.includes(name) !== true)
        .map((name) => moveIntoStore(attempt, context.storeDir, name)),
    );
    for (const move of moves) if (move.status === 'rejected') throw move.reason;
    if ((moved?.removed ?? 0) === 0) await removeAttempt(attempt);
    const outputs: OperationOutputs = {
      stdout: { kind: 'file', path: 'stdout.txt' },
      stderr: { kind: 'file', path: 'stderr.txt' },
      exitCode: { kind: 'json', value: exitCode },
    };
    for (const name of outputFiles) outputs[name] = { kind: 'file', path: name };
    return outputs;
  },
};

/**
 * Move `name` from the attempt directory to the same place in the store: one
 * rename for a file at the top of the store (the reset before an attempt
 * left nothing there, and a rename replaces a file anyway); its directories
 * made first for a nested name, and whatever is in the way (a directory)
 * removed only when the rename fails because of it.
 */
async function moveIntoStore(attempt: string, storeDir: string, name: string): Promise<void> {
  const target = join(storeDir, name);
  if (dirname(name) !== '.') await mkdir(dirname(target), { recursive: true });
  try {
    await rename(join(attempt, name), target);
  } catch (error) {
    if (!IN_THE_WAY.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
    await rm(target, { force: true, recursive: true });
    await rename(join(attempt, name), target);
  }
}

/** What rename says when its target is a directory, or a path through a file. */
const IN_THE_WAY: ReadonlySet<string> = new Set(['EISDIR', 'ENOTEMPTY', 'EEXIST', 'ENOTDIR']);

/** Remove an attempt directory: one rmdir when only the declared outputs were in it, else the whole tree. */
async function removeAttempt(attempt: string): Promise<void> {
  try {
    await rmdir(attempt);
  } catch {
    await rm(attempt, { recursive: true, force: true });
  }
}

/** Scratch directories of subprocess attempts inside a store; a store reset removes them. */
const ATTEMPT_PREFIX = '.rg-attempt-';

/** Children running now, each the leader of its own process group. */
const runningChildren = new Set<number>();

/**
 * SIGKILL every running subprocess and everything it started, at once: for
 * a process about to exit without waiting (a second Ctrl-C).
 */
export function killRunningSubprocesses(): void {
  for (const pid of runningChildren) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  runningChildren.clear();
}

function argumentText(arg: InputTree<ArtifactRef>): string {
  if (typeof arg === 'string') return arg;
  if (isInputRef(arg) || isFileInput(arg)) return arg.path;
  throw new RunGraphError('E_INPUT_TYPE', `unexpected argument ${JSON.stringify(arg)}`);
}

/**
 * What the launcher moves after a plain command's clean exit: its stdout and
 * stderr into the store, then its attempt's directory and, when no earlier
 * attempt's is kept there, `attempts/` go.
 */
function movedOnSuccess(cwd: string, context: OperationContext): NonNullable<LaunchRequest['moveOnSuccess']> {
  const attempts = dirname(cwd);
  return {
    into: context.storeDir,
    names: ['stdout.txt', 'stderr.txt'],
    removeEmpty: attempts === context.storeDir ? [cwd] : [cwd, attempts],
  };
}

/**
 * Start the command in `cwd` and wait for it. `plain`: `cwd` is made by
 * whoever starts it, and a clean exit's stdout and stderr may be moved into
 * the store by it (`moved`: what was).
 */
async function runChild(
  argv: string[],
  env: { [key: string]: string },
  cwd: string,
  context: OperationContext,
  plain: boolean,
): Promise<ProcessExit & Pick<CommandExit, 'moved'>> {
  const { signal, label, processes } = context;
  const [command, ...args] = argv;
  if (command === undefined) throw new RunGraphError('E_INPUT_TYPE', 'empty argv', { node: label });
  const recordAt = processes?.recordAt;
  // A process group of its own, so that stopping the node stops everything the command started.
  const launched = launchCommand({
    command,
    args,
    cwd,
    env,
    stdout: join(cwd, 'stdout.txt'),
    stderr: join(cwd, 'stderr.txt'),
    ...(recordAt === undefined ? {} : { processGroup: recordAt }),
    ...(plain ? { makeCwd: true, moveOnSuccess: movedOnSuccess(cwd, context) } : {}),
  });
  let pid: number;
  try {
    pid = await launched.pid;
  } catch (error) {
    // Making its directory failed: a file-system error like any other in the store (a full disk stops the run).
    if ((error as NodeJS.ErrnoException).syscall === 'mkdir') throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'not found (is it on PATH?)'
        : code === 'EACCES'
          ? 'not executable'
          : (error as Error).message;
    throw new RunGraphError('E_NODE_FAILED', `cannot start '${command}': ${reason}`, {
      node: label,
      field: 'input.argv[0]',
      value: command,
      cause: error,
    });
  }
  const sampler = new ProcessUsageSampler(pid);
  runningChildren.add(pid);
  if (!launched.recorded) processes?.started(pid).catch(() => undefined);
  const killGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pid, signal);
    } catch {
      // Already gone.
    }
  };
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    killGroup('SIGTERM');
    killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    killTimer.unref();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  let exit: CommandExit;
  try {
    exit = await launched.exit;
  } catch (error) {
    throw new RunGraphError('E_NODE_FAILED', `${command}: ${(error as Error).message}`, { node: label, cause: error });
  } finally {
    const usage = sampler.stop();
    if (usage !== undefined) processes?.usage(usage);
    runningChildren.delete(pid);
    if (!launched.recorded) processes?.ended(pid);
    signal.removeEventListener('abort', onAbort);
    if (killTimer !== undefined) clearTimeout(killTimer);
  }
  // A command that exited cleanly only as it was stopped may have had its output moved into the store: recording the
  // failure moves it back into the attempt's directory (see recordFailedAttempt), as for a failed in-process operation.
  if (signal.aborted) {
    throw isTimeout(signal.reason)
      ? new RunGraphError('E_TIMEOUT', `${signal.reason.message}: ${command} and its process group were killed`, {
          node: label,
          field: 'resources.time',
          cause: signal.reason,
          hint: signal.reason.hint,
        })
      : new RunGraphError('E_INTERRUPTED', `${command} was stopped by the interrupt`, { node: label });
  }
  return {
    code: exit.signal === null ? (exit.code ?? 1) : null,
    signal: exit.signal,
    ...(exit.moved === undefined ? {} : { moved: exit.moved }),
  };
}

async function stderrTail(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const lines = text.trimEnd().split('\n');
  return lines.slice(-STDERR_TAIL_LINES).join('\n');
}
