/**
 * Graphs from code. A `GraphBuilder` collects nodes the way a workflow file
 * lists them, but with typed handles: the handle `add` returns stands for the
 * node's default output, `handle.output(name)` for a named one, and passing
 * a handle of the wrong type to a typed operation is a compile error.
 *
 *     const g = new GraphBuilder();
 *     const m = g.add('matrix', integer64, { data: [[1, 2], [3, 4]] });
 *     const d = g.add('doubled', add, { a: m.output('data'), b: m });
 *     const run = await g.run(context);
 *
 * `toWorkflowSpec()` is exactly the JSON a workflow file holds, so the same
 * graph run by the CLI from a file gets the same uids.
 */
import { join } from 'node:path';
import { makeArtifactRef } from '../operations/artifact-ref.js';
import { assertPlainJson, type JsonValue } from '../identity/canonical-json.js';
import { isJsonFloat, type JsonFloat } from '../identity/json-numbers.js';
import type { RunOptions, RunSummary, WorkerContext } from '../engine/worker-context.js';
import { RunGraphError, assertNever, describeValue } from '../errors.js';
import type { Uid } from '../identity/fingerprint.js';
import type { ArrayValue } from '../values/npy.js';
import type { TypedOperationDefinition } from '../operations/define.js';
import { INPUT_KIND, qualifiedName, type OperationDefinition } from '../operations/operation.js';
import {
  inputPortValue,
  type AcceptedDtype,
  type FileLiteral,
  type InputFile,
  type InputValue,
  type LiteralInput,
  type PortDeclaration,
  type PortDeclarations,
} from '../operations/ports.js';
import { BUILTIN_OPERATIONS, OperationRegistry } from '../operations/registry.js';
import type { ResourcesSpec } from '../operations/resources.js';
import { checkRetrySettings, type RetrySettings } from '../operations/retry-policy.js';
import type { ArtifactEntry } from '../store/metadata.js';
import { buildGraph, type ConcreteGraph, type GraphNode } from '../workflow/graph.js';
import type { WorkflowNodeSpec, WorkflowSpec } from '../workflow/load.js';

const REF = Symbol('run-graph graph-builder reference');
declare const portType: unique symbol;

/** The port type of an output of an operation that declares no port types (the built-in ones). */
export interface UntypedPort {
  // `any` on purpose: an untyped output may feed any input, and the static check of the graph decides.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly dtype: any;
}

/** An output of a node in a builder: what an input may reference. `P` is the output's port type. */
export interface OutputRef<P = UntypedPort> {
  readonly [REF]: { readonly builder: GraphBuilder; readonly label: string; readonly output: string | undefined };
  /** Type only: never set. */
  readonly [portType]?: P;
}

/** A node added to a builder: a reference to its default output, and the way to its named outputs. */
export interface NodeHandle<
  O extends { readonly [name: string]: unknown } = { readonly [name: string]: UntypedPort },
  D extends keyof O = keyof O,
> extends OutputRef<O[D]> {
  readonly label: string;
  /** A named output. */
  output<K extends keyof O & string>(name: K): OutputRef<O[K]>;
}

/** A value an input of an untyped operation may hold: JSON, references and files, nested at will. */
export type UntypedInputValue =
  | null
  | boolean
  | number
  | bigint
  | JsonFloat
  | string
  | OutputRef<unknown>
  | FileLiteral
  | UntypedInputValue[]
  | { [key: string]: UntypedInputValue };

type OptionalKeys<T extends PortDeclarations> = {
  [K in keyof T]: T[K] extends { readonly optional: true } ? K : never;
}[keyof T];
type RequiredKeys<T extends PortDeclarations> = Exclude<keyof T, OptionalKeys<T>>;

/** What one typed input accepts: a literal of its dtype and shape, or a reference to an output of an accepted dtype. */
export type BuilderInput<P extends PortDeclaration> =
  LiteralInput<P> | OutputRef<{ readonly dtype: AcceptedDtype<P['dtype']> }>;

/** The inputs of a typed operation as a builder takes them. */
export type BuilderInputs<I extends PortDeclarations> = { [K in RequiredKeys<I>]: BuilderInput<I[K]> } & {
  [K in OptionalKeys<I>]?: BuilderInput<I[K]>;
};

