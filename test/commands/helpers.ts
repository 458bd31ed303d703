/**
 * Helpers for the tests of issue 5's commands and library API: run the
 * built CLI (`dist/cli/main.js`) in a fresh temporary folder, and write
 * operation modules that import the built package, so the CLI and an
 * in-process test load the very same operation definitions.
 *
 * The CLI tests run the BUILT code: `npm test` builds first; by hand, run
 * `npm run build` before `npx vitest run test/commands`.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
/** The built library, as an operation module imports it. */
export const DIST_INDEX_URL = pathToFileURL(join(REPO_ROOT, 'dist', 'index.js')).href;

if (!existsSync(CLI)) throw new Error(`${CLI} is missing: these tests run the built CLI; run \`npm run build\` first.`);

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI tests' runner: `node dist/cli/main.js ...args`, killed if it hangs. */
export { runCli } from '../cli/helpers.js';

export interface Sandbox {
  readonly dir: string;
  path(...parts: string[]): string;
  /** Write a file (JSON for objects) and return its path. */
  write(name: string, content: string | object): Promise<string>;
  cleanup(): Promise<void>;
}

export async function createSandbox(): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), 'run-graph-api-'));
  const path = (...parts: string[]): string => join(dir, ...parts);
  return {
    dir,
    path,
    async write(name, content) {
      const target = path(name);
      await writeFile(target, typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
      return target;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * The source of an operation module defining `demo.simulate` at `version`:
 * it appends its label to `logPath` each time it runs (so tests count real
 * executions) and returns `steps` evenly spaced positions times `scale`.
 * `demo.summarize` (version 1) reduces the positions to their sum.
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
      { label: 'matrix', operation: 'scalems.Integer64', input: { data: [[1, 2], [3, 4]] } },
      { label: 'doubled', operation: 'run-graph.Add', input: { a: { $ref: 'matrix' }, b: { $ref: 'matrix' } } },
    ],
  };
}
