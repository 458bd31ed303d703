/**
 * From a workflow as written to a concrete graph: every reference resolved
 * to an upstream node and output, the graph checked for cycles, every
 * operation's input checked against the types of what flows into it, and
 * every node given its record and uid. Nothing here touches a working
 * directory, so `validate` and `status` can use it freely.
 */
import type { JsonValue } from '../canonical-json.js';
import { RunGraphError } from '../errors.js';
import type { NodeRecord, Uid } from '../fingerprint.js';
import { INPUT_KIND, type FileInput, type InputTree, type OperationDefinition, type TypedRef } from '../operations/operation.js';
import type { OperationRegistry } from '../operations/registry.js';
import { describeType, type ValueType } from '../values.js';
import { GraphAssembler } from './assemble.js';
import type { WorkflowNodeSpec, WorkflowSpec } from './load.js';

/** A reference as the checker resolved it, with the upstream uid for the record. */
export interface ResolvedRef extends TypedRef {
  readonly uid: Uid;
}

/** One node of a concrete graph. */
export interface GraphNode {
  readonly label: string;
  readonly uid: Uid;
  readonly record: NodeRecord;
  readonly operation: OperationDefinition;
  /** The input with references and files resolved. */
  readonly input: { [field: string]: InputTree<ResolvedRef> };
  /** Types of every output. */
  readonly outputs: { readonly [output: string]: ValueType };
  /** Indices (in `ConcreteGraph.nodes`) of the nodes this one reads from. */
  readonly upstream: readonly number[];
  readonly description: string | undefined;
}

/** A graph whose every node has a uid, in an order where each node follows its upstream. */
export interface ConcreteGraph {
  readonly nodes: readonly GraphNode[];
  readonly byLabel: ReadonlyMap<string, GraphNode>;
  readonly file: string | undefined;
  /** Assembles the nodes loops generate as they run. */
  readonly assembler?: GraphAssembler;
}

export interface BuildGraphOptions {
  registry: OperationRegistry;
  /** Directory `$file` inputs are relative to. Default: the current directory. */
  baseDir?: string;
  /** The workflow file, for messages. */
  file?: string;
}

/** The candidate nearest to `name` by edit distance, if it is near enough to suggest. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, name.length / 3) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** Kahn's algorithm; on a cycle, the error names one cycle in full. */
export function topologicalOrder(specs: readonly Pick<WorkflowNodeSpec, 'label'>[], upstream: readonly number[][], file: string | undefined): number[] {
  const downstream: number[][] = specs.map(() => []);
  const waiting = upstream.map((ups) => ups.length);
  upstream.forEach((ups, i) => ups.forEach((u) => downstream[u]?.push(i)));
  // A FIFO seeded in file order keeps the result close to the order the user wrote.
  const order = waiting.flatMap((count, i) => (count === 0 ? [i] : []));
  for (let head = 0; head < order.length; head++) {
    for (const d of downstream[order[head] as number] ?? []) {
      waiting[d] = (waiting[d] ?? 0) - 1;
      if (waiting[d] === 0) order.push(d);
    }
  }
  if (order.length === specs.length) return order;
  // Walk upstream from any node left over until a node repeats: that is a cycle.
  const stuck = waiting.findIndex((count) => count > 0);
  const path: number[] = [];
  const seenAt = new Map<number, number>();
  let at = stuck;
  while (!seenAt.has(at)) {
    seenAt.set(at, path.length);
    path.push(at);
    at = (upstream[at] ?? []).find((u) => (waiting[u] ?? 0) > 0) ?? at;
  }
  const cycle = path.slice(seenAt.get(at)).reverse();
  const labels = [...cycle, cycle[0] ?? at].map((i) => specs[i]?.label ?? '?');
  throw new RunGraphError('E_CYCLE', `the graph has a cycle: ${labels.join(' -> ')}`, {
    ...(file === undefined ? {} : { file }),
    node: specs[cycle[0] ?? at]?.label ?? '?',
    hint: 'a node cannot depend, directly or through others, on its own output',
  });
}

/** Check a workflow and turn it into a concrete graph with uids. */
export async function buildGraph(spec: WorkflowSpec, options: BuildGraphOptions): Promise<ConcreteGraph> {
  const assembler = await GraphAssembler.create(spec, { registry: options.registry, baseDir: options.baseDir ?? process.cwd(), file: options.file });
  const nodes = assembler.assembleWorkflow();
  return { nodes, byLabel: new Map(nodes.map((n) => [n.label, n])), file: options.file, assembler };
}

/** The record form of a file input: its content digest, an `.npy` one as an array. */
export function fileRecord(file: FileInput): JsonValue {
  return file.npy === undefined
    ? { $file: { sha256: file.sha256, size: file.size } }
    : { $npy: { dtype: file.npy.dtype, shape: file.npy.shape, sha256: file.npy.dataSha256 } };
}

/**
 * The record form of an input: a reference becomes `{"$ref": "<uid>.<output>"}`
 * and a file its content digest, so labels and paths never enter a uid.
 */
export function recordInput(input: { [field: string]: InputTree<ResolvedRef> }): { [field: string]: JsonValue } {
  const convert = (value: InputTree<ResolvedRef>): JsonValue => {
    if (Array.isArray(value)) return value.map(convert);
    if (typeof value !== 'object' || value === null) return value;
    const kind = (value as { [INPUT_KIND]?: string })[INPUT_KIND];
    if (kind === 'ref') {
      const ref = value as ResolvedRef;
      return { $ref: `${ref.uid}.${ref.output}` };
    }
    if (kind === 'file') return fileRecord(value as FileInput);
    const out: { [key: string]: JsonValue } = {};
    for (const [key, child] of Object.entries(value as { [key: string]: InputTree<ResolvedRef> })) out[key] = convert(child);
    return out;
  };
  const out: { [field: string]: JsonValue } = {};
  for (const [field, value] of Object.entries(input)) out[field] = convert(value);
  return out;
}

/** One line describing a node's outputs, for `validate` and `status`. */
export function describeOutputs(node: GraphNode): string {
  return Object.entries(node.outputs)
    .map(([name, type]) => `${name}: ${describeType(type)}`)
    .join(', ');
}
