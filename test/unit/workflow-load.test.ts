import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunGraphError } from '../../src/errors.js';
import { checkWorkflowDocument, loadWorkflowFile } from '../../src/workflow/load.js';
import { findSchemaProblem, instancePathToField, schemaPath } from '../../src/workflow/schema.js';
import { REPO_ROOT } from '../support/cli.js';
import { tempDirsRemovedAfterAll } from '../support/sandbox.js';

const examplesDir = join(REPO_ROOT, 'examples');

const tempDir = tempDirsRemovedAfterAll();

function rejection(document: unknown, file: string | null = 'wf.json'): RunGraphError {
  try {
    checkWorkflowDocument(document, file ?? undefined);
  } catch (error) {
    expect(error).toBeInstanceOf(RunGraphError);
    return error as RunGraphError;
  }
  throw new Error(`accepted ${JSON.stringify(document)}`);
}

const goodDocument = {
  $schema: '../schemas/workflow.schema.json',
  description: 'two nodes',
  nodes: [
    {
      label: 'matrix',
      operation: 'scalems.Integer64',
      input: {
        data: [
          [1, 2],
          [3, 4],
        ],
      },
      description: 'literal',
    },
    { label: 'doubled_2-x', operation: 'run-graph.Add', input: { a: { $ref: 'matrix' }, b: { $ref: 'matrix.data' } } },
    {
      label: '_files',
      operation: 'scalems.Subprocess',
      input: { argv: ['sh', { $file: 'scripts/x.sh' }, { $ref: 'doubled_2-x' }], env: { A: '1' } },
    },
    { label: 'bare', operation: 'run-graph.Sum' },
  ],
};

describe('checkWorkflowDocument: documents that pass', () => {
  it('accepts a document using every feature and returns it', () => {
    expect(checkWorkflowDocument(goodDocument, 'wf.json')).toBe(goodDocument);
  });

  it('accepts an empty node list and nested plain objects in inputs', () => {
    expect(checkWorkflowDocument({ nodes: [] })).toEqual({ nodes: [] });
    const nested = {
      nodes: [{ label: 'a', operation: 'x.y', input: { v: { plain: { $ref: 'b' }, other: [1, { k: null }] } } }],
    };
    expect(() => checkWorkflowDocument(nested)).not.toThrow();
  });

  it('accepts references to dotted output names', () => {
    const doc = { nodes: [{ label: 'a', operation: 'x.y', input: { v: { $ref: 'walk0.positions.npy' } } }] };
    expect(() => checkWorkflowDocument(doc)).not.toThrow();
  });
});

