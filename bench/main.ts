/**
 * `npm run bench` (`node build/bench/main.js`): run the benchmark suite, print
 * one table on stdout (progress goes to stderr), and with `--out FILE` write
 * the same results as JSON.
 *
 *     --out FILE      write the report as JSON
 *     --large         add the 100,000-node workflows (minutes)
 *     --reps N        repetitions per figure (default 5; 1 with --quick)
 *     --quick         tiny sizes: checks that the benchmark runs, measures nothing
 *     --shapes LIST   trivial-node shapes to run, comma-separated (default: fanout,chain)
 *     --jobs N        concurrent nodes for run-graph and make (default: the number of CPUs)
 *     --dir DIR       where working directories are made (default: the OS temp dir)
 *     --cpu-prof DIR  write a V8 CPU profile of every phase child into DIR
 */
import { mkdir } from 'node:fs/promises';
import writeFileAtomic from 'write-file-atomic';
import { availableParallelism, tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { machineLine } from './machine.js';
import { runSuite } from './suite.js';
import { formatTable } from './table.js';

const USAGE =
  'usage: node build/bench/main.js [--out FILE] [--large] [--reps N] [--quick] [--shapes fanout,chain] [--jobs N] [--dir DIR] [--cpu-prof DIR]';

function shapeList(text: string | undefined): ('fanout' | 'chain')[] {
  if (text === undefined) return ['fanout', 'chain'];
  const shapes = text.split(',').map((s) => s.trim());
  for (const shape of shapes) {
    if (shape !== 'fanout' && shape !== 'chain')
      throw new Error(`--shapes: expected fanout and/or chain, got ${JSON.stringify(shape)}`);
  }
  return [...new Set(shapes)] as ('fanout' | 'chain')[];
}

function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new Error(`--${name}: expected a positive integer, got ${JSON.stringify(text)}`);
  return value;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      large: { type: 'boolean', default: false },
      reps: { type: 'string' },
      quick: { type: 'boolean', default: false },
      shapes: { type: 'string' },
      jobs: { type: 'string' },
      dir: { type: 'string' },
      'cpu-prof': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const quick = values.quick;
  const reps = positiveInteger('reps', values.reps, quick ? 1 : 5);
  const jobs = positiveInteger('jobs', values.jobs, availableParallelism());
  const dir = resolve(values.dir ?? tmpdir());
  const profileDir = values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']);
  if (profileDir !== undefined) await mkdir(profileDir, { recursive: true });

  const started = performance.now();
  const report = await runSuite({
    dir,
    quick,
    large: values.large,
    shapes: shapeList(values.shapes),
    reps,
    jobs,
    ...(profileDir === undefined ? {} : { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', profileDir] }),
    log: (line) => process.stderr.write(`bench: ${line}\n`),
  });
  const minutes = (performance.now() - started) / 60_000;

  const header = [
    `run-graph benchmark${quick ? ' (--quick smoke run)' : ''}: medians of ${reps} repetition${reps === 1 ? '' : 's'}, jobs ${jobs}, ${minutes.toFixed(1)} min`,
    `machine: ${machineLine(report.machine)}`,
  ];
  process.stdout.write(
    `${header.join('\n')}\n\n${formatTable(report.rows)}\n\n${report.notes.map((note) => `- ${note}`).join('\n')}\n`,
  );
  // Atomically: a report from an earlier run is replaced whole or not at all.
  if (values.out !== undefined) await writeFileAtomic(values.out, `${JSON.stringify(report, null, 2)}\n`);
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n${USAGE}\n`);
  process.exitCode = 1;
}
