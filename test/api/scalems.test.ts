// Reading and writing SCALE-MS scalems_workflow_1 documents in-process.
import { describe, expect, it } from 'vitest';
import { RunGraphError } from '../../src/errors.js';
import { builtinRegistry } from '../../src/operations/registry.js';
import { buildGraph } from '../../src/workflow/graph.js';
import { checkDeclaredUids, scalemsToWorkflow, toScalemsDocument } from '../../src/workflow/scalems.js';

const MATRIX = '266bb4e33dfb7be89c04735cebe31cae8d7714243ccb9d137a1a37a46a645365';

describe('scalems_workflow_1', () => {
  it("reads the Integer64 reference referent into SCALE-MS's own record and uid", async () => {
    const { spec, declared } = scalemsToWorkflow({
      version: 'scalems_workflow_1',
      types: {},
      referents: [
        {
          uid: MATRIX.toUpperCase(),
          type: ['scalems', 'Integer64'],
          data: [
            [1, 2],
            [3, 4],
          ],
        },
      ],
    });
    const graph = await buildGraph(spec, { registry: builtinRegistry() });
    const [node] = graph.nodes;
    expect(node?.label).toBe(`node_${MATRIX.slice(0, 12)}`);
    expect(node?.record).toEqual({
      depends: [],
      input: {
        data: [
          [1, 2],
          [3, 4],
        ],
      },
      operation: ['scalems', 'Integer64'],
    });
    expect(node?.uid).toBe(MATRIX);
    expect(() => checkDeclaredUids(graph, declared)).not.toThrow();
  });

  it('round-trips a graph: the document it writes reads back to the same uids', async () => {
    const graph = await buildGraph(
      {
        nodes: [
          { label: 'first', operation: 'scalems.Float64', input: { data: [0.5, 1.5] } },
          { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'first' }, axis: 0 } },
        ],
      },
      { registry: builtinRegistry() },
    );
    const document = toScalemsDocument(graph);
    expect(document.referents[1]).toMatchObject({
      label: 'total',
      type: ['run-graph', 'Sum', '1'],
      axis: 0,
      array: `${graph.nodes[0]?.uid ?? ''}.data`,
    });
    const read = scalemsToWorkflow(JSON.parse(JSON.stringify(document)));
    const again = await buildGraph(read.spec, { registry: builtinRegistry() });
    expect(again.nodes.map((n) => n.uid)).toEqual(graph.nodes.map((n) => n.uid));
    checkDeclaredUids(again, read.declared);
  });

  it('gives SCALE-MS labels run-graph cannot use a leading underscore, and refuses duplicates', () => {
    const { spec } = scalemsToWorkflow({
      version: 'scalems_workflow_1',
      types: {},
      referents: [{ uid: MATRIX, label: '1st', type: ['scalems', 'Integer64'], data: [1] }],
    });
    expect(spec.nodes[0]?.label).toBe('_1st');
    expect(() =>
      scalemsToWorkflow({
        version: 'scalems_workflow_1',
        referents: [
          { uid: MATRIX, label: 'a', type: ['scalems', 'Integer64'], data: [1] },
          { uid: 'b'.repeat(64), label: 'a', type: ['scalems', 'Integer64'], data: [2] },
        ],
      }),
    ).toThrow(/label 'a' is used by more than one referent/);
  });

  it('names the referent and member of every malformed part', () => {
    const error = (document: unknown): RunGraphError => {
      try {
        scalemsToWorkflow(document, 'doc.json');
      } catch (e) {
        if (e instanceof RunGraphError) return e;
      }
      throw new Error('accepted');
    };
    expect(error({ version: 'scalems_workflow_1', referents: 3 }).location).toMatchObject({
      file: 'doc.json',
      field: 'referents',
    });
    expect(error({ version: 'scalems_workflow_1', referents: [{ uid: 'abc', type: ['a', 'b'] }] }).location.field).toBe(
      'referents[0].uid',
    );
    expect(
      error({ version: 'scalems_workflow_1', referents: [{ uid: MATRIX, type: ['scalems'] }] }).location.field,
    ).toBe('referents[0].type');
    expect(
      error({
        version: 'scalems_workflow_1',
        referents: [{ uid: MATRIX, type: ['scalems', 'Integer64'], data: [{ $ref: 'x' }] }],
      }).location.field,
    ).toBe('referents[0].data');
    expect(error({ version: 'scalems_workflow_1', items: [] }).message).toContain("unknown property 'items'");
  });

  it('refuses to write what SCALE-MS cannot express', async () => {
    const graph = await buildGraph(
      { nodes: [{ label: 'p', operation: 'scalems.Subprocess', input: { argv: ['true'], env: { A: '1' } } }] },
      { registry: builtinRegistry() },
    );
    expect(toScalemsDocument(graph).referents[0]).toMatchObject({ argv: ['true'], env: { A: '1' } });
    const withRef = await buildGraph(
      {
        nodes: [
          { label: 'm', operation: 'scalems.Integer64', input: { data: [1] } },
          { label: 'p', operation: 'scalems.Subprocess', input: { argv: ['cat', { $ref: 'm' }] } },
        ],
      },
      { registry: builtinRegistry() },
    );
    expect(() => toScalemsDocument(withRef)).toThrow(
      /cannot express input 'argv'.*references or files inside raw data/,
    );
  });
});
