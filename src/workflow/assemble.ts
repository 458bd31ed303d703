/**
 * Assembling concrete nodes from a workflow, scope by scope. The top level is
 * one scope; every use of a subgraph (directly, per map member, or per loop
 * iteration) is another, with its own label prefix and its `$input`
 * placeholders bound to values of the enclosing scope. Within a scope nodes
 * are handled in topological order, so the types of everything upstream are
 * known when a node is checked, and a map knows how many members it has.
 *
 * - operation node: checked, given its record and uid.
 * - subgraph use: its nodes are assembled in a child scope; references to it
 *   resolve to the subgraph's outputs.
 * - map: one member per list element or array row (an Index node each), each
 *   a node or a child scope; `label.output` is the members' output stacked
 *   (a Stack node, made when first referenced), `label[i].output` member i's.
 * - while: one control node; its iterations are assembled at run time by
 *   `instantiate`, each in a scope whose records carry an iteration uid
 *   derived from the loop's uid and k. Iteration 0 is assembled once here,
 *   without keeping its nodes, so that a body that does not produce what the
 *   next iteration needs, or a condition that is not boolean, fails before
 *   anything runs.
 */
import { isAbsolute, resolve } from 'node:path';
import type { JsonValue } from '../identity/canonical-json.js';
import { isJsonFloat } from '../identity/json-numbers.js';
import { withPlainFloats } from '../identity/json-text.js';
import { RunGraphError, describeValue, type ErrorCode } from '../errors.js';
import { fingerprint, type KnownRecord, type NodeRecord, type Uid } from '../identity/fingerprint.js';
import { NumberList } from '../identity/number-list.js';
import { whileOperation } from './loop.js';
import { index as indexOperation, stack as stackOperation } from '../operations/ensemble-ops.js';
import {
  INPUT_KIND,
  isFileInput,
  isInputRef,
  operationIdentity,
  qualifiedName,
  type CheckInput,
  type FileInput,
  type OperationDefinition,
  type ResolvedRef,
} from '../operations/operation.js';
import type { OperationRegistry } from '../operations/registry.js';
import { parseResources, resolveResources, type ResourceLayer, type Resources } from '../operations/resources.js';
import { describeType, type ValueType } from '../values/values.js';
import { digestFile } from './file-digest.js';
import { typeOfValue } from './value-type.js';
import { closest } from './closest.js';
import {
  fileRecord,
  operationRecordInput,
  recordInput,
  type Assembly,
  type GraphNode,
  type ResolvedValue,
  isPlainScalar,
} from './concrete-graph.js';
import type { MapSpec, SubgraphSpec, WhileSpec, WorkflowNodeSpec, WorkflowSpec } from './spec.js';
import { topologicalOrder } from './topological-order.js';
import {
  resolveRetryPolicy,
  retrySettingsOf,
  type RetryPolicy,
  type RetrySettings,
} from '../operations/retry-policy.js';

/** What a label names inside a scope: a node, or something with outputs (a subgraph use, a map, a map member). */
type Entity =
  | { kind: 'node'; node: GraphNode }
  | {
      kind: 'alias';
      label: string;
      output(name: string | undefined, field: string): ResolvedValue;
      outputNames(): string[];
    };

interface Scope {
  /** Prepended to the labels of nodes made in this scope. */
  prefix: string;
  /** `$input` bindings; undefined at the top level. */
  inputs: ReadonlyMap<string, ResolvedValue> | undefined;
  /** Added to the `depends` of every record made in this scope (a loop iteration's uid). */
  scopeDepends: readonly Uid[];
  /** Where this scope comes from, for messages (`subgraph 'step'`). */
  origin: string;
  /** Retry settings of the subgraph uses, maps and loops around this scope, innermost first. */
  retry: readonly RetrySettings[];
  /** Resources of the subgraph, map and loop nodes around this scope, outermost first. */
  resources: readonly ResourceLayer[];
}

export interface AssemblerOptions {
  registry: OperationRegistry;
  baseDir: string;
  file: string | undefined;
  /** A run's own resource defaults (profile, then flags), above the workflow's `defaults` and below operations and nodes. */
  runResources?: readonly ResourceLayer[];
  /** A run's own retry defaults (`run --retries`), at the same place among the retry settings. */
  runRetry?: RetrySettings;
  /** Records the working directory holds, which a large literal's uid may be confirmed by (see fingerprint()). Default: none. */
  knownRecord?: KnownRecord;
}

/**
 * An operation's input with each NumberList (a long literal list of the
 * workflow file) either kept, standing for its dtype, where the operation
 * takes it as a typed literal (`literalListsKept`, `literalDtypes`) and the
 * list can stand for that dtype unread; or read into values, which is what
 * every other operation has always been given.
 */