/** The input type `add` takes for an operation. */
export type InputsFor<Op> =
  Op extends TypedOperationDefinition<infer I, infer _O, infer _D>
    ? BuilderInputs<I>
    : { [field: string]: UntypedInputValue };

/** The handle type `add` returns for an operation. */
export type HandleFor<Op> =
  Op extends TypedOperationDefinition<infer _I, infer O, infer D> ? NodeHandle<O, D> : NodeHandle;

/** What reading an output gives: the declared value for a typed output; an array, JSON or a file for an untyped one. */
export type OutputReadValue<P> = 0 extends 1 & (P extends { readonly dtype: infer D } ? D : never)
  ? ArrayValue | JsonValue | InputFile
  : P extends PortDeclaration
    ? InputValue<P>
    : ArrayValue | JsonValue | InputFile;

/** A `$file` input: a file beside the workflow (relative to `baseDir` when built), hashed by content. */
export function fileInput(path: string): FileLiteral {
  if (typeof path !== 'string' || path === '')
    throw new RunGraphError('E_USAGE', `fileInput: expected a non-empty path, got ${describeValue(path)}`, {
      value: path,
    });
  return { $file: path };
}

const LABEL = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function isRef(value: unknown): value is OutputRef<unknown> {
  return typeof value === 'object' && value !== null && REF in value;
}

/** How `build` and `run` make the concrete graph. */
export interface BuildOptions {
  /** Directory `$file` inputs are relative to. Default: the current directory. */
  baseDir?: string;
  /** Registry to check against. Default: the built-in operations plus every operation added. */
  registry?: OperationRegistry;
}

/** What `toWorkflowSpec` adds besides the nodes. */
export interface ToWorkflowOptions {
  /** Operation modules the workflow file names (`"operations"`), relative to where the file will be. Default: none. */
  operations?: string[];
  /** Default: none. */
  description?: string;
}

/**
 * How a node runs, beside what it computes: as in a workflow file, none of
 * it enters the node's uid. `resources` (cores, memory, the time limit of
 * one attempt, GPUs, Slurm options) and `retries`/`backoff` override the
 * operation's own settings. The retry policy is checked as the node is
 * added, the resources when the graph is built.
 */
export interface NodeOptions extends RetrySettings {
  description?: string;
  resources?: ResourcesSpec;
}

interface BuilderNode {
  label: string;
  operation: OperationDefinition;
  input: { [field: string]: JsonValue };
  options: NodeOptions;
}

/** Collects nodes with typed handles; builds them into a concrete graph or a workflow file's JSON. */
export class GraphBuilder {
  readonly #nodes: BuilderNode[] = [];
  readonly #labels = new Set<string>();

  /**
   * Add a node. Labels are unique names within the graph (letters, digits,
   * '_' and '-'); they never enter a uid. For a typed operation the input is
   * checked by the compiler; every input is checked again when the graph is
   * built. `options` say how it runs (NodeOptions).
   */
  add<Op extends OperationDefinition>(
    label: string,
    operation: Op,
    input: InputsFor<Op>,
    options: NodeOptions = {},
  ): HandleFor<Op> {
    if (typeof label !== 'string' || !LABEL.test(label)) {
      throw new RunGraphError(
        'E_USAGE',
        `label must start with a letter or '_' and hold only letters, digits, '_' and '-', got ${describeValue(label)}`,
        { value: label, field: 'label' },
      );
    }
    if (this.#labels.has(label))
      throw new RunGraphError('E_DUPLICATE_LABEL', `label '${label}' is already used in this graph`, {
        node: label,
        value: label,
      });
    if (typeof operation !== 'object' || operation === null || typeof operation.run !== 'function') {
      throw new RunGraphError('E_USAGE', `node '${label}': expected an operation, got ${describeValue(operation)}`, {
        node: label,
        field: 'operation',
      });
    }
    checkRetrySettings(
      options,
      '',
      (field, message, value) =>
        new RunGraphError('E_USAGE', `node '${label}': ${message}`, { node: label, field, value }),
    );
    const json: { [field: string]: JsonValue } = {};
    for (const [field, value] of Object.entries(input as object))
      json[field] = this.#serialize(value as unknown, label, `input.${field}`);
    this.#nodes.push({ label, operation, input: json, options: { ...options } });
    this.#labels.add(label);
    return this.#handle(label) as HandleFor<Op>;
  }

  #handle(label: string): NodeHandle {
    return {
      [REF]: { builder: this, label, output: undefined },
      label,
      // An arrow function, so `this` is the builder whoever calls it.
      output: (name: string) => {
        if (typeof name !== 'string' || name === '')
          throw new RunGraphError(
            'E_USAGE',
            `node '${label}': output name must be a non-empty string, got ${describeValue(name)}`,
            { node: label },
          );
        return { [REF]: { builder: this, label, output: name } };
      },
    };
  }

