import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunGraphError } from '../../src/errors.js';
import { fingerprint } from '../../src/identity/fingerprint.js';
import { encodeNpy, type ArrayValue } from '../../src/values/npy.js';
import { builtinRegistry } from '../../src/operations/registry.js';
import { loadGraph } from '../../src/workflow/load-graph.js';
import { buildGraph, type ConcreteGraph } from '../../src/workflow/graph.js';
import { checkWorkflowDocument, type WorkflowNodeSpec, type WorkflowSpec } from '../../src/workflow/load.js';
import { REPO_ROOT } from '../support/cli.js';
import { tempDirsRemovedAfterAll } from '../support/sandbox.js';

const REFERENCE_UID = '266bb4e33dfb7be89c04735cebe31cae8d7714243ccb9d137a1a37a46a645365';

const tempDir = tempDirsRemovedAfterAll();

function build(nodes: WorkflowNodeSpec[], baseDir?: string): Promise<ConcreteGraph> {
  return buildGraph(
    { nodes },
    { registry: builtinRegistry(), ...(baseDir === undefined ? {} : { baseDir }), file: 'wf.json' },
  );
}

async function rejection(nodes: WorkflowNodeSpec[], baseDir?: string): Promise<RunGraphError> {
  const error = await build(nodes, baseDir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RunGraphError);
  return error as RunGraphError;
}

function uidOf(graph: ConcreteGraph, label: string): string {
  const node = graph.byLabel.get(label);
  if (node === undefined) throw new Error(`no node ${label}`);
  return node.uid;
}

const pipeline: WorkflowNodeSpec[] = [
  {
    label: 'matrix',
    operation: 'scalems.Integer64',
    input: {
      data: [
        [1, 2],
        [3, 4],
      ],
    },
  },
  {
    label: 'offset',
    operation: 'scalems.Float64',
    input: {
      data: [
        [0.5, 0.5],
        [0.5, 0.5],
      ],
    },
  },
  { label: 'doubled', operation: 'run-graph.Add', input: { a: { $ref: 'matrix' }, b: { $ref: 'matrix.data' } } },
  { label: 'shifted', operation: 'run-graph.Add', input: { a: { $ref: 'doubled' }, b: { $ref: 'offset' } } },
  { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'shifted.result' } } },
  { label: 'unrelated', operation: 'scalems.Integer64', input: { data: [7] } },
];