function literalListsFor(
  operation: OperationDefinition,
  input: { [field: string]: ResolvedValue },
): { [field: string]: ResolvedValue } {
  let out: { [field: string]: ResolvedValue } | undefined;
  for (const [field, value] of Object.entries(input)) {
    if (!(value instanceof NumberList)) continue;
    const dtype = operation.literalListsKept === true ? operation.literalDtypes?.[field] : undefined;
    out ??= { ...input };
    out[field] = (dtype !== undefined && value.holds(dtype) ? value.withDtype(dtype) : value.values()) as ResolvedValue;
  }
  return out ?? input;
}

const MEMBER_LABEL = /^(.*)\[(\d+)\]$/;

function isObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isJsonFloat(value);
}

function fieldPath(parent: string, key: string | number): string {
  return typeof key === 'number' ? `${parent}[${key}]` : `${parent}.${key}`;
}

/** `label`, `label.output`, `label[3].output` -> label part (with any member index) and output. */
function splitReference(text: string): { label: string; output: string | undefined } {
  const dot = text.indexOf('.');
  return dot < 0 ? { label: text, output: undefined } : { label: text.slice(0, dot), output: text.slice(dot + 1) };
}

/** Labels a node's spec refers to (map members count as their map), anywhere in it, with the field of each. */
function referencedLabels(spec: WorkflowNodeSpec): { label: string; field: string }[] {
  const found: { label: string; field: string }[] = [];
  const walk = (value: JsonValue | undefined, field: string): void => {
    if (Array.isArray(value)) value.forEach((item, i) => walk(item, fieldPath(field, i)));
    else if (isObject(value)) {
      const ref = value['$ref'];
      if (typeof ref === 'string') {
        const { label } = splitReference(ref);
        found.push({ label: MEMBER_LABEL.exec(label)?.[1] ?? label, field });
      } else for (const [key, child] of Object.entries(value)) walk(child, fieldPath(field, key));
    }
  };
  walk(spec.input, 'input');
  walk(spec.map?.over, 'map.over');
  walk(spec.map?.input, 'map.input');
  walk(spec.while?.state, 'while.state');
  return found;
}

/** Every `$file` path in a workflow, subgraphs included. */
function fileInputsOf(spec: WorkflowSpec): string[] {
  const found: string[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (typeof value === 'object' && value !== null) {
      const file = (value as { $file?: unknown }).$file;
      if (typeof file === 'string') found.push(file);
      else Object.values(value).forEach(walk);
    }
  };
  walk(spec.nodes);
  walk(spec.subgraphs);
  return found;
}

/** Whether a value of type `next` can stand where `current` stood (a loop's state across iterations). */
function typesCompatible(current: ValueType, next: ValueType): boolean {
  if (current.kind !== next.kind) return false;
  if (current.kind !== 'array' || next.kind !== 'array') return true;
  const numeric = (d: string | null): boolean =>
    d === null || d === 'int64' || d === 'float64' || d === 'int32' || d === 'float32';
  const dtypeOk =
    current.dtype === null ||
    next.dtype === null ||
    current.dtype === next.dtype ||
    (numeric(current.dtype) && numeric(next.dtype));
  const shapeOk =
    current.shape === null ||
    next.shape === null ||
    (current.shape.length === next.shape.length && current.shape.every((d, i) => d === next.shape?.[i]));
  return dtypeOk && shapeOk;
}

/** A boolean as a loop condition can use: JSON, or a bool array of one element. */
export function isBooleanType(type: ValueType): boolean {
  if (type.kind === 'json') return true;
  return (
    type.kind === 'array' &&
    (type.dtype === 'bool' || type.dtype === null) &&
    (type.shape === null || type.shape.reduce((n, d) => n * d, 1) === 1)
  );
}

export class GraphAssembler {
  readonly #options: AssemblerOptions;
  readonly #spec: WorkflowSpec;
  /** What each top-level label names, once assembleWorkflow has run. */
  #topLevel = new Map<string, Entity>();
  /** Each `$file` as written, digested, or the reason it could not be (reported where it is used). */
  readonly #files: ReadonlyMap<string, FileInput | RunGraphError>;
  readonly #positions = new WeakMap<readonly GraphNode[], { index: Map<Uid, number>; upTo: number }>();
  /** The retry settings around each loop's iterations, by the loop's label, for `instantiate`. */
  readonly #loopRetry = new Map<string, readonly RetrySettings[]>();
  /** Each retry policy resolved, by the settings around its nodes and their operation (see #retryPolicy). */
  readonly #retryPolicies = new WeakMap<readonly RetrySettings[], Map<OperationDefinition, RetryPolicy>>();
  /** Workflow defaults, then the run's: the least specific layers of every node's resources. */
  readonly #baseResources: readonly ResourceLayer[];
  /** The resource layers around each loop, by its label, for the iterations `instantiate` assembles. */
  readonly #loopResources = new Map<string, readonly ResourceLayer[]>();

