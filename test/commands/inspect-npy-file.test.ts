// A subprocess's .npy output file is committed as a file; inspect reads its header (only its header) and
// shows its dtype and shape, as for an array artifact, in text and in --json, even when it is too large
// to preview.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

// Writes <name>: an int32 array of the given shape, its data left as zeros by truncate (a sparse file).
const WRITE_NPY = `
const fs = require('node:fs');
const [name, ...dims] = process.argv.slice(1);
const shape = dims.map(Number);
let dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (" + shape.join(', ') + (shape.length === 1 ? ',' : '') + "), }";
dict = dict.padEnd(Math.ceil((dict.length + 11) / 64) * 64 - 11) + '\\n';
const header = Buffer.alloc(10);
Buffer.from('\\x93NUMPY', 'latin1').copy(header);
header[6] = 1; header[7] = 0; header.writeUInt16LE(dict.length, 8);
fs.writeFileSync(name, Buffer.concat([header, Buffer.from(dict, 'latin1')]));
fs.truncateSync(name, header.length + dict.length + 4 * shape.reduce((a, b) => a * b, 1));
`;

let box: Sandbox;
let workflow: string;
beforeAll(async () => {
  box = await createSandbox();
  const node = (label: string, name: string, dims: string[]): object => ({
    label,
    operation: 'scalems.Subprocess',
    input: { argv: ['node', '-e', WRITE_NPY, name, ...dims], outputFiles: [name] },
  });
  workflow = await box.write('wf.json', {
    nodes: [node('small', 'grid.npy', ['3', '4']), node('large', 'big.npy', ['5000000'])],
  });
  const run = await runCli(['run', workflow, '--workdir', box.path('wd')]);
  expect(run.code, run.stderr).toBe(0);
});
afterAll(async () => {
  await box.cleanup();
});

describe('inspect of a subprocess .npy output', () => {
  it('shows its dtype and shape', async () => {
    const result = await runCli(['inspect', 'small', '--workflow', workflow, '--workdir', box.path('wd')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/grid\.npy\s+file \(\.npy\) int32 \[3, 4\], 176 B, grid\.npy: 0, 0, 0/);
    const json = await runCli(['inspect', 'small', '--workflow', workflow, '--workdir', box.path('wd'), '--json']);
    const report = JSON.parse(json.stdout) as { artifacts: { output: string; dtype?: string; shape?: number[] }[] };
    expect(report.artifacts.find((a) => a.output === 'grid.npy')).toMatchObject({ dtype: 'int32', shape: [3, 4] });
  });

  it('reads only the header of one too large to preview', async () => {
    const result = await runCli(['inspect', 'large', '--workflow', workflow, '--workdir', box.path('wd')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /big\.npy\s+file \(\.npy\) int32 \[5000000\], 19 MiB, big\.npy: \(large array: not read\)/,
    );
  });
});
