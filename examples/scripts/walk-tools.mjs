#!/usr/bin/env node
// Tools for examples/random-walk-ensemble.json, one executable with three
// subcommands so that every node that uses it depends on the content of this
// one file (run-graph hashes a {"$file": ...} argument by content).
//
//   walk-tools.mjs simulate <seed> <steps> <out.npy>   1-D random walk positions (float64)
//   walk-tools.mjs msd <positions.npy> <out.npy>        mean squared displacement per lag (float64)
//   walk-tools.mjs report <msd.npy> <members> <out.txt> a text summary of the ensemble (MSD rows joined end to end)
import { readFileSync, writeFileSync } from 'node:fs';

function writeNpy(path, values, shape) {
  let dict = `{'descr': '<f8', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - 10 - 1, ' ') + '\n';
  const header = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(header);
  header.writeUInt16LE(dict.length, 8);
  writeFileSync(path, Buffer.concat([header, Buffer.from(dict, 'latin1'), Buffer.from(Float64Array.from(values).buffer)]));
}

function readNpy(path) {
  const bytes = readFileSync(path);
  const headerLength = bytes.readUInt16LE(8);
  const dict = bytes.toString('latin1', 10, 10 + headerLength);
  if (!dict.includes("'<f8'")) throw new Error(`${path}: expected float64 data`);
  const shape = /'shape': \(([^)]*)\)/.exec(dict)[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const data = bytes.subarray(10 + headerLength);
  return { shape, values: new Float64Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
}

// A small deterministic generator (mulberry32), so a seed always gives the same walk.
function generator(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const [command, ...args] = process.argv.slice(2);
if (command === 'simulate') {
  const [seed, steps, out] = args;
  const next = generator(Number(seed));
  const positions = [0];
  for (let i = 1; i < Number(steps); i++) positions.push(positions[i - 1] + (next() < 0.5 ? -1 : 1));
  writeNpy(out, positions, [positions.length]);
  console.log(`simulated ${positions.length} steps with seed ${seed}`);
} else if (command === 'msd') {
  const [input, out] = args;
  const { values } = readNpy(input);
  const lags = Math.min(50, values.length - 1);
  const msd = [];
  for (let lag = 1; lag <= lags; lag++) {
    let total = 0;
    for (let i = lag; i < values.length; i++) total += (values[i] - values[i - lag]) ** 2;
    msd.push(total / (values.length - lag));
  }
  writeNpy(out, msd, [msd.length]);
} else if (command === 'report') {
  const [input, memberCount, out] = args;
  const { values } = readNpy(input);
  const members = Number(memberCount);
  const lags = values.length / members;
  const lines = [`ensemble of ${members} walks, MSD at ${lags} lags`];
  for (const lag of [1, 10, lags]) {
    let sum = 0;
    for (let m = 0; m < members; m++) sum += values[m * lags + lag - 1];
    lines.push(`lag ${lag}: mean MSD ${(sum / members).toFixed(3)} (a free walk gives ${lag})`);
  }
  writeFileSync(out, `${lines.join('\n')}\n`);
  console.log(lines.join('\n'));
} else {
  console.error(`usage: walk-tools.mjs simulate|msd|report ...; got ${command}`);
  process.exit(2);
}