  private constructor(
    spec: WorkflowSpec,
    options: AssemblerOptions,
    files: ReadonlyMap<string, FileInput | RunGraphError>,
  ) {
    this.#spec = spec;
    this.#options = options;
    this.#files = files;
    const defaults = spec.defaults?.resources;
    this.#baseResources = [
      ...(defaults === undefined ? [] : [parseResources(defaults, this.#where(), 'defaults.resources')]),
      ...(options.runResources ?? []),
    ];
  }

  #where(node?: string): { file?: string; node?: string } {
    return {
      ...(this.#options.file === undefined ? {} : { file: this.#options.file }),
      ...(node === undefined ? {} : { node }),
    };
  }

  /** Digest every file input (subgraphs included) once, then assemble without further I/O. */
  static async create(spec: WorkflowSpec, options: AssemblerOptions): Promise<GraphAssembler> {
    const files = new Map<string, FileInput | RunGraphError>();
    await Promise.all(
      [...new Set(fileInputsOf(spec))].map(async (given) => {
        const path = isAbsolute(given) ? given : resolve(options.baseDir, given);
        try {
          files.set(given, await digestFile(path, given, options.file === undefined ? {} : { file: options.file }));
        } catch (error) {
          if (!(error instanceof RunGraphError)) throw error;
          files.set(given, error);
        }
      }),
    );
    return new GraphAssembler(spec, options, files);
  }

  /** The top level of the workflow. */
  assembleWorkflow(): GraphNode[] {
    const nodes: GraphNode[] = [];
    this.#topLevel = this.#assembleScope(
      this.#spec.nodes,
      { prefix: '', inputs: undefined, scopeDepends: [], origin: 'the workflow', retry: [], resources: [] },
      nodes,
    );
    return nodes;
  }

  /**
   * What a reference written at the top level names (`label`,
   * `label.output`, `m[3].output`, `m.output`), as a node's input would see
   * it: how `"publish"` finds its outputs. After assembleWorkflow; a gather
   * it needs joins that assembly's nodes.
   */
  resolveTopLevelReference(text: string, field: string): ResolvedValue {
    return this.#resolveReference(text, field, '(publish)', this.#topLevel);
  }

  /**
   * Nodes of one use of a subgraph with its inputs bound: a loop iteration.
   * Labels get `prefix`; every record depends on `scopeDepends` too.
   */
  instantiate(
    subgraph: string,
    bindings: ReadonlyMap<string, ResolvedValue>,
    prefix: string,
    scopeDepends: readonly Uid[],
  ): Assembly {
    const nodes: GraphNode[] = [];
    // `loop#3/` and `loop#3/until/`: an iteration of the loop labelled `loop` takes the resources around it.
    const loop = /^(.*)#\d+\/(?:until\/)?$/.exec(prefix)?.[1];
    const resources = (loop === undefined ? undefined : this.#loopResources.get(loop)) ?? [];
    const outputs = this.#useSubgraph(
      subgraph,
      bindings,
      {
        prefix,
        inputs: undefined,
        scopeDepends,
        origin: `subgraph '${subgraph}'`,
        retry: this.#retryAroundLoop(prefix),
        resources,
      },
      prefix.replace(/\/$/, ''),
      nodes,
    );
    return { nodes, outputs };
  }

  /** The retry settings around the iterations of the loop a prefix (`loop#3/`, `loop#3/until/`) belongs to. */
  #retryAroundLoop(prefix: string): readonly RetrySettings[] {
    const hash = prefix.lastIndexOf('#');
    return hash < 0 ? [] : (this.#loopRetry.get(prefix.slice(0, hash)) ?? []);
  }

  /**
   * A node's retry policy: its own settings, then those of the scopes around
   * it, then its operation's, then the workflow's defaults.
   */
  #retryPolicy(scope: Scope, operation: OperationDefinition): RetryPolicy {
    // Resolved once per list of settings around the node and operation: the nodes of a scope share both.
    let byOperation = this.#retryPolicies.get(scope.retry);
    if (byOperation === undefined) {
      byOperation = new Map();
      this.#retryPolicies.set(scope.retry, byOperation);
    }
    let policy = byOperation.get(operation);
    if (policy === undefined) {
      policy = resolveRetryPolicy([
        ...scope.retry,
        operation.retryDefaults,
        this.#options.runRetry,
        this.#spec.defaults,
      ]);
      byOperation.set(operation, policy);
    }
    return policy;
  }