describe('checkWorkflowDocument: schema violations (E_WORKFLOW_SCHEMA)', () => {
  it('missing nodes', () => {
    const error = rejection({ description: 'no nodes' });
    expect(error.code).toBe('E_WORKFLOW_SCHEMA');
    expect(error.message).toContain("missing required property 'nodes'");
    expect(error.location).toEqual({ file: 'wf.json' });
  });

  it('a node without operation names the node', () => {
    const error = rejection({ nodes: [{ label: 'ok', operation: 'x.y' }, { label: 'lonely' }] });
    expect(error.code).toBe('E_WORKFLOW_SCHEMA');
    expect(error.location.node).toBe('lonely');
    expect(error.message).toContain("missing required property 'operation'");
  });

  it('a bad label pattern names the node and the field', () => {
    const error = rejection({ nodes: [{ label: '1st node', operation: 'scalems.Integer64' }] });
    expect(error.code).toBe('E_WORKFLOW_SCHEMA');
    expect(error.location).toMatchObject({ node: '1st node', field: 'label' });
    expect(error.message).toMatch(/pattern/);
  });

  it('a label with a dot is rejected (it would be ambiguous in references)', () => {
    expect(rejection({ nodes: [{ label: 'a.b', operation: 'x.y' }] }).location.field).toBe('label');
  });

  it('an operation without a namespace names the field', () => {
    const error = rejection({ nodes: [{ label: 'a', operation: 'Integer64' }] });
    expect(error.location).toMatchObject({ node: 'a', field: 'operation' });
  });

  it('an unknown top-level property', () => {
    const error = rejection({ nodes: [], node: [] });
    expect(error.code).toBe('E_WORKFLOW_SCHEMA');
    expect(error.message).toContain("unknown property 'node'");
  });

  it('an unknown node property names the node', () => {
    const error = rejection({ nodes: [{ label: 'a', operation: 'x.y', inputs: {} }] });
    expect(error.location.node).toBe('a');
    expect(error.message).toContain("unknown property 'inputs'");
  });

  it('a $ref object with another key', () => {
    const error = rejection({
      nodes: [{ label: 'sum', operation: 'run-graph.Sum', input: { array: { $ref: 'x', extra: 1 } } }],
    });
    expect(error.code).toBe('E_WORKFLOW_SCHEMA');
    expect(error.location).toEqual({ file: 'wf.json', node: 'sum', field: 'input.array' });
    expect(error.message).toContain("unknown property 'extra'");
  });

  it('an empty $file, deep inside an input', () => {
    const error = rejection({
      nodes: [{ label: 'run', operation: 'scalems.Subprocess', input: { argv: ['sh', { $file: '' }] } }],
    });
    expect(error.code).toBe('E_WORKFLOW_SCHEMA');
    expect(error.location.node).toBe('run');
    expect(error.location.field).toMatch(/^input\.argv\[1\]/);
  });

  it('an object with both $ref and $file', () => {
    const error = rejection({
      nodes: [{ label: 'a', operation: 'x.y', input: { v: { deep: [{ $ref: 'b', $file: 'c' }] } } }],
    });
    expect(error.location).toMatchObject({ node: 'a', field: 'input.v.deep[0]' });
  });

  it('a $ref that is not a string, or not a label', () => {
    expect(rejection({ nodes: [{ label: 'a', operation: 'x.y', input: { v: { $ref: 3 } } }] }).location.field).toBe(
      'input.v.$ref',
    );
    expect(
      rejection({ nodes: [{ label: 'a', operation: 'x.y', input: { v: { $ref: 'no spaces' } } }] }).location.field,
    ).toBe('input.v.$ref');
  });

  it('wrong types: nodes not an array, input not an object, document not an object', () => {
    expect(rejection({ nodes: {} }).location.field).toBe('nodes');
    expect(rejection({ nodes: [{ label: 'a', operation: 'x.y', input: [] }] }).location).toMatchObject({
      node: 'a',
      field: 'input',
    });
    expect(rejection([]).code).toBe('E_WORKFLOW_SCHEMA');
    expect(rejection('nodes').code).toBe('E_WORKFLOW_SCHEMA');
  });

  it('a document that is JSON null is a schema error, not a crash', () => {
    expect(rejection(null).code).toBe('E_WORKFLOW_SCHEMA');
  });

  it('a node without a label is located by its index', () => {
    const error = rejection({ nodes: [{ operation: 'x.y' }] });
    expect(error.location.node).toBeUndefined();
    expect(error.message).toContain('nodes[0]');
  });

  it('leaves out the file when none is given and points to the schema in the hint', () => {
    const error = rejection({}, null);
    expect(error.location.file).toBeUndefined();
    expect(error.hint).toContain('workflow.schema.json');
  });
});

describe('checkWorkflowDocument: duplicate labels', () => {
  it('rejects a label used twice with E_DUPLICATE_LABEL', () => {
    const error = rejection({
      nodes: [
        { label: 'a', operation: 'x.y' },
        { label: 'b', operation: 'x.y' },
        { label: 'a', operation: 'x.z' },
      ],
    });
    expect(error.code).toBe('E_DUPLICATE_LABEL');
    expect(error.location).toEqual({ file: 'wf.json', node: 'a', field: 'nodes[2].label' });
  });

  it('labels are case-sensitive', () => {
    expect(() =>
      checkWorkflowDocument({
        nodes: [
          { label: 'a', operation: 'x.y' },
          { label: 'A', operation: 'x.y' },
        ],
      }),
    ).not.toThrow();
  });
});

describe('instancePathToField', () => {
  it('turns JSON pointers into dotted paths with indices', () => {
    expect(instancePathToField('')).toBe('');
    expect(instancePathToField('/nodes/3/input/data/1')).toBe('nodes[3].input.data[1]');
    expect(instancePathToField('/a~1b/c~0d')).toBe('a/b.c~d');
  });
});