  /** An input value as a workflow file holds it: references become `{"$ref": "label[.output]"}`. */
  #serialize(value: unknown, label: string, field: string): JsonValue {
    if (isRef(value)) {
      const ref = value[REF];
      if (ref.builder !== this)
        throw new RunGraphError('E_UNKNOWN_REFERENCE', `reference to node '${ref.label}' of another GraphBuilder`, {
          node: label,
          field,
          value: ref.label,
        });
      return { $ref: ref.output === undefined ? ref.label : `${ref.label}.${ref.output}` };
    }
    if (Array.isArray(value)) return value.map((item, i) => this.#serialize(item, label, `${field}[${i}]`));
    if (typeof value === 'object' && value !== null && !isJsonFloat(value)) {
      const keys = Object.keys(value);
      if (keys.length === 1 && keys[0] === '$file' && typeof (value as FileLiteral).$file === 'string')
        return { $file: (value as FileLiteral).$file };
      if ('$ref' in value || '$file' in value) {
        throw new RunGraphError('E_USAGE', `a literal object with "$ref" or "$file" in a builder input`, {
          node: label,
          field,
          hint: 'pass a node handle (or handle.output(name)) or fileInput(path)',
        });
      }
      const out: { [key: string]: JsonValue } = {};
      for (const [key, child] of Object.entries(value)) out[key] = this.#serialize(child, label, `${field}.${key}`);
      return out;
    }
    try {
      assertPlainJson(value, field);
    } catch (error) {
      throw new RunGraphError('E_NOT_CANONICAL', `${describeValue(value)} is not plain JSON`, {
        node: label,
        field,
        value,
        cause: error,
      });
    }
    return value;
  }

  /** The graph as a workflow file holds it (`formatJson` it to write the file: `JSON.stringify` cannot write a bigint). */
  toWorkflowSpec(options: ToWorkflowOptions = {}): WorkflowSpec {
    const nodes: WorkflowNodeSpec[] = this.#nodes.map(({ label, operation, input, options }) => ({
      label,
      operation: qualifiedName(operation),
      input,
      ...(options.description === undefined ? {} : { description: options.description }),
      ...(options.resources === undefined ? {} : { resources: options.resources }),
      ...(options.retries === undefined ? {} : { retries: options.retries }),
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    }));
    return {
      ...(options.description === undefined ? {} : { description: options.description }),
      ...(options.operations === undefined ? {} : { operations: [...options.operations] }),
      nodes,
    };
  }

  /** The built-in operations plus every operation added; two different operations with one name are an error. */
  registry(): OperationRegistry {
    const registry = new OperationRegistry(BUILTIN_OPERATIONS);
    const seen = new Map<string, { op: OperationDefinition; label: string }>();
    for (const node of this.#nodes) {
      const key = qualifiedName(node.operation);
      const builtin = registry.get(key);
      const earlier = seen.get(key);
      if (builtin === node.operation || earlier?.op === node.operation) continue;
      if (builtin !== undefined || earlier !== undefined) {
        throw new RunGraphError(
          'E_DUPLICATE_OPERATION',
          `operation ${key} is defined twice: node '${node.label}' uses another definition than ${earlier === undefined ? 'the built-in one' : `node '${earlier.label}'`}`,
          {
            node: node.label,
            value: key,
            hint: 'give your operation its own namespace',
          },
        );
      }
      registry.register(node.operation);
      seen.set(key, { op: node.operation, label: node.label });
    }
    return registry;
  }

  /** Check the graph and give every node its uid. */
  async build(options: BuildOptions = {}): Promise<ConcreteGraph> {
    return buildGraph(this.toWorkflowSpec(), {
      registry: options.registry ?? this.registry(),
      ...(options.baseDir === undefined ? {} : { baseDir: options.baseDir }),
    });
  }

  /** Build and run the graph in a WorkerContext; the result reads outputs back as typed values. */
  async run(context: WorkerContext, options: RunOptions & BuildOptions = {}): Promise<GraphRun> {
    const graph = await this.build(options);
    const summary = await context.run(graph, options.signal === undefined ? {} : { signal: options.signal });
    return new GraphRun(this, graph, summary, context.layout.storeDir.bind(context.layout));
  }

  /** @internal The label and output a reference of this builder names. */
  resolve(ref: OutputRef<unknown>): { label: string; output: string | undefined } {
    const target = ref[REF];
    if (target.builder !== this)
      throw new RunGraphError('E_UNKNOWN_REFERENCE', `reference to node '${target.label}' of another GraphBuilder`, {
        value: target.label,
      });
    return { label: target.label, output: target.output };
  }
}

