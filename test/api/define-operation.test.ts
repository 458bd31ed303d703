// defineOperation: declarations validated when the operation is defined
// (each error names the field and shows the value it got), inputs and
// outputs checked before anything runs, and converted both ways at run time.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WorkerContext } from '../../src/engine/worker-context.js';
import { RunGraphError } from '../../src/errors.js';
import { GraphBuilder, fileInput } from '../../src/api/graph-builder.js';
import { integer64 } from '../../src/operations/data.js';
import { defineOperation, type OperationSpec } from '../../src/operations/define.js';
import type { PortDeclarations } from '../../src/operations/ports.js';

type AnySpec = OperationSpec<PortDeclarations, PortDeclarations, string>;

const valid = {
  namespace: 'demo',
  name: 'double',
  version: '1',
  inputs: { x: { dtype: 'float64', shape: [null] } },
  outputs: { y: { dtype: 'float64', shape: [null] } },
  run: ({ x }: { x: { data: Float64Array } }) => ({ y: Array.from(x.data, (v) => v * 2) }),
} as const;

/** The error `defineOperation` throws for a definition (typed loosely on purpose: these are the mistakes the compiler would catch). */
function definitionError(changes: Record<string, unknown>): RunGraphError {
  try {
    defineOperation({ ...valid, ...changes } as unknown as AnySpec);
  } catch (error) {
    if (error instanceof RunGraphError) return error;
    throw error;
  }
  throw new Error('defineOperation accepted the definition');
}

describe('defineOperation validates the definition when it is made', () => {
  it('rejects a version that is not a string, naming the field and showing the value', () => {
    const error = definitionError({ version: 3 });
    expect(error.code).toBe('E_OPERATION_DEFINITION');
    expect(error.location.field).toBe('version');
    expect(error.message).toBe('operation demo.double: version: expected a non-empty string, got 3 (number)');
    expect(error.describe()).toContain("field 'version'");
  });

  it('rejects an empty version and a missing one', () => {
    expect(definitionError({ version: '' }).message).toContain('expected a non-empty string, got "" (string)');
    expect(definitionError({ version: undefined }).message).toContain('expected a non-empty string, got undefined');
  });

  it('rejects bad names, dtypes, shapes, and unknown properties', () => {
    expect(definitionError({ name: 'two words' })).toMatchObject({
      code: 'E_OPERATION_DEFINITION',
      location: { field: 'name' },
    });
    expect(definitionError({ namespace: 7 }).message).toContain('got 7 (number)');
    const dtype = definitionError({ inputs: { x: { dtype: 'int32' } } });
    expect(dtype.location.field).toBe('inputs.x.dtype');
    expect(dtype.message).toContain('expected one of int64, float64, bool, string, json, file, got "int32" (string)');
    expect(definitionError({ inputs: { x: { dtype: 'int64', shape: [2, -1] } } }).location.field).toBe(
      'inputs.x.shape[1]',
    );
    expect(definitionError({ inputs: { x: { dtype: 'json', shape: [2] } } }).message).toContain(
      'a json port has no shape',
    );
    expect(definitionError({ inputs: { x: { dtype: 'int64', shap: [2] } } }).location.field).toBe('inputs.x.shap');
    expect(definitionError({ ouputs: {} }).location.field).toBe('ouputs');
    expect(definitionError({ inputs: { 'bad name': { dtype: 'int64' } } }).location.field).toBe('inputs.bad name');
  });

  it('rejects outputs that cannot be stored: none, optional, or a reserved name', () => {
    expect(definitionError({ outputs: {} }).message).toContain('expected at least one output');
    expect(definitionError({ outputs: { y: { dtype: 'json', optional: true } } }).location.field).toBe(
      'outputs.y.optional',
    );
    expect(definitionError({ outputs: { metadata: { dtype: 'json' } } }).message).toContain('reserved');
  });

  it('needs a default output when there are several, and one that exists', () => {
    const two = { y: { dtype: 'json' }, z: { dtype: 'json' } } as const;
    expect(definitionError({ outputs: two }).location.field).toBe('defaultOutput');
    expect(definitionError({ outputs: two, defaultOutput: 'w' }).message).toContain(
      'expected one of the outputs (y, z), got "w" (string)',
    );
    expect(
      defineOperation({ ...valid, outputs: two, defaultOutput: 'z', run: () => ({ y: 1, z: 2 }) }).defaultOutput,
    ).toBe('z');
  });

  it('rejects a run that is not a function', () => {
    expect(definitionError({ run: 'go' }).message).toContain('run: expected a function, got "go" (string)');
  });
});

