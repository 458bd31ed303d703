/**
 * A concrete graph: nodes with uids, records and resolved inputs, in an
 * order where each node follows its upstream; and the record form of their
 * inputs, which is what a uid is computed from.
 */
import type { JsonValue } from '../identity/canonical-json.js';
import { isJsonFloat } from '../identity/json-numbers.js';
import { NumberList } from '../identity/number-list.js';
import type { NodeRecord, Uid } from '../identity/fingerprint.js';
import {
  INPUT_KIND,
  type FileInput,
  type InputTree,
  type OperationDefinition,
  type ResolvedRef,
} from '../operations/operation.js';
import type { RetryPolicy } from '../operations/retry-policy.js';
import type { Resources } from '../operations/resources.js';
import { describeType, literalAsWritten, type ValueType } from '../values/values.js';

/** A value as the assembler resolves it: JSON with references and files in place. */
export type ResolvedValue = InputTree<ResolvedRef>;

/** One output and the path it is published at (a workflow's `"publish"` section, see publish-plan.ts). */
export interface PublishedOutput {
  /** Relative to the publish root, normalized (`results/member-05/msd.npy`). */
  path: string;
  /** The node whose output it is, and the output's name. */
  label: string;
  uid: Uid;
  output: string;
  /** The key of `"publish"` it comes from, as written. */
  from: string;
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
  /** How often and after what wait a failed execution is tried again: execution policy, not part of the uid. */
  readonly retry: RetryPolicy;
  /** What one execution needs, every source of resources applied. Not part of the uid. */
  readonly resources: Resources;
}

/** A graph whose every node has a uid, in an order where each node follows its upstream. */
export interface ConcreteGraph {
  readonly nodes: readonly GraphNode[];
  readonly byLabel: ReadonlyMap<string, GraphNode>;
  readonly file: string | undefined;
  /** Assembles the nodes loops generate as they run. */
  readonly assembler?: SubgraphAssembler;
  /** The outputs the workflow publishes, and where (its `"publish"` section). Default: none. */
  readonly published?: readonly PublishedOutput[];
}

/** Nodes made by one assembly, in an order where each follows its upstream. */
export interface Assembly {
  nodes: GraphNode[];
  /** The outputs of an instantiated subgraph, by name. */
  outputs: Map<string, ResolvedValue>;
}

/** What assembles the nodes of one use of a subgraph while a run goes on (a loop iteration): the graph's GraphAssembler. */
export interface SubgraphAssembler {
  instantiate(
    subgraph: string,
    bindings: ReadonlyMap<string, ResolvedValue>,
    prefix: string,
    scopeDepends: readonly Uid[],
  ): Assembly;
}

/** The record form of a file input: its content digest, an `.npy` one as an array. */
export function fileRecord(file: FileInput): JsonValue {
  return file.npy === undefined
    ? { $file: { sha256: file.sha256, size: file.size } }
    : { $npy: { dtype: file.npy.dtype, shape: file.npy.shape, sha256: file.npy.dataSha256 } };
}

/** A value a record holds as it is: not an object (a number, string, ...), or a JsonFloat. */
export function isPlainScalar(value: unknown): boolean {
  return typeof value !== 'object' || value === null || isJsonFloat(value);
}

/**
 * The record form of an input: a reference becomes `{"$ref": "<uid>.<output>"}`
 * and a file its content digest, so labels and paths never enter a uid.
 */
export function recordInput(input: { [field: string]: InputTree<ResolvedRef> }): { [field: string]: JsonValue } {
  const convert = (value: InputTree<ResolvedRef>): JsonValue => {
    // A literal list kept as text enters the record as it is (its canonical text is its record form's).
    if (value instanceof NumberList) return value as unknown as JsonValue;
    if (Array.isArray(value)) return value.every(isPlainScalar) ? (value as JsonValue[]) : value.map(convert);
    if (isPlainScalar(value)) return value as JsonValue;
    const kind = (value as { [INPUT_KIND]?: string })[INPUT_KIND];
    if (kind === 'ref') {
      const ref = value as ResolvedRef;
      return { $ref: `${ref.uid}.${ref.output}` };
    }
    if (kind === 'file') return fileRecord(value as FileInput);
    const out: { [key: string]: JsonValue } = {};
    for (const [key, child] of Object.entries(value as { [key: string]: InputTree<ResolvedRef> }))
      out[key] = convert(child);
    return out;
  };
  const out: { [field: string]: JsonValue } = {};
  for (const [field, value] of Object.entries(input)) out[field] = convert(value);
  return out;
}

/**
 * The record form of an operation's input: `recordInput`, with the literal
 * numbers of its typed inputs written by dtype (`literalDtypes`), so a
 * float64 element is a float however the workflow spells it.
 */
export function operationRecordInput(
  operation: OperationDefinition,
  input: { [field: string]: InputTree<ResolvedRef> },
): { [field: string]: JsonValue } {
  const fields = recordInput(input);
  for (const [field, dtype] of Object.entries(operation.literalDtypes ?? {})) {
    const value = fields[field];
    if (value !== undefined) fields[field] = literalAsWritten(value, dtype);
  }
  return fields;
}

/** One line describing a node's outputs, for `validate` and `status`. */
export function describeOutputs(node: GraphNode): string {
  return Object.entries(node.outputs)
    .map(([name, type]) => `${name}: ${describeType(type)}`)
    .join(', ');
}
