/**
 * From a workflow as written to a concrete graph: every reference resolved
 * to an upstream node and output, the graph checked for cycles, every
 * operation's input checked against the types of what flows into it, and
 * every node given its record and uid. Nothing here touches a working
 * directory, so `validate` and `status` can use it freely.
 */
import { isAbsolute, resolve } from 'node:path';
import type { JsonValue } from '../canonical-json.js';
import { RunGraphError } from '../errors.js';
import { fingerprint, type NodeRecord, type Uid } from '../fingerprint.js';
import { INPUT_KIND, operationIdentity, type CheckInput, type FileInput, type InputTree, type OperationDefinition, type TypedRef } from '../operations/operation.js';
import type { OperationRegistry } from '../operations/registry.js';
import { describeType, type ValueType } from '../values.js';
import { digestFile } from './file-digest.js';
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
}

export interface BuildGraphOptions {
  registry: OperationRegistry;
  /** Directory `$file` inputs are relative to. Default: the current directory. */
  baseDir?: string;
  /** The workflow file, for messages. */
  file?: string;
}

interface RawRef {
  label: string;
  output: string | undefined;
  field: string;
}

function isObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fieldPath(parent: string, key: string | number): string {
  return typeof key === 'number' ? `${parent}[${key}]` : `${parent}.${key}`;
}

/** Visit every `$ref` and `$file` object of an input tree. */
function walkSpecials(value: JsonValue, field: string, onRef: (ref: RawRef) => void, onFile: (given: string, field: string) => void): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => walkSpecials(item, fieldPath(field, i), onRef, onFile));
  } else if (isObject(value)) {
    const ref = value['$ref'];
    const file = value['$file'];
    if (typeof ref === 'string') {
      const dot = ref.indexOf('.');
      onRef({ label: dot < 0 ? ref : ref.slice(0, dot), output: dot < 0 ? undefined : ref.slice(dot + 1), field });
    } else if (typeof file === 'string') {
      onFile(file, field);
    } else {
      for (const [key, child] of Object.entries(value)) walkSpecials(child, fieldPath(field, key), onRef, onFile);
    }
  }
}