describe('buildGraph: records and uids', () => {
  it("gives a literal Integer64 node SCALE-MS's reference uid", async () => {
    const graph = await build(pipeline);
    const matrix = graph.byLabel.get('matrix');
    expect(matrix?.record).toEqual({
      depends: [],
      input: {
        data: [
          [1, 2],
          [3, 4],
        ],
      },
      operation: ['scalems', 'Integer64'],
    });
    expect(matrix?.uid).toBe(REFERENCE_UID);
  });

  it('every uid is the fingerprint of its record; references enter as upstream uid and output', async () => {
    const graph = await build(pipeline);
    for (const node of graph.nodes) expect(node.uid).toBe(fingerprint(node.record));
    const doubled = graph.byLabel.get('doubled');
    expect(doubled?.record.input).toEqual({
      a: { $ref: `${REFERENCE_UID}.data` },
      b: { $ref: `${REFERENCE_UID}.data` },
    });
    expect(doubled?.record.depends).toEqual([REFERENCE_UID]);
    expect(doubled?.record.operation).toEqual(['run-graph', 'Add', '1']);
    const shifted = graph.byLabel.get('shifted');
    expect(shifted?.record.depends).toEqual([uidOf(graph, 'doubled'), uidOf(graph, 'offset')].sort());
    // No label appears anywhere in a record.
    for (const node of graph.nodes) {
      const text = JSON.stringify(node.record);
      for (const label of ['matrix', 'offset', 'doubled', 'shifted']) expect(text).not.toContain(label);
    }
  });

  it('orders nodes so that each follows its upstream, whatever the file order', async () => {
    const graph = await build([...pipeline].reverse());
    expect(graph.nodes).toHaveLength(pipeline.length);
    graph.nodes.forEach((node, i) => {
      for (const u of node.upstream) expect(u).toBeLessThan(i);
    });
    const total = graph.byLabel.get('total');
    expect(total?.upstream.map((u) => graph.nodes[u]?.label)).toEqual(['shifted']);
  });

  it('infers output types through the graph', async () => {
    const graph = await build(pipeline);
    expect(graph.byLabel.get('doubled')?.outputs).toEqual({ result: { kind: 'array', dtype: 'int64', shape: [2, 2] } });
    expect(graph.byLabel.get('shifted')?.outputs).toEqual({
      result: { kind: 'array', dtype: 'float64', shape: [2, 2] },
    });
    expect(graph.byLabel.get('total')?.outputs).toEqual({ result: { kind: 'array', dtype: 'float64', shape: [] } });
  });

  it('renaming labels and reordering nodes leaves every uid unchanged', async () => {
    const original = await build(pipeline);
    const rename = (label: string): string => `renamed_${label.toUpperCase()}`;
    const renameRefs = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(renameRefs);
      if (typeof value === 'object' && value !== null) {
        const ref = (value as { $ref?: unknown }).$ref;
        if (typeof ref === 'string') {
          const [label, ...output] = ref.split('.');
          return { $ref: [rename(label ?? ''), ...output].join('.') };
        }
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renameRefs(v)]));
      }
      return value;
    };
    const renamed = pipeline.map((node) => ({
      ...node,
      label: rename(node.label),
      input: renameRefs(node.input) as WorkflowNodeSpec['input'],
    }));
    const shuffled = [renamed[4], renamed[1], renamed[5], renamed[3], renamed[0], renamed[2]] as WorkflowNodeSpec[];
    const graph = await build(shuffled);
    for (const node of pipeline) expect(uidOf(graph, rename(node.label))).toBe(uidOf(original, node.label));
  });

  it('changing an upstream literal changes every downstream uid and nothing else (Merkle)', async () => {
    const original = await build(pipeline);
    const changed = pipeline.map((node) =>
      node.label === 'matrix'
        ? {
            ...node,
            input: {
              data: [
                [1, 2],
                [3, 5],
              ],
            },
          }
        : node,
    );
    const graph = await build(changed);
    for (const label of ['matrix', 'doubled', 'shifted', 'total'])
      expect(uidOf(graph, label)).not.toBe(uidOf(original, label));
    for (const label of ['offset', 'unrelated']) expect(uidOf(graph, label)).toBe(uidOf(original, label));
  });

  it('which output a reference names is part of the uid', async () => {
    const nodes = (output: string): WorkflowNodeSpec[] => [
      { label: 'run', operation: 'scalems.Subprocess', input: { argv: ['true'], outputFiles: ['a.txt', 'b.txt'] } },
      { label: 'use', operation: 'scalems.Subprocess', input: { argv: ['cat', { $ref: `run.${output}` }] } },
    ];
    const a = await build(nodes('a.txt'));
    const b = await build(nodes('b.txt'));
    expect(uidOf(a, 'run')).toBe(uidOf(b, 'run'));
    expect(uidOf(a, 'use')).not.toBe(uidOf(b, 'use'));
  });

  it('a description is not part of the uid', async () => {
    const a = await build([{ label: 'm', operation: 'scalems.Integer64', input: { data: [1] } }]);
    const b = await build([
      { label: 'm', operation: 'scalems.Integer64', input: { data: [1] }, description: 'say something' },
    ]);
    expect(uidOf(a, 'm')).toBe(uidOf(b, 'm'));
    expect(b.byLabel.get('m')?.description).toBe('say something');
  });
});