describe('the shipped examples', () => {
  const examples = readdirSync(examplesDir).filter((name) => name.endsWith('.json'));

  it('there is at least one example', () => {
    expect(examples.length).toBeGreaterThan(0);
  });

  for (const name of examples) {
    it(`examples/${name} matches the schema`, () => {
      const document = JSON.parse(readFileSync(join(examplesDir, name), 'utf8')) as unknown;
      expect(findSchemaProblem('workflow.schema.json', document)).toBeUndefined();
      expect(() => checkWorkflowDocument(document, name)).not.toThrow();
    });
  }

  it('their $schema points at the shipped schema', () => {
    for (const name of examples) {
      const document = JSON.parse(readFileSync(join(examplesDir, name), 'utf8')) as { $schema?: string };
      if (document.$schema !== undefined)
        expect(resolve(examplesDir, document.$schema)).toBe(schemaPath('workflow.schema.json'));
    }
  });
});

describe('loadWorkflowFile', () => {
  it('reads, checks and locates a workflow file', async () => {
    const dir = tempDir();
    const path = join(dir, 'wf.json');
    writeFileSync(path, JSON.stringify(goodDocument));
    const loaded = await loadWorkflowFile(path);
    expect(loaded.spec).toEqual(goodDocument);
    expect(loaded.file).toBe(path);
    expect(loaded.baseDir).toBe(dir);
  });

  it('a missing file is E_WORKFLOW_READ', async () => {
    await expect(loadWorkflowFile(join(tempDir(), 'none.json'))).rejects.toMatchObject({
      code: 'E_WORKFLOW_READ',
      message: expect.stringContaining('no such file') as unknown,
    });
  });

  it('a directory is E_WORKFLOW_READ', async () => {
    await expect(loadWorkflowFile(tempDir())).rejects.toMatchObject({ code: 'E_WORKFLOW_READ' });
  });

  it('a syntax error is E_WORKFLOW_JSON with the line', async () => {
    const path = join(tempDir(), 'broken.json');
    writeFileSync(path, '{\n  "nodes": [\n    {"label": "a",}\n  ]\n}\n');
    const error = await loadWorkflowFile(path).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RunGraphError);
    expect((error as RunGraphError).code).toBe('E_WORKFLOW_JSON');
    expect((error as RunGraphError).message).toContain('line 3');
    expect((error as RunGraphError).location.file).toBe(path);
  });

  it('a schema error names the file', async () => {
    const path = join(tempDir(), 'bad.json');
    writeFileSync(path, JSON.stringify({ nodes: [{ label: 'x' }] }));
    await expect(loadWorkflowFile(path)).rejects.toMatchObject({
      code: 'E_WORKFLOW_SCHEMA',
      location: { file: path, node: 'x' },
    });
  });
});

describe('checkWorkflowDocument: a long literal list', () => {
  const long = (last: unknown): unknown[] => [...Array.from({ length: 10_000 }, (_, i) => i * 0.5), last];
  const withData = (data: unknown, extra: object = {}): unknown => ({
    nodes: [{ label: 'big', operation: 'scalems.Float64', input: { data }, ...extra }],
  });

  it('passes, and the document itself is returned unchanged', () => {
    const document = withData(long(1.5));
    const spec = checkWorkflowDocument(document, 'wf.json');
    expect(spec).toBe(document);
    expect((spec.nodes[0]?.input?.['data'] as unknown[]).length).toBe(10_001);
  });

  it('still has the rest of its node checked', () => {
    const error = rejection(withData(long(1.5), { colour: 'red' }));
    expect(error.code).toBe('E_WORKFLOW_SCHEMA');
    expect(error.location.node).toBe('big');
  });

  it('is walked when it holds an object, so a bad reference in it is found at its place', () => {
    const error = rejection(withData(long({ $ref: 'a', extra: 1 })));
    expect(error.code).toBe('E_WORKFLOW_SCHEMA');
    expect(error.location.field).toContain('input.data[10000]');
  });
});