/** A finished run of a builder's graph: its summary, and the values of its outputs. */
export class GraphRun {
  readonly graph: ConcreteGraph;
  readonly summary: RunSummary;
  readonly #builder: GraphBuilder;
  readonly #storeDir: (uid: Uid) => string;

  constructor(builder: GraphBuilder, graph: ConcreteGraph, summary: RunSummary, storeDir: (uid: Uid) => string) {
    this.#builder = builder;
    this.graph = graph;
    this.summary = summary;
    this.#storeDir = storeDir;
  }

  #node(ref: OutputRef<unknown>): { node: GraphNode; output: string } {
    const { label, output } = this.#builder.resolve(ref);
    const node = this.graph.byLabel.get(label);
    if (node === undefined)
      throw new RunGraphError('E_UNKNOWN_NODE', `no node labelled '${label}' in this run`, { node: label });
    return { node, output: output ?? node.operation.defaultOutput };
  }

  /** The uid of the node a reference points into. */
  uid(ref: OutputRef<unknown>): Uid {
    return this.#node(ref).node.uid;
  }

  /** The committed artifact of an output; E_NOT_COMMITTED if its node did not finish. */
  artifact(ref: OutputRef<unknown>): ArtifactEntry & { absolutePath: string } {
    const { node, output } = this.#node(ref);
    const metadata = this.summary.results.get(node.label);
    if (metadata === undefined) {
      const failure = this.summary.failures.find((f) => f.label === node.label);
      throw new RunGraphError(
        'E_NOT_COMMITTED',
        `node '${node.label}' did not finish${failure === undefined ? '' : `: ${failure.error.message}`}`,
        { node: node.label },
      );
    }
    const artifact = metadata.artifacts[output];
    if (artifact === undefined)
      throw new RunGraphError('E_UNKNOWN_ARTIFACT', `node '${node.label}' has no output '${output}'`, {
        node: node.label,
        value: output,
      });
    return { ...artifact, absolutePath: join(this.#storeDir(node.uid), artifact.path) };
  }

  /** The value of an output, typed by its declaration: what a downstream operation would receive. */
  async value<P>(ref: OutputRef<P>): Promise<OutputReadValue<P>> {
    const { node, output } = this.#node(ref);
    const artifact = this.artifact(ref);
    const source = makeArtifactRef(
      { [INPUT_KIND]: 'ref', label: node.label, output, type: node.outputs[output] ?? { kind: 'json' }, uid: node.uid },
      artifact,
      this.#storeDir(node.uid),
      node.label,
    );
    const port = (node.operation as Partial<TypedOperationDefinition>).outputs?.[output];
    // A typed output reads through the same conversion a typed input uses, so the value has the declared form.
    if (port !== undefined)
      return (await inputPortValue(port, source, {
        node: node.label,
        field: `outputs.${output}`,
      })) as OutputReadValue<P>;
    switch (artifact.kind) {
      case 'array':
      case 'stream':
        return (await source.array()) as OutputReadValue<P>;
      case 'json':
        return (await source.json()) as OutputReadValue<P>;
      case 'file':
        return { kind: 'file', path: source.path } as OutputReadValue<P>;
      default:
        return assertNever(artifact.kind, 'artifact kind');
    }
  }
}