function closest(name: string, candidates: Iterable<string>): string | undefined {
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
function topologicalOrder(specs: readonly WorkflowNodeSpec[], upstream: readonly number[][], file: string | undefined): number[] {
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
  const { registry, file } = options;
  const baseDir = options.baseDir ?? process.cwd();
  const where = file === undefined ? {} : { file };
  const indexOf = new Map(spec.nodes.map((node, i) => [node.label, i]));

  // Pass 1: references and files, by label; unknown labels fail here.
  const refs: RawRef[][] = [];
  const files = new Map<string, Promise<FileInput>>();
  const upstream = spec.nodes.map((node, i) => {
    const nodeRefs: RawRef[] = [];
    const ups = new Set<number>();
    walkSpecials(
      node.input ?? {},
      'input',
      (ref) => {
        const target = indexOf.get(ref.label);
        if (target === undefined) {
          const guess = closest(ref.label, indexOf.keys());
          throw new RunGraphError('E_UNKNOWN_REFERENCE', `reference to a node labelled '${ref.label}', and there is none`, {
            ...where,
            node: node.label,
            field: ref.field,
            value: ref.label,
            ...(guess === undefined ? {} : { hint: `did you mean '${guess}'?` }),
          });
        }
        nodeRefs.push(ref);
        ups.add(target);
      },
      (given, field) => {
        const path = isAbsolute(given) ? given : resolve(baseDir, given);
        if (!files.has(path)) {
          const digest = digestFile(path, given, { ...where, node: node.label, field });
          // Handled below by allSettled; this keeps a failed digest from becoming an
          // unhandled rejection when an unknown reference or a cycle aborts the build first.
          digest.catch(() => undefined);
          files.set(path, digest);
        }
      },
    );
    refs[i] = nodeRefs;
    return [...ups];
  });

  // Pass 2: order (fails on a cycle), then check each node with its upstream types known.
  const order = topologicalOrder(spec.nodes, upstream, file);
  const fileInputs = new Map<string, FileInput>();
  // Digest every file even if one fails, so no read is left running; then report the first failure.
  const digests = await Promise.allSettled([...files.entries()].map(async ([path, digest]) => fileInputs.set(path, await digest)));
  const failed = digests.find((d): d is PromiseRejectedResult => d.status === 'rejected');
  if (failed !== undefined) throw failed.reason;

  const nodes: GraphNode[] = [];
  const position = new Map<number, number>();
  for (const i of order) {
    const specNode = spec.nodes[i] as WorkflowNodeSpec;
    const operation = registry.get(specNode.operation);
    if (operation === undefined) {
      const guess = closest(specNode.operation, registry.names());
      throw new RunGraphError('E_UNKNOWN_OPERATION', `unknown operation '${specNode.operation}'`, {
        ...where,
        node: specNode.label,
        field: 'operation',
        value: specNode.operation,
        hint: guess === undefined ? `known operations: ${registry.names().join(', ')}` : `did you mean '${guess}'?`,
      });
    }
    const resolveRef = (raw: RawRef): ResolvedRef => {
      const target = nodes[position.get(indexOf.get(raw.label) as number) as number] as GraphNode;
      const output = raw.output ?? target.operation.defaultOutput;
      const type = target.outputs[output];
      if (type === undefined) {
        throw new RunGraphError('E_UNKNOWN_OUTPUT', `node '${raw.label}' has no output '${output}'`, {
          ...where,
          node: specNode.label,
          field: raw.field,
          value: `${raw.label}.${output}`,
          hint: `its outputs are: ${Object.keys(target.outputs).join(', ')}`,
        });
      }
      return { [INPUT_KIND]: 'ref', label: raw.label, output, type, uid: target.uid };
    };
    const input = resolveInput(specNode.input ?? {}, resolveRef, (given) => fileInputs.get(isAbsolute(given) ? given : resolve(baseDir, given)) as FileInput) as {
      [field: string]: InputTree<ResolvedRef>;
    };
    const outputs = operation.check(input as CheckInput, { file, node: specNode.label });
    const depends = [...new Set(upstream[i]?.map((u) => (nodes[position.get(u) as number] as GraphNode).uid))].sort();
    const record: NodeRecord = { depends, input: recordInput(input), operation: operationIdentity(operation) };
    position.set(i, nodes.length);
    nodes.push({
      label: specNode.label,
      uid: fingerprint(record),
      record,
      operation,
      input,
      outputs,
      upstream: (upstream[i] ?? []).map((u) => position.get(u) as number),
      description: specNode.description,
    });
  }
  return { nodes, byLabel: new Map(nodes.map((n) => [n.label, n])), file };
}

function resolveInput(value: JsonValue, onRef: (raw: RawRef) => ResolvedRef, onFile: (given: string) => FileInput, field = 'input'): InputTree<ResolvedRef> {
  if (Array.isArray(value)) return value.map((item, i) => resolveInput(item, onRef, onFile, fieldPath(field, i)));
  if (!isObject(value)) return value;
  const ref = value['$ref'];
  const file = value['$file'];
  if (typeof ref === 'string') {
    const dot = ref.indexOf('.');
    return onRef({ label: dot < 0 ? ref : ref.slice(0, dot), output: dot < 0 ? undefined : ref.slice(dot + 1), field });
  }
  if (typeof file === 'string') return onFile(file);
  const out: { [key: string]: InputTree<ResolvedRef> } = {};
  for (const [key, child] of Object.entries(value)) out[key] = resolveInput(child, onRef, onFile, fieldPath(field, key));
  return out;
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
    if (kind === 'file') {
      const file = value as FileInput;
      return file.npy === undefined
        ? { $file: { sha256: file.sha256, size: file.size } }
        : { $npy: { dtype: file.npy.dtype, shape: file.npy.shape, sha256: file.npy.dataSha256 } };
    }
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
