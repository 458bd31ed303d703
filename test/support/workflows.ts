/**
 * Workflows the tests run, and ways to count executions honestly, outside
 * the engine: `loggedNode` makes a `scalems.Subprocess` node whose command
 * appends one line (its tag) to an execution log that lives outside the
 * working directory, so a reused node adds nothing to the log and a re-run
 * one adds exactly one line; the demo operation module appends its label.
 */
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DIST_INDEX_URL, REPO_ROOT } from './cli.js';
import type { Sandbox } from './sandbox.js';

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

/**
 * Copy `examples/<name>` into the sandbox and return the copy's path. A
 * test runs an example's copy, never the example in place: a command's
 * default working directory is `<workflow>.workdir` beside the workflow, and
 * beside the checkout's example lies whatever a user's own run of it left
 * there (the README's quick start makes examples/quickstart.workdir).
 */
export async function copyExample(name: string, box: Sandbox): Promise<string> {
  const copy = box.path(name);
  await copyFile(join(REPO_ROOT, 'examples', name), copy);
  return copy;
}

/** `{"$ref": target}`. */
export function ref(target: string): { $ref: string } {
  return { $ref: target };
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
      argv: [
        'sh',
        '-c',
        script,
        options.tag ?? label,
        logPath,
        ...(options.inputs ?? []).map((ref) => ({ $ref: ref })),
      ],
      outputFiles: ['out.txt'],
      ...(options.env === undefined ? {} : { env: options.env }),
    },
  };
}

/**
 * The source of an operation module defining `demo.simulate` at `version`:
 * it appends its label to `logPath` each time it runs (so tests count real
 * executions) and returns `steps` evenly spaced positions times `scale`.
 * `demo.summarize` (version 1) reduces the positions to their sum. It
 * imports the built package, so the CLI and an in-process test load the
 * very same operation definitions.
 */
export function demoOperationsModule(version: string, logPath: string): string {
  return `import { appendFileSync } from 'node:fs';
import { defineOperation } from ${JSON.stringify(DIST_INDEX_URL)};

export const simulate = defineOperation({
  namespace: 'demo',
  name: 'simulate',
  version: ${JSON.stringify(version)},
  inputs: { steps: { dtype: 'int64', shape: [] }, scale: { dtype: 'float64', shape: [] } },
  outputs: { positions: { dtype: 'float64', shape: [null] } },
  run({ steps, scale }, context) {
    appendFileSync(${JSON.stringify(logPath)}, context.label + '\\n');
    return { positions: Array.from({ length: Number(steps) }, (_, i) => i * scale) };
  },
});

export const summarize = defineOperation({
  namespace: 'demo',
  name: 'summarize',
  version: '1',
  inputs: { positions: { dtype: 'float64', shape: [null] } },
  outputs: { total: { dtype: 'float64', shape: [] }, note: { dtype: 'string' } },
  defaultOutput: 'total',
  run({ positions }, context) {
    appendFileSync(${JSON.stringify(logPath)}, context.label + '\\n');
    return { total: positions.data.reduce((a, b) => a + b, 0), note: 'sum of ' + positions.data.length + ' positions' };
  },
});
`;
}

/** A workflow using demo.simulate and demo.summarize from `./ops.mjs`, plus a built-in chain. */
export function demoWorkflow(options: { steps?: number; module?: string } = {}): object {
  return {
    operations: [options.module ?? './ops.mjs'],
    nodes: [
      { label: 'sim', operation: 'demo.simulate', input: { steps: options.steps ?? 4, scale: 0.5 } },
      { label: 'summary', operation: 'demo.summarize', input: { positions: { $ref: 'sim' } } },
      {
        label: 'matrix',
        operation: 'scalems.Integer64',
        input: {
          data: [
            [1, 2],
            [3, 4],
          ],
        },
      },
      { label: 'doubled', operation: 'run-graph.Add', input: { a: { $ref: 'matrix' }, b: { $ref: 'matrix' } } },
    ],
  };
}
