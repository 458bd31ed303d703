/**
 * Arrays from a `.npy` file beside the workflow (`run-graph.NpyFile`) and a
 * fan-in of several nodes (`run-graph.Concatenate`): the results, decoded
 * from the committed `.npy` artifacts, hold the right values; the file is
 * fingerprinted by content, so moving it re-runs nothing and changing it
 * re-runs exactly what depends on it.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocArray, decodeNpy, encodeNpy, type ArrayValue } from '../../src/values/npy.js';
import { eventsOf, labelsOf, must, parseEvents, runCli, uidsByLabel } from '../support/cli.js';
import { createSandbox, writeJson, type Sandbox } from '../support/sandbox.js';
import { readMetadata } from '../support/stores.js';
import { loggedNode, readLog, ref, type WorkflowDoc } from '../support/workflows.js';

function int64Array(shape: number[], values: number[]): ArrayValue<'int64'> {
  const array = allocArray('int64', shape);
  values.forEach((v, i) => (array.data[i] = BigInt(v)));
  return array;
}

function workflowFor(npyPath: string, log: string): WorkflowDoc {
  return {
    nodes: [
      { label: 'loaded', operation: 'run-graph.NpyFile', input: { file: { $file: npyPath } } },
      { label: 'extra', operation: 'scalems.Integer64', input: { data: [[7, 8, 9]] } },
      { label: 'doubled', operation: 'run-graph.Add', input: { a: ref('loaded'), b: ref('loaded') } },
      {
        label: 'stacked',
        operation: 'run-graph.Concatenate',
        input: { arrays: [ref('loaded'), ref('extra'), ref('doubled')] },
      },
      {
        label: 'side',
        operation: 'run-graph.Concatenate',
        input: { arrays: [ref('loaded'), ref('doubled')], axis: 1 },
      },
      { label: 'fractions', operation: 'scalems.Float64', input: { data: [[0.5, 0.25, 0.125]] } },
      { label: 'mixed', operation: 'run-graph.Concatenate', input: { arrays: [ref('extra'), ref('fractions')] } },
      loggedNode('consumer', log, { inputs: ['stacked'] }),
    ],
  };
}

/** The values of a node's array output as plain numbers, with its dtype and shape. */
async function resultOf(
  workdir: string,
  uid: string,
  file = 'result.npy',
): Promise<{ dtype: string; shape: number[]; values: number[] }> {
  const array = decodeNpy(await readFile(join(workdir, uid, file)));
  const values = Array.from(array.data as ArrayLike<number | bigint>, (x) => Number(x));
  return { dtype: array.dtype, shape: array.shape, values };
}

describe('NpyFile and Concatenate', () => {
  let box: Sandbox;
  beforeAll(async () => {
    box = await createSandbox();
  });
  afterAll(async () => {
    await box.cleanup();
  });

  it('reads a .npy input, joins several nodes, and fingerprints the file by content', async () => {
    const log = box.path('executions.log');
    const workdir = box.path('wd');
    await mkdir(box.path('arrays'));
    await writeFile(box.path('arrays', 'input.npy'), encodeNpy(int64Array([2, 3], [1, 2, 3, 4, 5, 6])));
    const workflow = await writeJson(box.path('arrays.json'), workflowFor('arrays/input.npy', log));

    // Run from another directory: $file is relative to the workflow file, not the cwd.
    const first = await runCli(['run', workflow, '--workdir', workdir], { cwd: box.path('arrays') });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const uids = await uidsByLabel(workflow);

    expect(await resultOf(workdir, must(uids, 'loaded'), 'data.npy')).toEqual({
      dtype: 'int64',
      shape: [2, 3],
      values: [1, 2, 3, 4, 5, 6],
    });
    expect(await resultOf(workdir, must(uids, 'stacked'))).toEqual({
      dtype: 'int64',
      shape: [5, 3],
      values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 2, 4, 6, 8, 10, 12],
    });
    expect(await resultOf(workdir, must(uids, 'side'))).toEqual({
      dtype: 'int64',
      shape: [2, 6],
      values: [1, 2, 3, 2, 4, 6, 4, 5, 6, 8, 10, 12],
    });
    expect(await resultOf(workdir, must(uids, 'mixed'))).toEqual({
      dtype: 'float64',
      shape: [2, 3],
      values: [7, 8, 9, 0.5, 0.25, 0.125],
    });

    // The record holds the array's dtype, shape and data digest, never the path.
    const loaded = await readMetadata(workdir, must(uids, 'loaded'));
    const recordText = JSON.stringify(loaded.record);
    expect(recordText).toContain('"$npy"');
    expect(recordText).not.toContain('input.npy');
    expect(loaded.record.depends).toEqual([]);
    expect((await readMetadata(workdir, must(uids, 'stacked'))).record.depends).toEqual(
      [must(uids, 'loaded'), must(uids, 'extra'), must(uids, 'doubled')].sort(),
    );
    expect(await readLog(log)).toEqual(['consumer']);

    // Same content under another name: nothing re-runs.
    await rename(box.path('arrays', 'input.npy'), box.path('arrays', 'renamed.npy'));
    await writeJson(workflow, workflowFor('arrays/renamed.npy', log));
    const moved = await runCli(['run', workflow, '--workdir', workdir, '--json']);
    expect(moved.code).toBe(0);
    expect(eventsOf(parseEvents(moved.stdout), 'node-started')).toEqual([]);
    expect(await uidsByLabel(workflow)).toEqual(uids);

    // New content: the file's node and everything downstream of it re-run, the rest is reused.
    await writeFile(box.path('arrays', 'renamed.npy'), encodeNpy(int64Array([2, 3], [10, 20, 30, 40, 50, 60])));
    const changed = await runCli(['run', workflow, '--workdir', workdir, '--json']);
    expect(changed.code).toBe(0);
    const events = parseEvents(changed.stdout);
    expect(labelsOf(events, 'node-started')).toEqual(['consumer', 'doubled', 'loaded', 'side', 'stacked']);
    expect(labelsOf(events, 'node-reused')).toEqual(['extra', 'fractions', 'mixed']);
    expect(await readLog(log)).toEqual(['consumer', 'consumer']);
    const newUids = await uidsByLabel(workflow);
    expect(await resultOf(workdir, must(newUids, 'stacked'))).toEqual({
      dtype: 'int64',
      shape: [5, 3],
      values: [10, 20, 30, 40, 50, 60, 7, 8, 9, 20, 40, 60, 80, 100, 120],
    });
    // The old results are still there, unchanged.
    expect((await resultOf(workdir, must(uids, 'stacked'))).values.slice(0, 3)).toEqual([1, 2, 3]);
  });

  it('refuses a $file that is not a .npy array, naming node and field', async () => {
    await writeFile(box.path('not-an-array.npy'), 'hello\n');
    const workflow = await writeJson(box.path('bad-npy.json'), {
      nodes: [{ label: 'loaded', operation: 'run-graph.NpyFile', input: { file: { $file: 'not-an-array.npy' } } }],
    });
    const result = await runCli(['run', workflow, '--workdir', box.path('bad-wd')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('E_NPY_FORMAT');
    expect(result.stderr).toContain("node 'loaded'");
    expect(result.stderr).toContain("field 'input.file'");
    expect(await readLog(box.path('executions.log'))).toEqual(['consumer', 'consumer']);
  });
});
