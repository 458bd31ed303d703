// The bin runs the CLI from dist/cli/run-graph.cjs, one bundled file
// (src/cli/bundle.ts), instead of its ES modules. Every command must do
// through the bundle what it does through the modules (dist/cli/main.js,
// what Slurm jobs run): the same output, the same files found where they
// are (package.json, schemas, validators, worker and watchdog scripts).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIST_INDEX_URL, REPO_ROOT } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

const BIN = join(REPO_ROOT, 'dist', 'cli', 'bin.cjs');
const MODULES = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const BUNDLE = join(REPO_ROOT, 'dist', 'cli', 'run-graph.cjs');

interface Outcome {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(entry: string, args: readonly string[], cwd: string): Outcome {
  const result = spawnSync(process.execPath, [entry, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, CI: '1' },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Timings and dates differ from one run to the next; everything else must not. */
function steady(text: string): string {
  return text
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
    .replace(/"(durationMs|cpuUserMs|cpuSystemMs|maxRssBytes|pid)":\s*([\d.]+|null)/g, '"$1": <n>')
    .replace(/\bpid \d+/g, 'pid <n>')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<context id>')
    .replace(/\b\d+(\.\d+)? ?(ms|s)\b/g, '<duration>');
}

describe('the bundled CLI', () => {
  let sandbox: Sandbox;
  let workflow: string;
  beforeAll(async () => {
    sandbox = await createSandbox();
    workflow = sandbox.path('quickstart.json');
    copyFileSync(join(REPO_ROOT, 'examples', 'quickstart.json'), workflow);
  });
  afterAll(() => sandbox.cleanup());

  it('is built, and the bin runs the CLI from it', () => {
    expect(existsSync(BUNDLE), 'run `npm run build` (npm test does)').toBe(true);
    // An error with --verbose prints its stack: the frames name the file the code ran from.
    const missing = cli(BIN, ['--verbose', 'validate', sandbox.path('none.json')], sandbox.dir);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('run-graph.cjs');
    const fromModules = cli(MODULES, ['--verbose', 'validate', sandbox.path('none.json')], sandbox.dir);
    expect(fromModules.stderr).not.toContain('run-graph.cjs');
    expect(fromModules.stderr.split('\n')[0]).toBe(missing.stderr.split('\n')[0]);
  });

  it("compiles it with the build's code cache, and without one that V8 refuses", () => {
    const debug = { ...process.env, NODE_DEBUG: 'run-graph' };
    const used = spawnSync(process.execPath, [BIN, 'validate', workflow], { encoding: 'utf8', env: debug });
    expect(used.status, used.stderr).toBe(0);
    expect(used.stderr).toMatch(/code cache used/);
    // Other V8 flags than the build's: V8 refuses the cache, and the CLI works as well.
    const refused = spawnSync(process.execPath, ['--max-old-space-size=512', BIN, 'validate', workflow], {
      encoding: 'utf8',
      env: debug,
    });
    expect(refused.stderr).toMatch(/code cache refused/);
    expect({ status: refused.status, stdout: refused.stdout }).toEqual({ status: 0, stdout: used.stdout });
  });

  it('imports an operation module from code compiled with the cache', async () => {
    // The bundle's import() of a module goes through the bin (see bin.cts); a cached script cannot make one itself.
    const ops = await sandbox.write(
      'ops.mjs',
      `import { defineOperation } from ${JSON.stringify(DIST_INDEX_URL)};\n` +
        "export const same = defineOperation({ namespace: 'demo', name: 'Same', version: '1',\n" +
        "  inputs: { x: { dtype: 'int64', shape: [2] } }, outputs: { y: { dtype: 'int64', shape: [2] } },\n" +
        '  run: ({ x }) => ({ y: x }) });\n',
    );
    const flow = await sandbox.write('ops-flow.json', {
      operations: [`./${ops.split('/').pop() ?? ''}`],
      nodes: [
        { label: 'x', operation: 'scalems.Integer64', input: { data: [1, 2] } },
        { label: 'y', operation: 'demo.Same', input: { x: { $ref: 'x' } } },
      ],
    });
    const debug = { ...process.env, CI: '1', NODE_DEBUG: 'run-graph' };
    const ran = spawnSync(process.execPath, [BIN, 'run', flow, '--workdir', sandbox.path('ops.workdir')], {
      encoding: 'utf8',
      env: debug,
    });
    expect(ran.stderr).toMatch(/code cache used/);
    expect(ran.status, ran.stderr).toBe(0);
    expect(ran.stdout).toMatch(/2 built, 0 reused/);
  });

  it('gives every command the output the ES modules give it', () => {
    // Each side its own working directory and report, under a folder of its own.
    const side = (entry: string): string => sandbox.path(entry === BIN ? 'bundle' : 'modules');
    const commands = (entry: string): string[][] => {
      const workdir = join(side(entry), 'workdir');
      return [
        ['--help'],
        ['validate', workflow, '--json'],
        ['run', workflow, '--workdir', workdir],
        ['run', workflow, '--workdir', workdir],
        ['status', workflow, '--workdir', workdir, '--json'],
        ['explain', workflow, 'total', '--workdir', workdir],
        ['graph', workflow, '--workdir', workdir],
        ['graph', workflow, '--format', 'dot'],
        ['inspect', 'total', '--workflow', workflow, '--workdir', workdir, '--json'],
        ['logs', workflow, 'report', '--workdir', workdir],
        ['publish', workflow, '--workdir', workdir, '--json'],
        ['unlock', '--workdir', workdir, '--json'],
        ['gc', '--keep', workflow, '--workdir', workdir, '--json'],
        ['report', workflow, '--workdir', workdir, '-o', join(side(entry), 'report.html')],
        ['run', sandbox.path('none.json')],
      ];
    };
    const outcomes = (entry: string): Outcome[] =>
      commands(entry).map((args) => {
        const { status, stdout, stderr } = cli(entry, args, sandbox.dir);
        const shown = (text: string): string => steady(text).replaceAll(side(entry), '<side>');
        // A run's nodes start and commit in an order the disk's timing decides: its lines are compared as a set.
        const lines = (text: string): string => (args[0] === 'run' ? text.split('\n').sort().join('\n') : text);
        return { status, stdout: lines(shown(stdout)), stderr: shown(stderr) };
      });
    const viaBundle = outcomes(BIN);
    const viaModules = outcomes(MODULES);
    viaBundle.forEach((outcome, i) => {
      const label = (commands(BIN)[i] ?? []).join(' ');
      expect({ label, ...outcome }).toEqual({ label, ...viaModules[i] });
    });
    // The last command fails; the others succeed, and the run found nothing to do the second time.
    expect(viaBundle.map((outcome) => outcome.status)).toEqual([...Array<number>(14).fill(0), 2]);
    expect(viaBundle[3]?.stdout).toMatch(/0 built, 4 reused/);
    expect(readFileSync(sandbox.path('bundle', 'report.html'), 'utf8')).toContain('<html');
  });
});