describe('buildGraph: errors', () => {
  it('a cycle is E_CYCLE naming the labels of the cycle', async () => {
    const error = await rejection([
      { label: 'source', operation: 'scalems.Integer64', input: { data: [1] } },
      { label: 'first', operation: 'run-graph.Add', input: { a: { $ref: 'source' }, b: { $ref: 'third' } } },
      { label: 'second', operation: 'run-graph.Add', input: { a: { $ref: 'first' }, b: 1 } },
      { label: 'third', operation: 'run-graph.Add', input: { a: { $ref: 'second' }, b: 1 } },
      { label: 'after', operation: 'run-graph.Sum', input: { array: { $ref: 'third' } } },
    ]);
    expect(error.code).toBe('E_CYCLE');
    const cycle = /cycle: (.*)$/.exec(error.message)?.[1]?.split(' -> ') ?? [];
    // A closed walk: first and last label are the same, and it holds exactly the three nodes of the cycle.
    expect(cycle[0]).toBe(cycle[cycle.length - 1]);
    expect(new Set(cycle)).toEqual(new Set(['first', 'second', 'third']));
    expect(cycle).toHaveLength(4);
    expect(error.location.file).toBe('wf.json');
  });

  it('a node that references itself is a cycle', async () => {
    const error = await rejection([
      { label: 'ouroboros', operation: 'run-graph.Sum', input: { array: { $ref: 'ouroboros' } } },
    ]);
    expect(error.code).toBe('E_CYCLE');
    expect(error.message).toContain('ouroboros -> ouroboros');
  });

  it('an unknown reference is E_UNKNOWN_REFERENCE with a did-you-mean hint for a near miss', async () => {
    const error = await rejection([
      { label: 'matrix', operation: 'scalems.Integer64', input: { data: [1] } },
      { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'matrx' } } },
    ]);
    expect(error.code).toBe('E_UNKNOWN_REFERENCE');
    expect(error.message).toContain("'matrx'");
    expect(error.location).toEqual({ file: 'wf.json', node: 'total', field: 'input.array' });
    expect(error.hint).toBe("did you mean 'matrix'?");
  });

  it('no hint when nothing is close', async () => {
    const error = await rejection([
      { label: 'matrix', operation: 'scalems.Integer64', input: { data: [1] } },
      { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'completely_different' } } },
    ]);
    expect(error.code).toBe('E_UNKNOWN_REFERENCE');
    expect(error.hint).toBeUndefined();
  });

  it('an unknown operation is E_UNKNOWN_OPERATION', async () => {
    const error = await rejection([{ label: 'm', operation: 'scalems.Integer46', input: { data: [1] } }]);
    expect(error.code).toBe('E_UNKNOWN_OPERATION');
    expect(error.location).toMatchObject({ node: 'm', field: 'operation' });
    expect(error.hint).toContain('scalems.Integer64');
  });

  it('an unknown output is E_UNKNOWN_OUTPUT', async () => {
    const error = await rejection([
      { label: 'm', operation: 'scalems.Integer64', input: { data: [1] } },
      { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'm.nope' } } },
    ]);
    expect(error.code).toBe('E_UNKNOWN_OUTPUT');
    expect(error.location).toMatchObject({ node: 'total', field: 'input.array' });
    expect(error.hint).toContain('data');
  });

  it('Add of shapes [2, 2] and [3] is E_INPUT_SHAPE', async () => {
    const error = await rejection([
      {
        label: 'square',
        operation: 'scalems.Integer64',
        input: {
          data: [
            [1, 2],
            [3, 4],
          ],
        },
      },
      { label: 'row', operation: 'scalems.Integer64', input: { data: [1, 2, 3] } },
      { label: 'sum', operation: 'run-graph.Add', input: { a: { $ref: 'square' }, b: { $ref: 'row' } } },
    ]);
    expect(error.code).toBe('E_INPUT_SHAPE');
    expect(error.location.node).toBe('sum');
    expect(error.message).toContain('[3]');
    expect(error.message).toContain('[2, 2]');
  });

  it('Add of a scalar and an array is fine', async () => {
    const graph = await build([
      {
        label: 'square',
        operation: 'scalems.Integer64',
        input: {
          data: [
            [1, 2],
            [3, 4],
          ],
        },
      },
      { label: 'sum', operation: 'run-graph.Add', input: { a: { $ref: 'square' }, b: 10 } },
    ]);
    expect(graph.byLabel.get('sum')?.outputs['result']).toEqual({ kind: 'array', dtype: 'int64', shape: [2, 2] });
  });

  it("Add of a Subprocess's stdout (a file) is E_INPUT_TYPE", async () => {
    const error = await rejection([
      { label: 'run', operation: 'scalems.Subprocess', input: { argv: ['echo', '1'] } },
      { label: 'sum', operation: 'run-graph.Add', input: { a: { $ref: 'run' }, b: 1 } },
    ]);
    expect(error.code).toBe('E_INPUT_TYPE');
    expect(error.location).toMatchObject({ node: 'sum', field: 'input.a' });
  });

  it('a ragged literal is E_INPUT_SHAPE naming node and field', async () => {
    const error = await rejection([{ label: 'm', operation: 'scalems.Integer64', input: { data: [[1, 2], [3]] } }]);
    expect(error.code).toBe('E_INPUT_SHAPE');
    expect(error.location).toMatchObject({ node: 'm', field: 'input.data[1]' });
  });

  it('a fraction in Integer64 data is E_INPUT_TYPE', async () => {
    const error = await rejection([{ label: 'm', operation: 'scalems.Integer64', input: { data: [1, 1.5] } }]);
    expect(error.code).toBe('E_INPUT_TYPE');
  });

  it('a missing $file is E_FILE_INPUT naming node and field', async () => {
    const error = await rejection(
      [{ label: 'load', operation: 'run-graph.NpyFile', input: { file: { $file: 'missing.npy' } } }],
      tempDir(),
    );
    expect(error.code).toBe('E_FILE_INPUT');
    expect(error.location).toMatchObject({ node: 'load', field: 'input.file' });
    expect(error.message).toContain('missing.npy');
  });

  it('a $file that is a directory is E_FILE_INPUT', async () => {
    const dir = tempDir();
    const error = await rejection(
      [{ label: 'run', operation: 'scalems.Subprocess', input: { argv: ['ls', { $file: '.' }] } }],
      dir,
    );
    expect(error.code).toBe('E_FILE_INPUT');
  });

  it('a missing $file next to a cycle: the build fails cleanly, leaving no unhandled rejection behind', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const error = await rejection(
        [
          { label: 'load', operation: 'run-graph.NpyFile', input: { file: { $file: 'missing.npy' } } },
          { label: 'a', operation: 'run-graph.Sum', input: { array: { $ref: 'b' } } },
          { label: 'b', operation: 'run-graph.Sum', input: { array: { $ref: 'a' } } },
        ],
        tempDir(),
      );
      expect(error.code).toBe('E_CYCLE');
      const error2 = await rejection(
        [
          { label: 'load', operation: 'run-graph.NpyFile', input: { file: { $file: 'missing.npy' } } },
          { label: 'a', operation: 'run-graph.Sum', input: { array: { $ref: 'nowhere' } } },
        ],
        tempDir(),
      );
      expect(error2.code).toBe('E_UNKNOWN_REFERENCE');
      // Give a dangling rejection time to surface.
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });
});

