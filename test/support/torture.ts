/**
 * The crash tests' side of the torture harness: the CLI run as one attempt
 * (which may be SIGKILLed on purpose), small torture workflows, and the
 * outputs of an uninterrupted run to compare a recovered one with.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ConcreteGraph } from '../../src/workflow/graph.js';
import { loadGraph } from '../../src/workflow/load-graph.js';
import { committedOutputs } from '../../torture/audit.js';
import { runAttempt, type Attempt } from '../../torture/harness.js';
import { tortureWorkflow, type TortureWorkflowOptions } from '../../torture/workflow.js';
import { CLI, requireBuiltCli } from './cli.js';
import { createSandbox } from './sandbox.js';

/**
 * Run the CLI as the torture harness runs an attempt: this process's
 * environment plus `env`, no time limit, SIGKILLed after `killAfterMs` if
 * given (`killed` then says whether the kill is what ended it).
 */
export function runCliAttempt(args: string[], env: NodeJS.ProcessEnv = {}, killAfterMs?: number): Promise<Attempt> {
  requireBuiltCli();
  return runAttempt(CLI, args, { ...process.env, ...env }, killAfterMs);
}

/** Write a torture workflow into `dir`; returns its path and the execution log path. */
export async function writeTortureWorkflow(
  dir: string,
  options: Partial<TortureWorkflowOptions> = {},
): Promise<{ file: string; log: string }> {
  const log = join(dir, 'execution.log');
  const file = join(dir, 'workflow.json');
  await writeFile(
    file,
    JSON.stringify(
      tortureWorkflow({
        groups: 3,
        transforms: 3,
        subprocesses: 1,
        ...options,
        executionLog: options.executionLog ?? log,
      }),
    ),
  );
  return { file, log };
}

/** A sandbox holding a torture workflow, its graph, and the outputs an uninterrupted run of it commits. */
export interface TortureReference {
  dir: string;
  cleanup: () => Promise<void>;
  workflow: { file: string; log: string };
  graph: ConcreteGraph;
  /** Committed outputs by label, of a run in `<dir>/reference` with the given arguments. */
  expected: Map<string, string>;
}

/**
 * Write a torture workflow into a fresh sandbox and run it once to the end
 * (`run --workdir <dir>/reference ...referenceArgs`): the outputs every
 * interrupted and resumed run must end with.
 */
export async function tortureReference(
  options: Partial<TortureWorkflowOptions>,
  referenceArgs: string[],
): Promise<TortureReference> {
  const { dir, cleanup } = await createSandbox();
  try {
    const workflow = await writeTortureWorkflow(dir, options);
    const graph = await loadGraph(workflow.file);
    const reference = join(dir, 'reference');
    const run = await runCliAttempt(['run', workflow.file, '--workdir', reference, ...referenceArgs]);
    expect(run.code, run.stderr).toBe(0);
    return { dir, cleanup, workflow, graph, expected: await committedOutputs(reference, graph) };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
