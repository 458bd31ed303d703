/**
 * The benchmark itself runs: `build/bench/main.js --quick` on tiny sizes
 * prints one table with every expected row and writes a JSON report whose
 * every median is a number. No timing is asserted: figures on a shared test
 * machine mean nothing, only that they are produced.
 *
 * Runs the BUILT benchmark (`npm test` builds first; by hand: `npm run build &&
 * npx vitest run test/bench`).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../bench/table.js';
import { REPO_ROOT } from '../support/cli.js';

const BENCH = join(REPO_ROOT, 'build', 'bench', 'main.js');

if (!existsSync(BENCH)) {
  throw new Error(`${BENCH} is missing: this test runs the built benchmark. Run \`npm run build\` first.`);
}

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBench(args: readonly string[]): Promise<Exit> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BENCH, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 110_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

const SIZES = [10, 100];
const SHAPE_ROWS = [
  'build',
  'cold',
  'cold.per-node',
  'floor-before',
  'cold.vs-floor',
  'noop',
  'noop.per-node',
  'partial',
  'rss',
];
const EXPECTED_IDS = [
  'floor.fsync.1',
  'floor.fsync.jobs',
  'floor.fsync.in-flight',
  'floor.nofsync.1',
  'floor.nofsync.jobs',
  ...['fanout', 'chain'].flatMap((shape) => SIZES.flatMap((n) => SHAPE_ROWS.map((row) => `${shape}.${n}.${row}`))),
  ...SIZES.map((n) => `fanout.${n}.cold.vs-floor-in-flight`),
  'subprocess.10.cold',
  'subprocess.10.noop',
  ...['fanout', 'chain'].flatMap((shape) => ['cold', 'noop'].map((phase) => `subprocess-cli.${shape}.10.${phase}`)),
  'cli.version',
  'cli.node-start',
  'fingerprint.array.raw-sha256',
  'fingerprint.array.npy-input',
  'fingerprint.array.share',
  'fingerprint.record.raw-sha256',
  'fingerprint.record.canonical-json',
  'fingerprint.record.fingerprint',
  'fingerprint.record.share',
  ...['fanout', 'chain'].flatMap((shape) =>
    ['build', 'cold', 'noop', 'partial'].map((phase) => `scaling.${shape}.${phase}.100`),
  ),
  ...['metadata', 'chunk', 'asset'].flatMap((route) => [`serve.${route}.rps`, `serve.${route}.p99`]),
  'serve.sse.rss',
];
const MAKE_IDS = [
  'make.10.cold',
  'make.10.noop',
  'subprocess.10.cold.vs-make',
  'subprocess.10.noop.vs-make',
  ...['fanout', 'chain'].flatMap((shape) =>
    ['cold', 'noop'].flatMap((phase) => [`make.${shape}.10.${phase}`, `subprocess-cli.${shape}.10.${phase}.vs-make`]),
  ),
];

describe('npm run bench -- --quick', () => {
  let dir: string;
  let result: Exit;
  let report: BenchReport;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'run-graph-bench-smoke-'));
    result = await runBench(['--quick', '--out', join(dir, 'report.json'), '--dir', dir]);
    if (result.code === 0) report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as BenchReport;
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 0', () => {
    expect(result.stderr).not.toMatch(/^bench: .*Error/m);
    expect(result.code).toBe(0);
  });

  it('prints one table with a row per measurement and a verdict on every target', () => {
    const tableLines = result.stdout.split('\n').filter((line) => line.startsWith('|'));
    expect(tableLines[0]).toMatch(/^\| measurement +\| +median \| target +\| result \|$/);
    const labels = tableLines.slice(2).map((line) => line.split('|')[1]?.trim());
    expect(labels).toEqual(report.rows.map((row) => row.label));
    for (const label of [
      'fanout 100: cold run, per node',
      'chain 10: no-op resume incl. graph build, per node',
      'array fingerprint / raw sha256',
      'scaling chain cold: time(100) / time(10)',
    ]) {
      expect(labels).toContain(label);
    }
    expect(result.stdout).toMatch(/\| (pass|short) +\|/);
  });

  it('writes a JSON report with every expected row and a numeric median in each', () => {
    const hasMake = !report.notes.some((note) => note.includes('make is not installed'));
    const expected = hasMake ? [...EXPECTED_IDS, ...MAKE_IDS] : EXPECTED_IDS;
    const ids = report.rows.map((row) => row.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(expected));
    for (const row of report.rows) {
      expect(typeof row.median, row.id).toBe('number');
      expect(Number.isFinite(row.median), `${row.id} median ${String(row.median)}`).toBe(true);
      expect(row.median, row.id).toBeGreaterThan(0);
      if (row.target !== undefined) expect(['pass', 'short'], row.id).toContain(row.verdict);
      for (const sample of row.samples) expect(Number.isFinite(sample), row.id).toBe(true);
    }
    expect(report.settings).toMatchObject({ quick: true, reps: 1, sizes: SIZES });
    expect(report.machine.cores).toBeGreaterThan(0);
  });

  it('compares each cold run with the floor measured just before it', () => {
    const median = (id: string): number => report.rows.find((row) => row.id === id)?.median ?? Number.NaN;
    for (const shape of ['fanout', 'chain']) {
      for (const n of SIZES) {
        // One repetition: the median of the per-repetition ratios is that repetition's ratio.
        const ratio = median(`${shape}.${n}.cold.per-node`) / median(`${shape}.${n}.floor-before`);
        expect(median(`${shape}.${n}.cold.vs-floor`), `${shape} ${n}`).toBeCloseTo(ratio, 6);
      }
    }
  });

  it('leaves no working directory behind', async () => {
    expect((await readdir(dir)).filter((name) => name !== 'report.json')).toEqual([]);
  });
});