describe('buildGraph: .npy file inputs are hashed by content', () => {
  const array = (values: bigint[]): ArrayValue => ({ dtype: 'int64', shape: [2, 2], data: new BigInt64Array(values) });
  const npyNode = (label: string, file: string): WorkflowNodeSpec => ({
    label,
    operation: 'run-graph.NpyFile',
    input: { file: { $file: file } },
  });

  it('the same array under two names has one uid; different content another', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'first.npy'), encodeNpy(array([1n, 2n, 3n, 4n])));
    writeFileSync(join(dir, 'second.npy'), encodeNpy(array([1n, 2n, 3n, 4n])));
    writeFileSync(join(dir, 'other.npy'), encodeNpy(array([1n, 2n, 3n, 5n])));
    const graph = await build([npyNode('a', 'first.npy'), npyNode('b', 'second.npy'), npyNode('c', 'other.npy')], dir);
    expect(uidOf(graph, 'a')).toBe(uidOf(graph, 'b'));
    expect(uidOf(graph, 'c')).not.toBe(uidOf(graph, 'a'));
    expect(graph.byLabel.get('a')?.outputs['data']).toEqual({ kind: 'array', dtype: 'int64', shape: [2, 2] });
    const record = JSON.stringify(graph.byLabel.get('a')?.record);
    expect(record).not.toContain('first.npy');
  });

  it('the same array with a different header layout or byte order keeps its uid', async () => {
    const dir = tempDir();
    const values = [1n, -2n, 3n, 2n ** 40n];
    writeFileSync(join(dir, 'plain.npy'), encodeNpy(array(values)));
    // Big-endian and with an unpadded header, built by hand.
    const dict = "{'descr': '>i8', 'fortran_order': False, 'shape': (2, 2), }\n";
    const header = Buffer.alloc(10 + dict.length);
    Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(header);
    header.writeUInt16LE(dict.length, 8);
    header.write(dict, 10, 'latin1');
    const data = Buffer.alloc(32);
    values.forEach((v, i) => data.writeBigInt64BE(v, i * 8));
    writeFileSync(join(dir, 'swapped.npy'), Buffer.concat([header, data]));
    const graph = await build([npyNode('plain', 'plain.npy'), npyNode('swapped', 'swapped.npy')], dir);
    expect(uidOf(graph, 'swapped')).toBe(uidOf(graph, 'plain'));
  });

  it('a different shape of the same bytes is a different uid', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'square.npy'), encodeNpy(array([1n, 2n, 3n, 4n])));
    writeFileSync(
      join(dir, 'flat.npy'),
      encodeNpy({ dtype: 'int64', shape: [4], data: new BigInt64Array([1n, 2n, 3n, 4n]) }),
    );
    const graph = await build([npyNode('square', 'square.npy'), npyNode('flat', 'flat.npy')], dir);
    expect(uidOf(graph, 'square')).not.toBe(uidOf(graph, 'flat'));
  });

  it('a file that is not .npy is E_NPY_FORMAT for NpyFile', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'fake.npy'), 'not an array');
    const error = await rejection([npyNode('load', 'fake.npy')], dir);
    expect(error.code).toBe('E_NPY_FORMAT');
    expect(error.location.node).toBe('load');
  });

  it('a plain $file is hashed by content too: editing it changes the uid, renaming does not', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.sh'), 'echo one\n');
    writeFileSync(join(dir, 'b.sh'), 'echo one\n');
    writeFileSync(join(dir, 'c.sh'), 'echo two\n');
    const run = (label: string, file: string): WorkflowNodeSpec => ({
      label,
      operation: 'scalems.Subprocess',
      input: { argv: ['sh', { $file: file }] },
    });
    const graph = await build([run('a', 'a.sh'), run('b', 'b.sh'), run('c', 'c.sh')], dir);
    expect(uidOf(graph, 'a')).toBe(uidOf(graph, 'b'));
    expect(uidOf(graph, 'c')).not.toBe(uidOf(graph, 'a'));
  });
});

