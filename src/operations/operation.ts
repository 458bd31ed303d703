/**
 * What an operation is to the engine: a name and version (its identity), a
 * static check that turns input types into output types before anything
 * runs, and a `run` that turns input values into output values inside the
 * node's own store directory.
 *
 * Inputs are JSON trees in which references to upstream outputs and files of
 * the workflow's own directory appear as objects of their own (`InputRef`,
 * `FileInput`), so an operation can accept a reference anywhere: a field, a
 * list element, an argument of a command line.
 */
import type { RetrySettings } from './retry-policy.js';
import type { JsonValue } from '../identity/canonical-json.js';
import type { JsonFloat } from '../identity/json-numbers.js';
import type { CheckpointFacility } from '../store/checkpoint.js';
import type { ProcessGroupPlace } from '../store/process-group.js';
import type { ArtifactEntry, ResourceUsage } from '../store/metadata.js';
import type { Uid } from '../identity/fingerprint.js';
import type { ArrayValue, Dtype } from '../values/npy.js';
import type { ValueType } from '../values/values.js';
import type { ResourceLayer } from './resources.js';

/**
 * Marks the objects that stand for references and files inside an input
 * tree. A symbol, so no JSON a user writes can ever be mistaken for one; a
 * registered one (`Symbol.for`), so an operation module that imports another
 * copy of run-graph than the CLI running it still recognises references.
 */
export const INPUT_KIND: unique symbol = Symbol.for('run-graph.input-kind') as typeof INPUT_KIND;

/** An upstream output as the static checker sees it. */
export interface TypedRef {
  readonly [INPUT_KIND]: 'ref';
  readonly label: string;
  readonly output: string;
  readonly type: ValueType;
}

/** An upstream output at run time: its committed artifact, loaded on demand. */
export interface ArtifactRef extends TypedRef {
  readonly uid: Uid;
  /** Absolute path of the artifact file. */
  readonly path: string;
  /** The array the artifact holds; fails the node if it is not an array. */
  array(): Promise<ArrayValue>;
  /** The JSON value the artifact holds; fails the node if it is not JSON. */
  json(): Promise<JsonValue>;
  /** The array chunk by chunk: a stream's chunks, or a plain array as one chunk. Never more than one chunk in memory. */
  chunks(): AsyncIterable<ArrayValue>;
}

/** A file of the workflow's own directory (`{"$file": "scripts/x.py"}`), hashed by content. */
export interface FileInput {
  readonly [INPUT_KIND]: 'file';
  /** The path as written in the workflow. */
  readonly given: string;
  /** Absolute path. */
  readonly path: string;
  /** sha256 of the file's content when the graph was built: of the whole file, or for an `.npy` of its data bytes (as `npy.dataSha256`). */
  readonly sha256: string;
  readonly size: number;
  /** Set when the file is a readable `.npy`: its array's type and the digest of its data bytes. */
  readonly npy?: { readonly dtype: Dtype; readonly shape: number[]; readonly dataSha256: string };
}

/** A reference as the checker resolved it, with the upstream uid for the record. */
export interface ResolvedRef extends TypedRef {
  readonly uid: Uid;
}

/** A JSON tree in which references appear as `R` and files as `FileInput`. */
export type InputTree<R> =
  | null
  | boolean
  | number
  | bigint
  | JsonFloat
  | string
  | R
  | FileInput
  | InputTree<R>[]
  | { [key: string]: InputTree<R> };

export type CheckInput = { [field: string]: InputTree<TypedRef> };
export type RunInput = { [field: string]: InputTree<ArtifactRef> };

export type { OperationOutputs, OutputValue } from '../store/outputs.js';
import type { OperationOutputs } from '../store/outputs.js';

/** What a running operation may use. */
export interface OperationContext {
  /** Absolute path of the node's store directory; files an operation writes belong here. */
  readonly storeDir: string;
  /** Aborted when the run is interrupted; long operations should stop at a safe point. */
  readonly signal: AbortSignal;
  readonly label: string;
  readonly uid: Uid;
  /**
   * Durable intermediate state: `write(state)` publishes it, `load()` returns
   * the last state published by an earlier, interrupted attempt (or
   * undefined). An operation that checkpoints resumes where it left off.
   */
  readonly checkpoint: CheckpointFacility;
  /** Streaming operations only: the index of the first chunk to produce (earlier ones are durable already). */
  readonly resumeAtChunk?: number;
  /** Given to control operations (loops) only: assembling and running the nodes they generate. */
  readonly control?: ControlContext;
  /**
   * This attempt: its number in the node's store (1 for the first, counting
   * failed attempts of earlier runs) and a directory of its own inside the
   * store for scratch files, which is kept, with its files, if the attempt
   * fails (`run-graph logs` reads a subprocess's stdout and stderr there).
   * The directory does not exist yet. Absent outside the engine.
   */
  readonly attempt?: { readonly number: number; readonly dir: string };
  /** Where an operation that starts processes reports them (see ProcessReporter). Absent outside the engine. */
  readonly processes?: ProcessReporter;
  /**
   * The GPU devices this attempt holds, by the ids CUDA_VISIBLE_DEVICES
   * names them with, when the run counts GPUs and the node asks for some
   * (`resources.gpus`). A Subprocess gets them in CUDA_VISIBLE_DEVICES.
   */
  readonly gpus?: readonly string[];
}

/**
 * What an operation that starts a process group tells the engine: the
 * group is recorded in the store while it runs, so that whoever takes the
 * store over after a crash kills what is left of it (the launcher, which
 * starts commands, kills it if this process dies); and what the process used, recorded in the metadata.
 */
