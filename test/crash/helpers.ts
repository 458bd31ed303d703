// Shared set-up of the crash tests: the built CLI (npm test builds dist/
// before vitest runs), scratch directories, and small torture workflows.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runAttempt } from '../../torture/harness.js';
import { tortureWorkflow, type TortureWorkflowOptions } from '../../torture/workflow.js';

export const CLI = resolve(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

export function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error('dist/cli/main.js is missing: run `npm run build` (npm test does)');
}

/** A scratch directory, removed by the returned cleanup. */
export async function scratch(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'run-graph-crash-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Write a torture workflow into `dir`; returns its path and the execution log path. */
export async function writeTortureWorkflow(dir: string, options: Partial<TortureWorkflowOptions> = {}): Promise<{ file: string; log: string }> {
  const log = join(dir, 'execution.log');
  const file = join(dir, 'workflow.json');
  await writeFile(file, JSON.stringify(tortureWorkflow({ groups: 3, transforms: 3, subprocesses: 1, ...options, executionLog: options.executionLog ?? log })));
  return { file, log };
}

/** Run the CLI to completion (no kill) with extra environment variables. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, killAfterMs?: number): ReturnType<typeof runAttempt> {
  return runAttempt(CLI, args, { ...process.env, ...env }, killAfterMs);
}
