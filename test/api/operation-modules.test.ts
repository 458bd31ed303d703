// Workflow files that name operation modules: loaded relative to the file,
// every exported operation registered; a module that fails to load, exports
// nothing, or defines an operation twice is an error naming the workflow
// file, the module, and the operation.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RunGraphError } from '../../src/errors.js';
import { loadGraph } from '../../src/workflow/load-graph.js';
import { DIST_INDEX_URL } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { demoOperationsModule, demoWorkflow } from '../support/workflows.js';

let box: Sandbox;
beforeEach(async () => {
  box = await createSandbox();
});
afterEach(async () => {
  await box.cleanup();
});

async function loadError(workflow: string): Promise<RunGraphError> {
  try {
    await loadGraph(workflow);
  } catch (error) {
    if (error instanceof RunGraphError) return error;
    throw error;
  }
  throw new Error('loadGraph succeeded');
}

const single = (
  namespace: string,
  name: string,
  version: unknown = '1',
): string => `import { defineOperation } from ${JSON.stringify(DIST_INDEX_URL)};
export const op = defineOperation({
  namespace: ${JSON.stringify(namespace)}, name: ${JSON.stringify(name)}, version: ${JSON.stringify(version)},
  inputs: {}, outputs: { y: { dtype: 'json' } }, run: () => ({ y: 1 }),
});
`;

describe('operation modules', () => {
  it('registers every exported operation, relative to the workflow file', async () => {
    await box.write('ops.mjs', demoOperationsModule('1.2', box.path('log.txt')));
    const workflow = await box.write('wf.json', demoWorkflow());
    const graph = await loadGraph(workflow);
    expect(graph.byLabel.get('sim')?.record.operation).toEqual(['demo', 'simulate', '1.2']);
    expect(graph.byLabel.get('summary')?.outputs).toEqual({
      total: { kind: 'array', dtype: 'float64', shape: [] },
      note: { kind: 'json' },
    });
  });

  it('accepts a default export that is an array of operations', async () => {
    await box.write(
      'arr.mjs',
      `import { defineOperation } from ${JSON.stringify(DIST_INDEX_URL)};
export default [defineOperation({ namespace: 'arr', name: 'One', version: '1', inputs: {}, outputs: { y: { dtype: 'json' } }, run: () => ({ y: 1 }) })];
`,
    );
    const workflow = await box.write('wf.json', {
      operations: ['./arr.mjs'],
      nodes: [{ label: 'one', operation: 'arr.One' }],
    });
    expect((await loadGraph(workflow)).nodes).toHaveLength(1);
  });

  it('an unknown module is an error naming the workflow file and the module', async () => {
    const workflow = await box.write('wf.json', { operations: ['./missing.mjs'], nodes: [] });
    const error = await loadError(workflow);
    expect(error.code).toBe('E_OPERATION_MODULE');
    expect(error.location).toMatchObject({ file: workflow, field: 'operations[0]' });
    expect(error.message).toContain("cannot load operation module './missing.mjs'");
    expect(error.message).toContain('no such file');
  });

  it('a module that throws while loading is an error naming the module and the cause', async () => {
    await box.write('broken.mjs', "throw new Error('boom at import');\n");
    const workflow = await box.write('wf.json', { operations: ['./broken.mjs'], nodes: [] });
    const error = await loadError(workflow);
    expect(error.code).toBe('E_OPERATION_MODULE');
    expect(error.message).toContain('boom at import');
  });

  it('a module with no operations, and a bare module name, are errors', async () => {
    await box.write('empty.mjs', 'export const answer = 42;\n');
    const empty = await loadError(await box.write('wf.json', { operations: ['./empty.mjs'], nodes: [] }));
    expect(empty.message).toContain("operation module './empty.mjs' exports no operations");
    const bare = await loadError(await box.write('wf2.json', { operations: ['my-ops'], nodes: [] }));
    expect(bare.code).toBe('E_OPERATION_MODULE');
    expect(bare.message).toContain("must be a path: start it with './'");
  });

  it('an operation defined twice, by two modules, names both modules and the operation', async () => {
    await box.write('a.mjs', single('demo', 'Twice'));
    await box.write('b.mjs', single('demo', 'Twice', '2'));
    const workflow = await box.write('wf.json', { operations: ['./a.mjs', './b.mjs'], nodes: [] });
    const error = await loadError(workflow);
    expect(error.code).toBe('E_DUPLICATE_OPERATION');
    expect(error.location).toMatchObject({ file: workflow, field: 'operations[1]' });
    expect(error.message).toBe(
      "operation demo.Twice is defined twice: by './a.mjs' (export 'op') and by './b.mjs' (export 'op')",
    );
  });

  it('an operation named like a built-in one is defined twice', async () => {
    await box.write('a.mjs', single('scalems', 'Integer64'));
    const error = await loadError(await box.write('wf.json', { operations: ['./a.mjs'], nodes: [] }));
    expect(error.code).toBe('E_DUPLICATE_OPERATION');
    expect(error.message).toContain('run-graph itself (a built-in operation)');
  });

  it('an operation defined wrongly in a module is an error naming the module and the field', async () => {
    await box.write('bad.mjs', single('demo', 'Bad', 3));
    const workflow = await box.write('wf.json', { operations: ['./bad.mjs'], nodes: [] });
    const error = await loadError(workflow);
    expect(error.code).toBe('E_OPERATION_DEFINITION');
    expect(error.message).toContain('version: expected a non-empty string, got 3 (number)');
    expect(error.message).toContain('bad.mjs');
    expect(error.location.file).toBe(workflow);
    expect(error.location.field).toBe('operations[0]: version');
  });

  it('the schema rejects "operations" that is not a list of paths', async () => {
    const error = await loadError(await box.write('wf.json', { operations: './ops.mjs', nodes: [] }));
    expect(error.code).toBe('E_WORKFLOW_SCHEMA');
    expect(error.location.field).toBe('operations');
  });
});
