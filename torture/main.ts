#!/usr/bin/env node
/**
 * `npm run torture -- --kills 500 --seed S`: the long crash torture. Prints
 * the seed first so any failure can be replayed, then one line per round,
 * then the figures; exits non-zero on the first broken promise.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { torture } from './harness.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '100' },
    seed: { type: 'string' },
    groups: { type: 'string', default: '20' },
    jobs: { type: 'string', default: '4' },
    keep: { type: 'boolean', default: false },
  },
});
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const scratch = await mkdtemp(join(tmpdir(), 'run-graph-torture-'));
process.stdout.write(`torture: seed ${seed} (replay with --seed ${seed}), scratch ${scratch}\n`);
const report = await torture({
  kills: Number(values.kills),
  seed,
  groups: Number(values.groups),
  jobs: Number(values.jobs),
  cli: fileURLToPath(import.meta.resolve('#dist/cli/main.js')),
  scratch,
  log: (line) => process.stdout.write(`${line}\n`),
});
const sorted = [...report.recoveryMs].sort((a, b) => a - b);
const median = sorted.length === 0 ? NaN : (sorted[Math.floor(sorted.length / 2)] ?? NaN);
process.stdout.write(
  `kills survived: ${report.kills} in ${report.rounds} rounds of ${report.nodes} nodes; median time from restart to first node started: ${Math.round(median)} ms\n`,
);
if (report.problems.length > 0) {
  process.stdout.write(
    `FAILED with seed ${seed}:\n${report.problems.map((p) => `  ${p}`).join('\n')}\nscratch kept at ${scratch}\n`,
  );
  process.exitCode = 1;
} else if (!values.keep) {
  await rm(scratch, { recursive: true, force: true });
}