  #error(
    code: ErrorCode,
    message: string,
    node: string,
    field?: string,
    value?: unknown,
    hint?: string,
  ): RunGraphError {
    return new RunGraphError(code, message, {
      ...(this.#options.file === undefined ? {} : { file: this.#options.file }),
      node,
      ...(field === undefined ? {} : { field }),
      ...(value === undefined ? {} : { value }),
      ...(hint === undefined ? {} : { hint }),
    });
  }

  #subgraphSpec(name: string, node: string, field: string): SubgraphSpec {
    const found = this.#spec.subgraphs?.[name];
    if (found === undefined) {
      const guess = closest(name, Object.keys(this.#spec.subgraphs ?? {}));
      throw this.#error(
        'E_UNKNOWN_OPERATION',
        `unknown subgraph '${name}'`,
        node,
        field,
        name,
        guess === undefined ? 'define it under "subgraphs"' : `did you mean '${guess}'?`,
      );
    }
    return found;
  }

  /** Assemble the nodes of one scope into `out`; returns what each label names. */
  #assembleScope(specs: readonly WorkflowNodeSpec[], scope: Scope, out: GraphNode[]): Map<string, Entity> {
    const indexOf = new Map(specs.map((node, i) => [node.label, i]));
    const upstream = specs.map((node) => [
      ...new Set(
        referencedLabels(node).map(({ label, field }) => {
          const target = indexOf.get(label);
          if (target === undefined) {
            const guess = closest(label, indexOf.keys());
            throw this.#error(
              'E_UNKNOWN_REFERENCE',
              `reference to a node labelled '${label}', and there is none${scope.inputs === undefined ? '' : ` in ${scope.origin}`}`,
              scope.prefix + node.label,
              field,
              label,
              guess === undefined ? undefined : `did you mean '${guess}'?`,
            );
          }
          return target;
        }),
      ),
    ]);
    const entities = new Map<string, Entity>();
    for (const i of topologicalOrder(specs, upstream, this.#options.file)) {
      const spec = specs[i] as WorkflowNodeSpec;
      const label = scope.prefix + spec.label;
      // The node's own settings come first, for it and for everything it makes (most nodes have none).
      const nodeScope: Scope =
        spec.retries === undefined && spec.backoff === undefined
          ? scope
          : { ...scope, retry: [retrySettingsOf(spec), ...scope.retry] };
      const resolveValue = (value: JsonValue, field: string): ResolvedValue =>
        this.#resolve(value, field, label, scope, entities, out);
      // A node's own resources; on a subgraph, map or loop, those of every node made inside it.
      const own = spec.resources === undefined ? [] : [parseResources(spec.resources, this.#where(label), 'resources')];
      const inner: Scope = own.length === 0 ? nodeScope : { ...nodeScope, resources: [...scope.resources, ...own] };
      if (spec.operation !== undefined) {
        const node = this.#operationNode(
          this.#operation(spec.operation, label),
          label,
          resolveValue(spec.input ?? {}, 'input') as { [k: string]: ResolvedValue },
          inner,
          spec.description,
          out,
        );
        entities.set(spec.label, { kind: 'node', node });
      } else if (spec.subgraph !== undefined) {
        // A subgraph's inputs are given values: only an operation takes a literal list as it is kept.
        const bindings = new Map(
          Object.entries(spec.input ?? {}).map(([k, v]) => [
            k,
            resolveValue(v instanceof NumberList ? (v.values() as JsonValue) : v, `input.${k}`),
          ]),
        );
        const outputs = this.#useSubgraph(spec.subgraph, bindings, inner, label, out);
        entities.set(spec.label, this.#alias(label, outputs));
      } else if (spec.map !== undefined) {
        this.#map(spec.label, spec.map, nodeScope, inner, entities, out, resolveValue);
      } else if (spec.while !== undefined) {
        this.#loopRetry.set(label, nodeScope.retry);
        this.#loopResources.set(label, inner.resources);
        const node = this.#while(label, spec.while, nodeScope, spec.description, out, resolveValue);
        entities.set(spec.label, { kind: 'node', node });
      } else {
        throw this.#error('E_WORKFLOW_SCHEMA', 'a node needs one of "operation", "subgraph", "map" or "while"', label);
      }
    }
    return entities;
  }

  #operation(name: string, label: string): OperationDefinition {
    const operation = this.#options.registry.get(name);
    if (operation === undefined) {
      const guess = closest(name, this.#options.registry.names());
      throw this.#error(
        'E_UNKNOWN_OPERATION',
        `unknown operation '${name}'`,
        label,
        'operation',
        name,
        guess === undefined
          ? `known operations: ${this.#options.registry.names().join(', ')}`
          : `did you mean '${guess}'?`,
      );
    }
    return operation;
  }

  /** Check an operation node and give it its record and uid. */
  #operationNode(
    operation: OperationDefinition,
    label: string,
    input: { [field: string]: ResolvedValue },
    scope: Scope,
    description: string | undefined,
    out: GraphNode[],
  ): GraphNode {
    input = literalListsFor(operation, input);
    // The operation sees `1.0` as the number 1, as it always has; the record keeps the float.
    const plain = withPlainFloats(input);
    let outputs: { [output: string]: ValueType };
    try {
      outputs = operation.check(plain as CheckInput, { file: this.#options.file, node: label });
    } catch (error) {
      if (error instanceof RunGraphError || error?.constructor?.name === 'RunGraphError') throw error;
      // An operation of the user's own that throws a plain Error rejects its input; it is not a bug in run-graph.
      throw this.#error(
        'E_INPUT_TYPE',
        `operation ${qualifiedName(operation)} rejected its input: ${error instanceof Error ? error.message : String(error)}`,
        label,
        'input',
      );
    }
    return this.#addNode(
      operation,
      label,
      plain,
      operationRecordInput(operation, input),
      outputs,
      scope,
      description,
      out,
    );
  }

  /**
   * Position of each node of an `out` list, by uid, extended as the list
   * grows (and rebuilt if it ever shrank): building it anew for every node
   * made assembling a graph quadratic in its size.
   */
  #positionsIn(out: readonly GraphNode[]): ReadonlyMap<Uid, number> {
    let known = this.#positions.get(out);
    if (known === undefined || known.upTo > out.length) {
      known = { index: new Map(), upTo: 0 };
      this.#positions.set(out, known);
    }
    for (; known.upTo < out.length; known.upTo++) known.index.set((out[known.upTo] as GraphNode).uid, known.upTo);
    return known.index;
  }

  #addNode(
    operation: OperationDefinition,
    label: string,
    input: { [field: string]: ResolvedValue },
    recordFields: NodeRecord['input'],
    outputs: { [output: string]: ValueType },
    scope: Scope,
    description: string | undefined,
    out: GraphNode[],
  ): GraphNode {
    const refs: ResolvedRef[] = [];
    const collect = (value: ResolvedValue): void => {
      if (isInputRef(value)) refs.push(value);
      else if (Array.isArray(value)) value.forEach(collect);
      else if (typeof value === 'object' && value !== null && !isFileInput(value))
        Object.values(value).forEach(collect);
    };
    Object.values(input).forEach(collect);
    const depends = [...new Set([...refs.map((r) => r.uid), ...scope.scopeDepends])].sort();
    const record: NodeRecord = { depends, input: recordFields, operation: operationIdentity(operation) };
    let uid: Uid;
    try {
      uid = fingerprint(record, this.#options.knownRecord);
    } catch (error) {
      if (!(error instanceof RunGraphError)) throw error;
      // `$.input.data[0]` -> `input.data[0]`: the field as the node spells it.
      const field = error.location.field?.replace(/^\$\./, '');
      throw this.#error(
        error.code,
        `${error.message.replace(/^value at \$\./, 'value at ')}`,
        label,
        field,
        error.value,
        error.hint,
      );
    }
    // Upstream positions within `out`; references to nodes made earlier (a previous loop iteration) are finished already.
    const position = this.#positionsIn(out);
    const upstream = [...new Set(refs.map((r) => position.get(r.uid)).filter((p): p is number => p !== undefined))];
    const retry = this.#retryPolicy(scope, operation);
    const resources: Resources = resolveResources([...this.#baseResources, operation.resources, ...scope.resources]);
    const node: GraphNode = { label, uid, record, operation, input, outputs, upstream, description, retry, resources };
    out.push(node);
    return node;
  }

  #resolve(
    value: JsonValue,
    field: string,
    label: string,
    scope: Scope,
    entities: Map<string, Entity>,
    out: GraphNode[],
  ): ResolvedValue {
    if (value instanceof NumberList) return value as ResolvedValue;
    if (Array.isArray(value)) {
      // A list of plain values (a literal's numbers) has nothing to resolve: kept, not copied.
      if (value.every(isPlainScalar)) return value;
      return value.map((item, i) => this.#resolve(item, fieldPath(field, i), label, scope, entities, out));
    }
    if (!isObject(value)) return value;
    const ref = value['$ref'];
    const file = value['$file'];
    const input = value['$input'];
    if (typeof ref === 'string') return this.#resolveReference(ref, field, label, entities);
    if (typeof file === 'string') {
      const digested = this.#files.get(file);
      if (digested instanceof RunGraphError) {
        throw new RunGraphError(digested.code, digested.message, {
          ...digested.location,
          node: label,
          field,
          value: file,
          ...(digested.hint === undefined ? {} : { hint: digested.hint }),
          cause: digested,
        });
      }
      return digested as FileInput;
    }
    if (typeof input === 'string') {
      const bound = scope.inputs?.get(input);
      if (bound === undefined) {
        const where =
          scope.inputs === undefined
            ? 'outside a subgraph'
            : `in ${scope.origin}, which has inputs ${[...scope.inputs.keys()].join(', ')}`;
        throw this.#error(
          'E_UNKNOWN_REFERENCE',
          `{"$input": "${input}"} is not an input ${where}`,
          label,
          field,
          input,
        );
      }
      return bound;
    }
    const resolved: { [key: string]: ResolvedValue } = {};
    for (const [key, child] of Object.entries(value))
      resolved[key] = this.#resolve(child, fieldPath(field, key), label, scope, entities, out);
    return resolved;
  }

  #resolveReference(text: string, field: string, label: string, entities: Map<string, Entity>): ResolvedValue {
    const { label: target, output } = splitReference(text);
    const entity = entities.get(target);
    if (entity === undefined)
      throw this.#error('E_UNKNOWN_REFERENCE', `reference to '${target}', which does not exist`, label, field, text);
    if (entity.kind === 'alias') return entity.output(output, field);
    const name = output ?? entity.node.operation.defaultOutput;
    const type = entity.node.outputs[name];
    if (type === undefined) {
      throw this.#error(
        'E_UNKNOWN_OUTPUT',
        `node '${target}' has no output '${name}'`,
        label,
        field,
        `${target}.${name}`,
        `its outputs are: ${Object.keys(entity.node.outputs).join(', ')}`,
      );
    }
    return { [INPUT_KIND]: 'ref', label: entity.node.label, output: name, type, uid: entity.node.uid };
  }

  #alias(label: string, outputs: ReadonlyMap<string, ResolvedValue>): Entity {
    return {
      kind: 'alias',
      label,
      outputNames: () => [...outputs.keys()],
      output: (name, field) => {
        const chosen = name ?? (outputs.size === 1 ? [...outputs.keys()][0] : undefined);
        const value = chosen === undefined ? undefined : outputs.get(chosen);
        if (value === undefined) {
          throw this.#error(
            'E_UNKNOWN_OUTPUT',
            `'${label}' has no output '${name ?? '(default)'}'`,
            label,
            field,
            name,
            `its outputs are: ${[...outputs.keys()].join(', ')}; name one as "${label.split('/').pop() ?? label}.output"`,
          );
        }
        return value;
      },
    };
  }

  /** Assemble one use of a subgraph under `label/`; returns its outputs. */
  #useSubgraph(
    name: string,
    bindings: ReadonlyMap<string, ResolvedValue>,
    outer: Scope,
    label: string,
    out: GraphNode[],
  ): Map<string, ResolvedValue> {
    const spec = this.#subgraphSpec(name, label, 'subgraph');
    const missing = spec.inputs.filter((input) => !bindings.has(input));
    const extra = [...bindings.keys()].filter((input) => !spec.inputs.includes(input));
    if (missing.length > 0 || extra.length > 0) {
      const parts = [
        missing.length > 0 ? `missing ${missing.map((m) => `'${m}'`).join(', ')}` : '',
        extra.length > 0 ? `unknown ${extra.map((m) => `'${m}'`).join(', ')}` : '',
      ].filter((p) => p !== '');
      throw this.#error(
        'E_INPUT_TYPE',
        `inputs of subgraph '${name}' do not match: ${parts.join('; ')}`,
        label,
        'input',
        undefined,
        `it takes ${spec.inputs.join(', ') || 'no inputs'}`,
      );
    }
    const scope: Scope = {
      prefix: `${label}/`,
      inputs: bindings,
      scopeDepends: outer.scopeDepends,
      origin: `subgraph '${name}'`,
      retry: outer.retry,
      resources: outer.resources,
    };
    const entities = this.#assembleScope(spec.nodes, scope, out);
    const outputs = new Map<string, ResolvedValue>();
    for (const [output, value] of Object.entries(spec.outputs)) {
      outputs.set(output, this.#resolve(value, `outputs.${output}`, `${label}/(outputs)`, scope, entities, out));
    }
    return outputs;
  }

  /** `scope` is where the map is; `members` the same with the map node's own resources, which its members take. */
  #map(
    localLabel: string,
    spec: MapSpec,
    scope: Scope,
    members: Scope,
    entities: Map<string, Entity>,
    out: GraphNode[],
    resolveValue: (value: JsonValue, field: string) => ResolvedValue,
  ): void {
    const label = scope.prefix + localLabel;
    const over = resolveValue(spec.over, 'map.over');
    const shared = new Map(Object.entries(spec.input ?? {}).map(([k, v]) => [k, resolveValue(v, `map.input.${k}`)]));
    if (shared.has(spec.as))
      throw this.#error(
        'E_INPUT_TYPE',
        `map.input binds '${spec.as}', which "as" gives each member`,
        label,
        `map.input.${spec.as}`,
      );
    let memberValues: ResolvedValue[];
    if (Array.isArray(over)) {
      memberValues = over;
    } else if (
      isInputRef(over) &&
      over.type.kind === 'array' &&
      over.type.shape !== null &&
      over.type.shape.length > 0
    ) {
      const count = over.type.shape[0] ?? 0;
      memberValues = Array.from({ length: count }, (_, i) => {
        const element = this.#operationNode(
          indexOperation,
          `${label}/element[${i}]`,
          { array: over, index: i },
          scope,
          undefined,
          out,
        );
        return {
          [INPUT_KIND]: 'ref',
          label: element.label,
          output: 'result',
          type: element.outputs['result'] as ValueType,
          uid: element.uid,
        } satisfies ResolvedRef;
      });
    } else {
      const got = isInputRef(over)
        ? `a reference to '${over.label}.${over.output}' (${describeType(over.type)})`
        : describeValue(over);
      throw this.#error(
        'E_INPUT_TYPE',
        `map needs a list, or an array whose leading dimension is known before the run; got ${got}`,
        label,
        'map.over',
        undefined,
        'a subprocess .npy output has no known shape: map over a list, or over an array built by a transform',
      );
    }
    const memberOutputs: Map<string, ResolvedValue>[] = memberValues.map((member, i) => {
      const memberLabel = `${localLabel}[${i}]`;
      const bindings = new Map([...shared, [spec.as, member]]);
      if (spec.subgraph !== undefined) {
        const outputs = this.#useSubgraph(spec.subgraph, bindings, members, scope.prefix + memberLabel, out);
        entities.set(memberLabel, this.#alias(scope.prefix + memberLabel, outputs));
        return outputs;
      }
      const operation = this.#operation(spec.operation ?? '', label);
      const node = this.#operationNode(
        operation,
        scope.prefix + memberLabel,
        Object.fromEntries(bindings),
        members,
        undefined,
        out,
      );
      entities.set(memberLabel, { kind: 'node', node });
      return new Map(
        Object.entries(node.outputs).map(([name, type]) => [
          name,
          {
            [INPUT_KIND]: 'ref',
            label: node.label,
            output: name,
            type,
            uid: node.uid,
          } satisfies ResolvedRef as ResolvedValue,
        ]),
      );
    });
    // The map's own outputs are gathers, made once and only when referenced.
    const gathers = new Map<string, ResolvedValue>();
    const names = memberOutputs[0] === undefined ? [] : [...memberOutputs[0].keys()];
    entities.set(localLabel, {
      kind: 'alias',
      label,
      outputNames: () => names,
      output: (name, field) => {
        const chosen =
          name ??
          (spec.operation !== undefined
            ? this.#operation(spec.operation, label).defaultOutput
            : names.length === 1
              ? names[0]
              : undefined);
        if (chosen === undefined || !names.includes(chosen)) {
          throw this.#error(
            'E_UNKNOWN_OUTPUT',
            `map '${localLabel}' has no output '${name ?? '(default)'}'`,
            label,
            field,
            name,
            `its members' outputs are: ${names.join(', ')}`,
          );
        }
        let gathered = gathers.get(chosen);
        if (gathered === undefined) {
          const arrays = memberOutputs.map((outputs) => outputs.get(chosen) as ResolvedValue);
          const node = this.#operationNode(
            stackOperation,
            `${label}/gather(${chosen})`,
            { arrays },
            scope,
            `the members' ${chosen}, stacked`,
            out,
          );
          gathered = {
            [INPUT_KIND]: 'ref',
            label: node.label,
            output: 'result',
            type: node.outputs['result'] as ValueType,
            uid: node.uid,
          } satisfies ResolvedRef;
          gathers.set(chosen, gathered);
        }
        return gathered;
      },
    });
  }

  #while(
    label: string,
    spec: WhileSpec,
    scope: Scope,
    description: string | undefined,
    out: GraphNode[],
    resolveValue: (value: JsonValue, field: string) => ResolvedValue,
  ): GraphNode {
    const state = new Map(Object.entries(spec.state).map(([k, v]) => [k, resolveValue(v, `while.state.${k}`)]));
    const stateTypes = new Map([...state].map(([k, v]) => [k, typeOfValue(v, label, `while.state.${k}`)]));
    const body = this.#subgraphSpec(spec.subgraph, label, 'while.subgraph');
    const until = this.#subgraphSpec(spec.until, label, 'while.until');

    // Iteration 0, assembled and dropped: its types decide whether the loop can run at all.
    const checkCondition = this.instantiate(spec.until, state, `${label}#0/until/`, scope.scopeDepends);
    const stop = checkCondition.outputs.get(spec.stopWhen);
    if (stop === undefined) {
      throw this.#error(
        'E_UNKNOWN_OUTPUT',
        `condition subgraph '${spec.until}' has no output '${spec.stopWhen}'`,
        label,
        'while.stopWhen',
        spec.stopWhen,
        `its outputs are: ${Object.keys(until.outputs).join(', ')}`,
      );
    }
    const stopType = typeOfValue(stop, label, 'while.stopWhen');
    if (!isBooleanType(stopType)) {
      throw this.#error(
        'E_INPUT_TYPE',
        `the loop condition '${spec.until}.${spec.stopWhen}' is a ${describeType(stopType)}, not a boolean`,
        label,
        'while.stopWhen',
        undefined,
        'end the condition subgraph with run-graph.All or run-graph.Compare, or output a JSON true/false',
      );
    }
    const checkBody = this.instantiate(spec.subgraph, state, `${label}#0/`, scope.scopeDepends);
    for (const [name, type] of stateTypes) {
      const next = checkBody.outputs.get(name);
      if (next === undefined) {
        throw this.#error(
          'E_INPUT_TYPE',
          `loop body '${spec.subgraph}' does not output '${name}', which the next iteration needs as its input`,
          label,
          'while.subgraph',
          name,
          `its outputs are: ${Object.keys(body.outputs).join(', ') || 'none'}`,
        );
      }
      const nextType = typeOfValue(next, label, `outputs.${name}`);
      if (!typesCompatible(type, nextType)) {
        throw this.#error(
          'E_INPUT_TYPE',
          `loop body '${spec.subgraph}' outputs '${name}' as a ${describeType(nextType)}, but the state starts as a ${describeType(type)}`,
          label,
          `while.state.${name}`,
        );
      }
    }
    const extraInputs = body.inputs.filter((input) => !state.has(input));
    if (extraInputs.length > 0)
      throw this.#error(
        'E_INPUT_TYPE',
        `loop body '${spec.subgraph}' takes ${extraInputs.join(', ')}, which the loop state does not hold`,
        label,
        'while.state',
      );

    const outputs: { [name: string]: ValueType } = {};
    for (const [name, type] of stateTypes) {
      const next = typeOfValue(checkBody.outputs.get(name) as ResolvedValue, label, name);
      outputs[name] =
        type.kind === 'array' && next.kind === 'array' && type.dtype !== next.dtype ? { ...type, dtype: null } : type;
    }
    const stateFields = Object.fromEntries(state);
    const input = {
      state: stateFields,
      subgraph: spec.subgraph,
      until: spec.until,
      stopWhen: spec.stopWhen,
      maxIterations: spec.maxIterations,
      onMaxIterations: spec.onMaxIterations ?? 'fail',
    };
    // The record holds the subgraphs themselves, files by content, so editing a body re-runs the loop.
    const recordFields: NodeRecord['input'] = {
      ...recordInput({ state: stateFields }),
      body: this.#subgraphRecord(body),
      until: this.#subgraphRecord(until),
      stopWhen: spec.stopWhen,
      maxIterations: spec.maxIterations,
      onMaxIterations: spec.onMaxIterations ?? 'fail',
    };
    return this.#addNode(whileOperation, label, input, recordFields, outputs, scope, description, out);
  }

  /** A subgraph as a record holds it: its JSON, each `$file` replaced by the file's digest, nested subgraphs inlined. */
  #subgraphRecord(spec: SubgraphSpec, seen: ReadonlySet<SubgraphSpec> = new Set()): JsonValue {
    const nested = new Set(seen).add(spec);
    const convert = (value: JsonValue): JsonValue => {
      if (Array.isArray(value)) return value.map(convert);
      if (!isObject(value)) return value;
      const file = value['$file'];
      if (typeof file === 'string') {
        const digest = this.#files.get(file);
        if (digest === undefined || digest instanceof RunGraphError)
          throw digest ?? new RunGraphError('E_FILE_INPUT', `file input '${file}' was not digested`);
        return fileRecord(digest);
      }
      const out: { [key: string]: JsonValue } = {};
      for (const [key, child] of Object.entries(value)) {
        const sub =
          (key === 'subgraph' || key === 'until') && typeof child === 'string'
            ? this.#spec.subgraphs?.[child]
            : undefined;
        out[key] =
          sub !== undefined && !nested.has(sub)
            ? { name: child, definition: this.#subgraphRecord(sub, nested) }
            : convert(child);
      }
      return out;
    };
    // Resources are execution policy: a loop body's nodes enter the loop's record without them.
    const nodes = spec.nodes.map(({ resources: _policy, ...node }) => node);
    return convert({ inputs: spec.inputs, outputs: spec.outputs, nodes: nodes as unknown as JsonValue });
  }
}
