/**
 * Shared helpers for the CLI integration tests: they run the real
 * `run-graph` binary (`dist/cli/main.js`) as a child process in a fresh temp
 * folder and look at what it printed and what it left on disk.
 *
 * The tests run the BUILT CLI, not the sources: `npm test` runs `npm run
 * build` before vitest, so `dist/` is current there. When running vitest by
 * hand, build first (`npm run build && npx vitest run test/cli`); a missing
 * `dist/cli/main.js` fails every CLI test file with a message saying so.
 *
 * Executions are counted honestly, outside the engine: `loggedNode` makes a
 * `scalems.Subprocess` node whose command appends one line (its tag) to an
 * execution log that lives outside the working directory, so a reused node
 * adds nothing to the log and a re-run one adds exactly one line.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunEvent, RunEventType } from '../../src/engine/events.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');

if (!existsSync(CLI)) {
  throw new Error(`${CLI} is missing: the CLI integration tests run the built CLI. Run \`npm run build\` first (\`npm test\` builds before vitest runs).`);
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
}

/** Run `node dist/cli/main.js ...args` and collect its exit code, stdout and stderr. */
export function runCli(args: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    // CI set so the reporter never picks the TTY progress line, whatever runs the tests.
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, CI: '1' },
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

/** A fresh temp folder for one test, removed by `cleanup()`. */
export interface Sandbox {
  readonly dir: string;
  /** Absolute path of a name inside the sandbox. */
  path(...parts: string[]): string;
  cleanup(): Promise<void>;
}

export async function createSandbox(): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), 'run-graph-cli-'));
  return {
    dir,
    path: (...parts) => join(dir, ...parts),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A workflow node as written in a workflow file. */
export interface NodeSpec {
  label: string;
  operation: string;
  input?: { [field: string]: unknown };
  description?: string;
}

export interface WorkflowDoc {
  description?: string;
  nodes: NodeSpec[];
}

/** Write a workflow object (a `WorkflowDoc`, or anything for bad-input tests) to `path` as JSON; returns the path. */
export async function writeWorkflow(path: string, workflow: unknown): Promise<string> {
  await writeFile(path, `${JSON.stringify(workflow, null, 2)}\n`);
  return path;
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
export function eventsOf<T extends RunEventType>(events: readonly JsonEvent[], type: T): (Extract<RunEvent, { type: T }> & { time: string })[] {
  return events.filter((e): e is Extract<RunEvent, { type: T }> & { time: string } => e.type === type);
}

/** Sorted labels of the events of one type that carry a label. */
export function labelsOf(events: readonly JsonEvent[], type: 'node-started' | 'node-reused' | 'node-committed' | 'node-failed' | 'node-skipped'): string[] {
  return eventsOf(events, type)
    .map((e) => e.label)
    .sort();
}

/** The lines of an execution log (one per node execution), or [] if nothing ran yet. */
export async function readLog(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').filter((line) => line !== '');
}

export interface LoggedNodeOptions {
  /** What the node appends to the log; part of its record, so keep it stable. Default: the label. */
  tag?: string;
  /** Upstream outputs (`label.output` or `label`) the node reads; each becomes a dependency. */
  inputs?: string[];
  /** Extra environment for the command; changing it changes the node's uid. */
  env?: { [key: string]: string };
}

/**
 * A `scalems.Subprocess` node that appends its tag to `logPath` each time it
 * actually runs, then writes `out.txt`: its tag followed by the content of
 * every input. Its record holds the tag and the log path, both stable.
 */
export function loggedNode(label: string, logPath: string, options: LoggedNodeOptions = {}): NodeSpec {
  const script = 'echo "$0" >> "$1"; shift; { echo "$0"; for f in "$@"; do cat "$f"; done; } > out.txt';
  return {
    label,
    operation: 'scalems.Subprocess',
    input: {
      argv: ['sh', '-c', script, options.tag ?? label, logPath, ...(options.inputs ?? []).map((ref) => ({ $ref: ref }))],
      outputFiles: ['out.txt'],
      ...(options.env === undefined ? {} : { env: options.env }),
    },
  };
}

/** `{"$ref": target}`. */
export function ref(target: string): { $ref: string } {
  return { $ref: target };
}

export const UID_PATTERN = /^[0-9a-f]{64}$/;

/** Names of the store directories (64-hex uids) in a working directory, sorted. */
export async function storeUids(workdir: string): Promise<string[]> {
  return (await readdir(workdir)).filter((name) => UID_PATTERN.test(name)).sort();
}

/** A store's metadata.json as far as these tests read it. */
export interface StoreMetadataJson {
  format: string;
  uid: string;
  state: string;
  record: { depends: string[]; input: unknown; operation: string[] };
  artifacts?: { [output: string]: { path: string; kind: string; size: number; sha256: string; dtype?: string; shape?: number[] } };
}

export async function readMetadata(workdir: string, uid: string): Promise<StoreMetadataJson> {
  return JSON.parse(await readFile(join(workdir, uid, 'metadata.json'), 'utf8')) as StoreMetadataJson;
}

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** Whether a path exists (file or directory). */
export async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
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
