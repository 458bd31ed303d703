/**
 * The built CLI, and running it as a child process.
 *
 * The tests run the BUILT code (`dist/`), not the sources: `npm test` runs
 * `npm run build` before vitest, so `dist/` is current there. When running
 * vitest by hand, build first (`npm run build && npx vitest run test/cli`);
 * every runner here fails at once, saying so, when `dist/cli/bin.cjs` is
 * missing.
 *
 * Two runners here: `runCli` runs a command to its end and collects what it
 * printed (killed after a timeout, so a hung CLI fails its test, not the
 * suite); `startCli` starts a long-running command (`serve`, `run --serve`),
 * waits for its output, and stops it. The crash tests' runner, which may
 * SIGKILL the CLI on purpose, is `runCliAttempt` in ./torture.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { RunEvent, RunEventType } from '../../src/engine/events.js';
import { waitUntil } from './wait.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built CLI as `npx run-graph` runs it: the package's bin, `dist/cli/bin.cjs`, which loads the bundled CLI. */
export const CLI = join(REPO_ROOT, 'dist', 'cli', 'bin.cjs');
/** The built library, as an operation module or a script imports it. */
export const DIST_INDEX_URL = pathToFileURL(join(REPO_ROOT, 'dist', 'index.js')).href;

/** Fail, saying how to fix it, if the CLI has not been built. */
export function requireBuiltCli(): void {
  if (!existsSync(CLI)) {
    throw new Error(
      `${CLI} is missing: the tests run the built CLI. Run \`npm run build\` first (\`npm test\` builds before vitest runs).`,
    );
  }
}

/** Exit code and output of one CLI invocation. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunCliOptions {
  /** Working directory of the child. Default: the repository root. */
  cwd?: string;
  /** Kill the child after this many ms (a hung CLI must fail the test, not the suite). Default 30 000. */
  timeoutMs?: number;
  /** Added to the child's environment. */
  env?: { [name: string]: string };
}

/** Run `node dist/cli/bin.cjs ...args` and collect its exit code, stdout and stderr. */
export function runCli(args: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  requireBuiltCli();
  return new Promise((resolvePromise, reject) => {
    // CI set so the reporter never picks the TTY progress line, whatever runs the tests.
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, CI: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/** A CLI process started by a test; `stop()` sends SIGTERM to it (by its pid) and waits for its exit. */
export interface CliProcess {
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolve with the first match of `pattern` in stdout or stderr. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `node dist/cli/bin.cjs ...args`; it is SIGKILLed after `limitMs` whatever happens, so no test leaves it behind. */
export function startCli(
  args: readonly string[],
  options: { cwd: string; limitMs?: number; env?: { [name: string]: string } },
): CliProcess {
  requireBuiltCli();
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: { ...process.env, CI: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (err += text));
  const limit = setTimeout(() => child.kill('SIGKILL'), options.limitMs ?? 60_000);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      clearTimeout(limit);
      resolve({ code, signal });
    }),
  );
  return {
    pid: child.pid ?? -1,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitFor(pattern, timeoutMs) {
      let found: RegExpMatchArray | null = null;
      let done = false;
      void exited.then(() => (done = true));
      await waitUntil(
        () => (found = pattern.exec(out) ?? pattern.exec(err)) !== null || done,
        timeoutMs,
        `${pattern} in the output of run-graph ${args.join(' ')}`,
      );
      if (found === null)
        throw new Error(`run-graph ${args.join(' ')} exited before printing ${pattern}; stderr: ${err}`);
      return found;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** A `--json` event line as the CLI prints it: the event plus its time. */
export type JsonEvent = RunEvent & { time: string };

/**
 * Parse the stdout of `run --json`: every non-empty line must be one JSON
 * object with a string `type`; a line that is not fails with the line shown.
 */
export function parseEvents(stdout: string): JsonEvent[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line) as unknown;
      } catch (error) {
        throw new Error(`line ${i + 1} of --json output is not JSON: ${JSON.stringify(line)} (${String(error)})`);
      }
      if (typeof parsed !== 'object' || parsed === null || typeof (parsed as { type?: unknown }).type !== 'string') {
        throw new Error(`line ${i + 1} of --json output is not an event object: ${line}`);
      }
      return parsed as JsonEvent;
    });
}

/** The events of one type, narrowed. */
export function eventsOf<T extends RunEventType>(
  events: readonly JsonEvent[],
  type: T,
): (Extract<RunEvent, { type: T }> & { time: string })[] {
  return events.filter((e): e is Extract<RunEvent, { type: T }> & { time: string } => e.type === type);
}

/** Sorted labels of the events of one type that carry a label. */
export function labelsOf(
  events: readonly JsonEvent[],
  type: 'node-started' | 'node-reused' | 'node-committed' | 'node-failed' | 'node-skipped',
): string[] {
  return eventsOf(events, type)
    .map((e) => e.label)
    .sort();
}

/** Uid of every node by label, from `validate --json` (which writes nothing). */
export async function uidsByLabel(workflowPath: string): Promise<Map<string, string>> {
  const result = await runCli(['validate', workflowPath, '--json']);
  if (result.code !== 0) throw new Error(`validate failed (${String(result.code)}): ${result.stderr}`);
  const parsed = JSON.parse(result.stdout) as { nodes: { label: string; uid: string }[] };
  return new Map(parsed.nodes.map((n) => [n.label, n.uid]));
}

/** Look up a key that must be there (keeps tests free of non-null assertions). */
export function must<K, V>(map: ReadonlyMap<K, V>, key: K): V {
  const value = map.get(key);
  if (value === undefined) throw new Error(`missing ${String(key)}`);
  return value;
}
