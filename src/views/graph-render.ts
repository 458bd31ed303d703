/**
 * A graph as picture source: Mermaid (rendered by GitHub, GitLab and most
 * Markdown viewers) or Graphviz DOT. One box per node (label and operation),
 * one arrow per reference, labelled with the input field it feeds; with the
 * state of each node in a working directory, boxes are coloured by state.
 */
import { assertNever } from '../errors.js';
import { describePriorStore } from './explain/prior-versions.js';
import { INPUT_KIND, type InputTree } from '../operations/operation.js';
import type { NodeStatus } from './status.js';
import type { ConcreteGraph, GraphNode, ResolvedRef } from '../workflow/graph.js';

export { GRAPH_FORMATS, type GraphFormat } from './graph-formats.js';
import type { GraphFormat } from './graph-formats.js';

/** The state a box is coloured by: a node state, or `outdated` for one that runs again because a version changed. */
export type DrawnState = NodeStatus['state'] | 'outdated';

/** Fill and border colours per state, shared by both formats. */
const COLOURS: { [S in DrawnState]: { fill: string; stroke: string } } = {
  committed: { fill: '#c8e6c9', stroke: '#2e7d32' },
  running: { fill: '#bbdefb', stroke: '#1565c0' },
  incomplete: { fill: '#ffe0b2', stroke: '#ef6c00' },
  failed: { fill: '#ffcdd2', stroke: '#c62828' },
  outdated: { fill: '#fff9c4', stroke: '#f9a825' },
  'not-started': { fill: '#eeeeee', stroke: '#757575' },
};

/** One reference: from which node and output, into which field. */
export interface GraphEdge {
  from: string;
  to: string;
  /** The input field of `to` the reference sits in (`a`, `argv[4]`). */
  field: string;
  /** The upstream output, when it is not the upstream node's default one. */
  output: string | undefined;
}

/** Every reference of every node, in graph order. */
export function graphEdges(graph: ConcreteGraph): GraphEdge[] {
  const edges: GraphEdge[] = [];
  for (const node of graph.nodes) {
    const visit = (value: InputTree<ResolvedRef>, field: string): void => {
      if (Array.isArray(value)) {
        value.forEach((item, i) => visit(item, `${field}[${i}]`));
        return;
      }
      if (typeof value !== 'object' || value === null) return;
      const kind = (value as { [INPUT_KIND]?: string })[INPUT_KIND];
      if (kind === 'ref') {
        const ref = value as ResolvedRef;
        const upstream = graph.byLabel.get(ref.label);
        edges.push({
          from: ref.label,
          to: node.label,
          field,
          output: upstream !== undefined && upstream.operation.defaultOutput === ref.output ? undefined : ref.output,
        });
        return;
      }
      if (kind === 'file') return;
      for (const [key, child] of Object.entries(value as { [key: string]: InputTree<ResolvedRef> }))
        visit(child, field === '' ? key : `${field}.${key}`);
    };
    for (const [field, value] of Object.entries(node.input)) visit(value, field);
  }
  return edges;
}

/** The state to colour each node by, from a status report. */
export function drawnStates(nodes: readonly NodeStatus[]): Map<string, DrawnState> {
  return new Map(
    nodes.map((n) => [n.label, n.state === 'not-started' && n.prior !== undefined ? 'outdated' : n.state]),
  );
}

function operationText(node: GraphNode): string {
  const name = `${node.operation.namespace}.${node.operation.name}`;
  return node.operation.version === undefined ? name : `${name} ${node.operation.version}`;
}

function edgeText(edge: GraphEdge): string {
  return edge.output === undefined ? edge.field : `${edge.output} to ${edge.field}`;
}

/** Mermaid text is quoted; a quote inside becomes its HTML entity. */
function mermaidText(text: string): string {
  return text.replace(/"/g, '#quot;');
}

function dotText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/**
 * Render `graph`. With `states`, boxes are coloured by state and a legend
 * of the states present is added; without, they are plain.
 */
export function renderGraph(
  graph: ConcreteGraph,
  format: GraphFormat,
  states?: ReadonlyMap<string, DrawnState>,
  notes?: ReadonlyMap<string, string>,
): string {
  const ids = new Map(graph.nodes.map((n, i) => [n.label, `n${i}`]));
  const edges = graphEdges(graph);
  switch (format) {
    case 'mermaid': {
      const lines = ['flowchart LR'];
      for (const node of graph.nodes) {
        const note = notes?.get(node.label);
        lines.push(
          `  ${ids.get(node.label) ?? ''}["${mermaidText(node.label)}<br/>${mermaidText(operationText(node))}${note === undefined ? '' : `<br/>${mermaidText(note)}`}"]`,
        );
      }
      for (const edge of edges)
        lines.push(`  ${ids.get(edge.from) ?? ''} -->|"${mermaidText(edgeText(edge))}"| ${ids.get(edge.to) ?? ''}`);
      if (states !== undefined) {
        const used = [...new Set(states.values())];
        for (const state of used)
          lines.push(
            `  classDef ${state.replace('-', '_')} fill:${COLOURS[state].fill},stroke:${COLOURS[state].stroke},color:#000`,
          );
        for (const state of used) {
          const members = graph.nodes.filter((n) => states.get(n.label) === state).map((n) => ids.get(n.label) ?? '');
          if (members.length > 0) lines.push(`  class ${members.join(',')} ${state.replace('-', '_')}`);
        }
      }
      return `${lines.join('\n')}\n`;
    }
    case 'dot': {
      const lines = [
        'digraph workflow {',
        '  rankdir=LR;',
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
      ];
      for (const node of graph.nodes) {
        const state = states?.get(node.label);
        const note = notes?.get(node.label);
        const colour =
          state === undefined
            ? ''
            : `, fillcolor="${COLOURS[state].fill}", color="${COLOURS[state].stroke}", tooltip="${state}"`;
        lines.push(
          `  "${dotText(node.label)}" [label="${dotText(node.label)}\\n${dotText(operationText(node))}${note === undefined ? '' : `\\n${dotText(note)}`}"${colour}];`,
        );
      }
      for (const edge of edges)
        lines.push(`  "${dotText(edge.from)}" -> "${dotText(edge.to)}" [label="${dotText(edgeText(edge))}"];`);
      lines.push('}');
      return `${lines.join('\n')}\n`;
    }
    default:
      return assertNever(format, 'graph format');
  }
}

/** A note for each node that runs again because a version changed (`will run: demo.simulate 1.2 -> 1.3`). */
export function versionNotes(nodes: readonly NodeStatus[]): Map<string, string> {
  const notes = new Map<string, string>();
  for (const node of nodes)
    if (node.state === 'not-started' && node.prior !== undefined) notes.set(node.label, describePriorStore(node.prior));
  return notes;
}
