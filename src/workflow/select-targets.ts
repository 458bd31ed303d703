/**
 * Targeted runs: the part of a concrete graph that some labels need, and
 * the nodes a `--force` or `--force-downstream` names. A label names a
 * node (`total`, `ens[3]/sim`) or everything under it: a subgraph use, an
 * ensemble or one member of it (`step` is `step/...`, `ens` is `ens[0]/...`,
 * `ens[1]/...` and its gathers). Pure: nothing here touches a disk.
 */
import { RunGraphError } from '../errors.js';
import type { Uid } from '../identity/fingerprint.js';
import { closest } from './closest.js';
import type { ConcreteGraph, GraphNode } from './concrete-graph.js';

/** Whether `label` is the node `target` or lies inside it (a subgraph use, a map or one of its members). */
function isUnder(label: string, target: string): boolean {
  if (label === target) return true;
  if (!label.startsWith(target)) return false;
  const next = label[target.length];
  return next === '/' || (next === '[' && !target.endsWith(']'));
}

/** Indices of the nodes a label names, or E_UNKNOWN_NODE naming the label and a near one. */
export function nodesNamed(graph: ConcreteGraph, label: string, option: string): number[] {
  const found: number[] = [];
  graph.nodes.forEach((node, i) => {
    if (isUnder(node.label, label)) found.push(i);
  });
  if (found.length > 0) return found;
  const guess = closest(label, graph.byLabel.keys());
  throw new RunGraphError('E_UNKNOWN_NODE', `${option} '${label}' names no node of the workflow`, {
    ...(graph.file === undefined ? {} : { file: graph.file }),
    value: label,
    hint: guess === undefined ? 'run-graph validate lists every label' : `did you mean '${guess}'?`,
  });
}

/** `indices` and everything upstream of them, in graph order. */
function withUpstream(graph: ConcreteGraph, indices: readonly number[]): Set<number> {
  const kept = new Set<number>();
  const stack = [...indices];
  while (stack.length > 0) {
    const i = stack.pop() as number;
    if (kept.has(i)) continue;
    kept.add(i);
    for (const up of graph.nodes[i]?.upstream ?? []) stack.push(up);
  }
  return kept;
}

/**
 * The subgraph that `targets` need: those nodes and everything upstream,
 * in the same order, upstream indices renumbered. No targets: the graph
 * itself.
 */
export function selectTargets(graph: ConcreteGraph, targets: readonly string[]): ConcreteGraph {
  if (targets.length === 0) return graph;
  const kept = withUpstream(
    graph,
    targets.flatMap((label) => nodesNamed(graph, label, 'target')),
  );
  const renumbered = new Map<number, number>();
  const nodes: GraphNode[] = [];
  graph.nodes.forEach((node, i) => {
    if (!kept.has(i)) return;
    renumbered.set(i, nodes.length);
    nodes.push({ ...node, upstream: node.upstream.map((up) => renumbered.get(up) as number) });
  });
  return {
    nodes,
    byLabel: new Map(nodes.map((n) => [n.label, n])),
    file: graph.file,
    ...(graph.assembler === undefined ? {} : { assembler: graph.assembler }),
  };
}

/**
 * The uids to build again whatever is committed: the nodes `force` names,
 * and those `forceDownstream` names with every node downstream of them.
 */
export function forcedUids(
  graph: ConcreteGraph,
  force: readonly string[],
  forceDownstream: readonly string[],
): Set<Uid> {
  const forced = new Set<number>(force.flatMap((label) => nodesNamed(graph, label, '--force')));
  const downstream = new Set<number>(
    forceDownstream.flatMap((label) => nodesNamed(graph, label, '--force-downstream')),
  );
  // Nodes come after their upstream, so one pass in order reaches everything downstream.
  graph.nodes.forEach((node, i) => {
    if (node.upstream.some((up) => downstream.has(up))) downstream.add(i);
  });
  for (const i of downstream) forced.add(i);
  return new Set([...forced].map((i) => (graph.nodes[i] as GraphNode).uid));
}
