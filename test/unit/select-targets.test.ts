/**
 * Which nodes a targeted run keeps, and which a force names: a label names
 * a node or everything under it (a subgraph use, an ensemble, one member),
 * and a target brings everything upstream of it.
 */
import { describe, expect, it } from 'vitest';
import { builtinRegistry } from '../../src/operations/registry.js';
import { buildGraph } from '../../src/workflow/graph.js';
import { forcedUids, selectTargets } from '../../src/workflow/select-targets.js';
import type { WorkflowSpec } from '../../src/workflow/spec.js';

const spec: WorkflowSpec = {
  subgraphs: {
    twice: {
      inputs: ['x'],
      outputs: { y: { $ref: 'double' } },
      nodes: [{ label: 'double', operation: 'run-graph.Multiply', input: { a: { $input: 'x' }, b: 2 } }],
    },
  },
  nodes: [
    { label: 'data', operation: 'scalems.Integer64', input: { data: [1, 2, 3] } },
    { label: 'other', operation: 'scalems.Integer64', input: { data: [4, 5, 6] } },
    { label: 'ens', map: { over: [{ $ref: 'data' }, { $ref: 'other' }], as: 'x', subgraph: 'twice' } },
    { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'ens.y' } } },
    { label: 'alone', operation: 'scalems.Integer64', input: { data: [7] } },
  ],
};

const labels = (nodes: readonly { label: string }[]): string[] => nodes.map((n) => n.label).sort();

describe('selectTargets and forcedUids', async () => {
  const graph = await buildGraph(spec, { registry: builtinRegistry() });

  it('keeps a target and everything upstream, renumbering upstream indices', () => {
    const selected = selectTargets(graph, ['ens[1]']);
    expect(labels(selected.nodes)).toEqual(['ens[1]/double', 'other']);
    const member = selected.byLabel.get('ens[1]/double');
    expect(member?.upstream.map((i) => selected.nodes[i]?.label)).toEqual(['other']);
  });

  it('takes an ensemble label as all its members, and no targets as the whole graph', () => {
    expect(labels(selectTargets(graph, ['ens']).nodes)).toEqual([
      'data',
      'ens/gather(y)',
      'ens[0]/double',
      'ens[1]/double',
      'other',
    ]);
    expect(labels(selectTargets(graph, ['total', 'alone']).nodes)).toEqual(labels(graph.nodes));
    expect(selectTargets(graph, [])).toBe(graph);
  });

  it('does not take a prefix of a label for the label', () => {
    expect(() => selectTargets(graph, ['ens[1'])).toThrow(/target 'ens\[1' names no node/);
    expect(() => selectTargets(graph, ['tot'])).toThrow(
      expect.objectContaining({ code: 'E_UNKNOWN_NODE', hint: "did you mean 'total'?" }),
    );
  });

  it('forces named nodes only, or everything downstream with --force-downstream', () => {
    const uidOf = (label: string): string => graph.nodes.find((n) => n.label === label)?.uid ?? '';
    expect([...forcedUids(graph, ['data'], [])]).toEqual([uidOf('data')]);
    const downstream = forcedUids(graph, [], ['ens[0]']);
    const forcedLabels = graph.nodes.filter((n) => downstream.has(n.uid)).map((n) => n.label);
    expect(forcedLabels.sort()).toEqual(['ens/gather(y)', 'ens[0]/double', 'total']);
  });
});