describe('buildGraph on the shipped examples', () => {
  const examplesDir = join(REPO_ROOT, 'examples');
  for (const name of readdirSync(examplesDir).filter((n) => n.endsWith('.json'))) {
    it(`examples/${name} builds into a concrete graph`, async () => {
      // Through loadGraph, as the CLI reads it: an example may name operation modules of its own.
      const graph = await loadGraph(join(examplesDir, name));
      const spec = JSON.parse(readFileSync(join(examplesDir, name), 'utf8')) as WorkflowSpec;
      // Operation and loop nodes keep their labels; subgraph uses and maps expand into nodes of their own.
      for (const node of spec.nodes)
        if (node.operation !== undefined || node.while !== undefined) expect(graph.byLabel.has(node.label)).toBe(true);
      expect(new Set(graph.nodes.map((n) => n.uid)).size).toBe(graph.nodes.length);
    });
  }

  it("quickstart's literal matrix has SCALE-MS's reference uid", async () => {
    const file = join(examplesDir, 'quickstart.json');
    const spec = checkWorkflowDocument(JSON.parse(readFileSync(file, 'utf8')) as unknown, file);
    const graph = await buildGraph(spec, { registry: builtinRegistry(), baseDir: examplesDir, file });
    expect(graph.nodes.some((n) => n.uid === REFERENCE_UID)).toBe(true);
  });
});