describe('a defined operation in a graph', () => {
  let workdir: string;
  beforeEach(async () => {
    workdir = await mkdtemp(join(tmpdir(), 'run-graph-define-'));
  });
  afterEach(async () => {
    await rm(workdir, { recursive: true, force: true });
  });

  const stats = defineOperation({
    namespace: 'demo',
    name: 'stats',
    version: '2',
    inputs: {
      values: { dtype: 'int64', shape: [2, 2] },
      offset: { dtype: 'float64', shape: [] },
      names: { dtype: 'string', shape: [2] },
      options: { dtype: 'json', optional: true },
      notes: { dtype: 'file', optional: true },
    },
    outputs: {
      total: { dtype: 'int64', shape: [] },
      shifted: { dtype: 'float64', shape: [2, 2] },
      positive: { dtype: 'bool', shape: [null] },
      label: { dtype: 'string' },
      echo: { dtype: 'json' },
      copy: { dtype: 'file' },
    },
    defaultOutput: 'total',
    async run({ values, offset, names, options, notes }, context) {
      const total = values.data.reduce((a, b) => a + b, 0n);
      await writeFile(join(context.storeDir, 'copy.txt'), notes === undefined ? 'no notes' : `notes at ${notes.path}`);
      return {
        total,
        shifted: [
          [Number(values.data[0]) + offset, Number(values.data[1]) + offset],
          [Number(values.data[2]) + offset, Number(values.data[3]) + offset],
        ],
        positive: Array.from(values.data, (v) => v > 0n),
        label: names.join('+'),
        echo: options ?? null,
        copy: { file: 'copy.txt' },
      };
    },
  });

  it('converts inputs and outputs by their declarations, and reads them back typed', async () => {
    const notes = join(workdir, 'notes.txt');
    await writeFile(notes, 'hello');
    const g = new GraphBuilder();
    const m = g.add('m', integer64, {
      data: [
        [1, -2],
        [3, 4],
      ],
    });
    const s = g.add('s', stats, {
      values: m.output('data'),
      offset: 0.5,
      names: ['a', 'b'],
      options: { k: 1 },
      notes: fileInput('notes.txt'),
    });
    const context = await WorkerContext.open({ workdir: join(workdir, 'wd'), jobs: 1 });
    const run = await g.run(context, { baseDir: workdir });
    expect(run.summary.ok, JSON.stringify(run.summary.failures)).toBe(true);
    const total: bigint = await run.value(s);
    expect(total).toBe(6n);
    const shifted = await run.value(s.output('shifted'));
    expect(shifted.dtype).toBe('float64');
    expect(Array.from(shifted.data)).toEqual([1.5, -1.5, 3.5, 4.5]);
    expect(Array.from((await run.value(s.output('positive'))).data)).toEqual([1, 0, 1, 1]);
    expect(await run.value(s.output('label'))).toBe('a+b');
    expect(await run.value(s.output('echo'))).toEqual({ k: 1 });
    const copy = await run.value(s.output('copy'));
    expect(copy.kind).toBe('file');
    expect(run.artifact(s.output('total'))).toMatchObject({ kind: 'array', dtype: 'int64', shape: [] });
    expect(run.graph.byLabel.get('s')?.record.operation).toEqual(['demo', 'stats', '2']);
  });

  it('fails the check before anything runs for a literal of the wrong shape or a reference of the wrong dtype', async () => {
    const wrongShape = new GraphBuilder();
    wrongShape.add('s', stats, { values: [[1, 2, 3]], offset: 0, names: ['a', 'b'] });
    await expect(wrongShape.build()).rejects.toMatchObject({
      code: 'E_INPUT_SHAPE',
      location: { node: 's', field: 'input.values' },
    });

    const wrongType = new GraphBuilder();
    const text = wrongType.add('t', stats, {
      values: [
        [1, 2],
        [3, 4],
      ],
      offset: 0,
      names: ['a', 'b'],
    });
    // A string output where a float64 is wanted: the compiler would refuse this; the check refuses it at run time too.
    wrongType.add('u', stats, {
      values: [
        [1, 2],
        [3, 4],
      ],
      offset: text.output('label') as never,
      names: ['a', 'b'],
    });
    await expect(wrongType.build()).rejects.toMatchObject({
      code: 'E_INPUT_TYPE',
      location: { node: 'u', field: 'input.offset' },
    });

    const missing = new GraphBuilder();
    missing.add('s', stats, {
      values: [
        [1, 2],
        [3, 4],
      ],
      offset: 0,
    } as never);
    await expect(missing.build()).rejects.toThrow(/missing required input 'names'/);
  });

  it('fails the node, naming the output, when run returns a value of the wrong type', async () => {
    const liar = defineOperation({
      namespace: 'demo',
      name: 'liar',
      version: '1',
      inputs: {},
      outputs: { y: { dtype: 'float64', shape: [2] } },
      run: () => ({ y: [1, 2, 3] }),
    });
    const g = new GraphBuilder();
    g.add('liar', liar, {});
    const context = await WorkerContext.open({ workdir: join(workdir, 'wd'), jobs: 1 });
    const run = await g.run(context);
    expect(run.summary.ok).toBe(false);
    expect(run.summary.failures[0]?.error.message).toContain("field 'outputs.y': expected float64 [2], got shape [3]");
  });
});
