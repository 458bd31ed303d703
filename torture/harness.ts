/**
 * The crash torture: start the real CLI on a workflow, SIGKILL it at a random
 * moment, start it again, and repeat until a run completes; then check that
 * the outputs equal an uninterrupted run's, that no committed node executed
 * again, and that nothing half-written, locked or staged is left. Rounds
 * start from an empty working directory until the wanted number of kills is
 * reached. Seeded, so a failing seed replays the same kill delays.
 */
import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadGraph } from '#dist/workflow/load-graph.js';
import { auditCommittedUpstreams, auditExecutionLog, auditWorkdir, committedOutputs } from './audit.js';
import { tortureNodeCount, tortureWorkflow } from './workflow.js';

export interface TortureOptions {
  /** Kills to survive in all. */
  kills: number;
  seed: number;
  /** Path of the built CLI (dist/cli/main.js). */
  cli: string;
  /** An empty scratch directory the torture may fill. */
  scratch: string;
  groups?: number;
  jobs?: number;
  /** Progress lines; default none. */
  log?: (line: string) => void;
}

export interface TortureReport {
  seed: number;
  nodes: number;
  kills: number;
  rounds: number;
  /** Milliseconds from a restart to its first node starting (restarts after a kill that started one). */
  recoveryMs: number[];
  problems: string[];
}

/** Deterministic uniform [0, 1) numbers from a seed (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Attempt {
  code: number | null;
  signal: NodeJS.Signals | null;
  killed: boolean;
  stderr: string;
  /** Standard output, whole (JSON events with --json). */
  stdout: string;
  /** ms from spawn to the first node-started event, if any. */
  firstStartMs: number | undefined;
  durationMs: number;
}

/** Run the CLI once; SIGKILL it after `killAfterMs` unless it exits first. */
export function runAttempt(
  cli: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  killAfterMs: number | undefined,
): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    let firstStartMs: number | undefined;
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (firstStartMs === undefined && stdout.includes('"type":"node-started"'))
        firstStartMs = performance.now() - started;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const timer =
      killAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            killed = child.kill('SIGKILL');
          }, killAfterMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({
        code,
        signal,
        killed: killed && signal === 'SIGKILL',
        stderr,
        stdout,
        firstStartMs,
        durationMs: performance.now() - started,
      });
    });
  });
}

export async function torture(options: TortureOptions): Promise<TortureReport> {
  const log = options.log ?? (() => undefined);
  const random = seededRandom(options.seed);
  const jobs = String(options.jobs ?? 4);
  const report: TortureReport = { seed: options.seed, nodes: 0, kills: 0, rounds: 0, recoveryMs: [], problems: [] };
  await mkdir(options.scratch, { recursive: true });
  const workflowFile = join(options.scratch, 'torture.json');
  const workflowOptions = { groups: options.groups ?? 20, executionLog: join(options.scratch, 'execution.log') };
  report.nodes = tortureNodeCount(workflowOptions);

  // The reference: one uninterrupted run, with its own log.
  const referenceDir = join(options.scratch, 'reference');
  await writeFile(
    workflowFile,
    JSON.stringify(tortureWorkflow({ ...workflowOptions, executionLog: join(options.scratch, 'reference.log') })),
  );
  const reference = await runAttempt(
    options.cli,
    ['run', workflowFile, '--workdir', referenceDir, '--jobs', jobs, '--json'],
    process.env,
    undefined,
  );
  if (reference.code !== 0)
    throw new Error(`the uninterrupted reference run failed (exit ${String(reference.code)}): ${reference.stderr}`);
  const expected = await committedOutputs(referenceDir, await loadGraph(workflowFile));
  // Kill anywhere from just after start-up to just before the end of a full run.
  const window = reference.durationMs;
  log(`seed ${options.seed}: ${report.nodes} nodes, uninterrupted run ${Math.round(window)} ms`);

  await writeFile(workflowFile, JSON.stringify(tortureWorkflow(workflowOptions)));
  const graph = await loadGraph(workflowFile);
  while (report.kills < options.kills) {
    report.rounds++;
    const workdir = join(options.scratch, `round${report.rounds}`);
    await rm(workflowOptions.executionLog, { force: true });
    const env = { ...process.env, RUN_GRAPH_EXECUTION_LOG: workflowOptions.executionLog };
    let killsThisRound = 0;
    for (;;) {
      const delay = report.kills < options.kills ? 50 + random() * window : undefined;
      const attempt = await runAttempt(
        options.cli,
        ['run', workflowFile, '--workdir', workdir, '--jobs', jobs, '--json'],
        env,
        delay,
      );
      if (attempt.killed) {
        report.kills++;
        killsThisRound++;
        // What the kill left must already keep this promise, before any run tidies it.
        const torn = await auditCommittedUpstreams(workdir);
        if (torn.length > 0) {
          report.problems.push(...torn.slice(0, 20).map((p) => `round ${report.rounds}, kill ${report.kills}: ${p}`));
          return report;
        }
        continue;
      }
      if (killsThisRound > 0 && attempt.firstStartMs !== undefined) report.recoveryMs.push(attempt.firstStartMs);
      if (attempt.code !== 0) {
        report.problems.push(
          `round ${report.rounds}: run exited ${String(attempt.code ?? attempt.signal)} without being killed: ${attempt.stderr.trim()}`,
        );
        return report;
      }
      break;
    }
    const { problems } = await auditExecutionLog(workflowOptions.executionLog);
    problems.push(...(await auditWorkdir(workdir)));
    const actual = await committedOutputs(workdir, graph);
    for (const [key, sha] of expected) {
      if (actual.get(key) !== sha) problems.push(`output ${key} differs from the uninterrupted run`);
    }
    if (actual.size !== expected.size)
      problems.push(`${actual.size} committed outputs, the uninterrupted run has ${expected.size}`);
    report.problems.push(...problems.slice(0, 20).map((p) => `round ${report.rounds}: ${p}`));
    if (problems.length > 20) report.problems.push(`round ${report.rounds}: ... and ${problems.length - 20} more`);
    log(`round ${report.rounds}: ${killsThisRound} kills, ${problems.length} problems (total kills ${report.kills})`);
    if (problems.length > 0) return report;
    await rm(workdir, { recursive: true, force: true });
  }
  return report;
}