export interface ProcessReporter {
  /** Process group `pgid` (its leader's pid) started; resolves once it is recorded. */
  started(pgid: number): Promise<void>;
  /** The group's leader exited and was waited for. */
  ended(pgid: number): void;
  /** CPU time and peak memory of the process, for the store's metadata. */
  usage(usage: ResourceUsage): void;
  /**
   * Where the store records a group, for a launcher that writes and removes
   * the record itself (operations/launcher.ts): a group it recorded needs
   * no `started` or `ended`.
   */
  readonly recordAt?: ProcessGroupPlace;
}

/** What a control operation (a loop) can do besides computing: make nodes and run them. */
export interface ControlContext {
  /**
   * Assemble one use of a subgraph with its inputs bound (labels get
   * `prefix`, records depend on `scopeDepends` too), build its nodes
   * (committed ones are reused) and wait for them. Resolves to the
   * subgraph's outputs by name; throws if a node fails or the run is
   * interrupted.
   */
  runSubgraph(
    subgraph: string,
    bindings: ReadonlyMap<string, InputTree<ResolvedRef>>,
    prefix: string,
    scopeDepends: readonly Uid[],
  ): Promise<ReadonlyMap<string, InputTree<ResolvedRef>>>;
  /** The committed artifact an output reference names, with its absolute path. */
  artifact(ref: ResolvedRef): { path: string; entry: ArtifactEntry };
  /** Report progress: iteration `iteration` was checked, and the condition said `stop`. */
  progress(iteration: number, stop: boolean): void;
}

/** Where a check is happening, for error messages. */
export interface CheckSite {
  readonly file: string | undefined;
  readonly node: string;
}

export interface OperationDefinition {
  readonly namespace: string;
  readonly name: string;
  /**
   * Implementation version, part of every uid made with this operation. Bump
   * it when the results of the code change. Left out only by SCALE-MS's pure
   * data operations, whose records keep the plain `[namespace, name]` form.
   */
  readonly version?: string;
  /**
   * URL of an ES module that exports this operation (`import.meta.url` in
   * the module that defines it). With it, the operation runs in a worker
   * thread, and the main thread stays free for lock heartbeats and I/O.
   * Default: it runs on the main thread.
   */
  readonly module?: string;
  /**
   * The operation's work grows with the size of its input and nothing else
   * (elementwise arithmetic, a reduction, a concatenation). Then, given a
   * small input, it runs on the main thread even though it names its
   * module: a worker-thread round trip would cost more than the work.
   * Default false: an operation of unknown cost always goes to a thread.
   */
  readonly inlineSmallInputs?: boolean;
  /** One line for `--help` and error hints. */
  readonly summary: string;
  /**
   * Retry policy of every node that uses the operation, unless the node or
   * an enclosing subgraph use sets its own (see retry-policy.ts). Not part of
   * the uid. Default: the workflow's defaults, else no retries.
   */
  readonly retryDefaults?: RetrySettings;
  /**
   * A streaming operation names its streamed output here, and its `run` is
   * an async generator of array chunks (from `context.resumeAtChunk` on).
   * Its other outputs, if any, are not supported.
   */
  readonly stream?: string;
  /** The output a bare reference (`{"$ref": "label"}`) means. */
  readonly defaultOutput: string;
  /**
   * A control operation makes and runs other nodes (a loop). It gets a
   * `control` context, holds no job slot while it waits, and its records
   * are assembled by run-graph itself. Default false.
   */
  readonly control?: boolean;
  /**
   * Inputs whose literal numbers the record writes by dtype, whatever their
   * spelling: every number of a `float64` input as a float (`1` as `1.0`),
   * of an `int64` input as an exact integer. So `[[1, 2.5]]` and
   * `[[1.0, 2.5]]` given to Float64 are one node, as in SCALE-MS. Default:
   * none; numbers enter the record as the workflow spells them.
   */
  readonly literalDtypes?: { readonly [field: string]: 'int64' | 'float64' };
  /**
   * `check` and `run` take a long literal list of a `literalDtypes` field as
   * the NumberList the workflow file's reader keeps it as (its text, read
   * into a typed array only when needed), rather than as millions of
   * values. Default false: the list is given as values.
   */
  readonly literalListsKept?: boolean;
  /**
   * What one execution needs unless the workflow says otherwise (a node's
   * own resources and those of the subgraph or map around it win). Not
   * part of the uid. Default: nothing declared (1 cpu, no limits).
   */
  readonly resources?: ResourceLayer;
  /** Check literal inputs and upstream types; return the type of every output. Throws RunGraphError naming the field. */
  check(input: CheckInput, site: CheckSite): { [output: string]: ValueType };
  run(input: RunInput, context: OperationContext): Promise<OperationOutputs> | AsyncIterable<ArrayValue>;
}

/** `namespace.name`, the form a workflow file names an operation by. */
export function qualifiedName(op: Pick<OperationDefinition, 'namespace' | 'name'>): string {
  return `${op.namespace}.${op.name}`;
}

/** The `operation` part of a record: `[namespace, name]` or `[namespace, name, version]`. */
export function operationIdentity(op: OperationDefinition): string[] {
  return op.version === undefined ? [op.namespace, op.name] : [op.namespace, op.name, op.version];
}

function inputKind(value: unknown): 'ref' | 'file' | undefined {
  return typeof value === 'object' && value !== null
    ? (value as { [INPUT_KIND]?: 'ref' | 'file' })[INPUT_KIND]
    : undefined;
}

export function isInputRef<R extends TypedRef>(value: InputTree<R>): value is R {
  return inputKind(value) === 'ref';
}

export function isFileInput<R>(value: InputTree<R>): value is FileInput {
  return inputKind(value) === 'file';
}
