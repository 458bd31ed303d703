/**
 * The shared result cache: a client submits a concrete record whose input is
 * all literal data; if a committed store with its uid exists, the answer is
 * that store at once; otherwise the record is checked exactly as a workflow
 * node would be, queued, and built off the request path by a WorkerContext
 * running a one-node graph, while the client long-polls `GET
 * /v1/builds/:uid` (or watches `/v1/events`). Everything is checked before
 * anything is written: a rejected submission leaves the working directory
 * untouched.
 */
import type { JsonValue } from '../identity/canonical-json.js';
import { toEventError, WorkerContext } from '../engine/worker-context.js';
import { RunGraphError } from '../errors.js';
import type { EventListener } from '../engine/events.js';
import { fingerprint, type NodeRecord, type Uid } from '../identity/fingerprint.js';
import { operationIdentity, qualifiedName, type OperationDefinition } from '../operations/operation.js';
import { operationRecordInput } from '../workflow/concrete-graph.js';
import { BUILTIN_OPERATIONS, OperationRegistry } from '../operations/registry.js';
import { subprocess } from '../operations/subprocess.js';
import type { BuildState } from '../views/browse/types.js';
import { verifyStore } from '../store/data-store.js';
import { isCommitted, readStoreMetadata } from '../store/metadata.js';
import { workdirLayout, type WorkdirLayout } from '../store/workdir.js';
import { buildGraph, type ConcreteGraph } from '../workflow/graph.js';
import { ApiError, toApiError } from './status-codes.js';

/** The label a submitted node runs under (events name it). */
export const SUBMITTED_LABEL = 'submitted';

/** Finished builds remembered for `GET /v1/builds/:uid`; committed ones are also found on disk. */
const FINISHED_BUILDS_KEPT = 1000;

/**
 * The operations a server builds for clients by default: every built-in
 * one that computes in-process. `scalems.Subprocess` is left out: it would
 * let any holder of the token run commands on the server.
 */
export function submittableRegistry(): OperationRegistry {
  return new OperationRegistry(BUILTIN_OPERATIONS.filter((op) => op !== subprocess));
}

export interface BuildServiceOptions {
  workdir: string;
  /** Operations a submitted record may name. */
  registry: OperationRegistry;
  /** Builds running at once. */
  jobs: number;
  /** Builds waiting beyond which submissions get SERVER_BUSY. */
  maxQueued: number;
  /** Receives the events of every build. */
  emit: EventListener;
}

interface BuildEntry {
  uid: Uid;
  graph: ConcreteGraph;
  state: BuildState;
  done: Promise<void>;
  finish: () => void;
}

/** What a client is told of a failure: a bug's stack trace stays on the server, its first line goes out. */
function clientMessage(code: string, message: string): string {
  return code === 'E_INTERNAL' ? (message.split('\n')[0] ?? '') : message;
}

function isTerminal(state: BuildState): boolean {
  return state.state === 'committed' || state.state === 'failed';
}

function isObject(value: unknown): value is { [key: string]: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The record of a submission body `{"record": {...}, "uid"?: "..."}`, checked for form. */
export function parseSubmission(body: unknown): { record: NodeRecord; claimedUid: string | undefined } {
  const invalid = (message: string): ApiError => new ApiError('INVALID_RECORD', message);
  if (!isObject(body)) throw invalid('the body must be a JSON object {"record": {...}}');
  const extra = Object.keys(body).filter((k) => k !== 'record' && k !== 'uid');
  if (extra.length > 0)
    throw invalid(
      `unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => JSON.stringify(k)).join(', ')} in the body; it takes "record" and "uid"`,
    );
  const { record, uid } = body;
  if (uid !== undefined && typeof uid !== 'string') throw invalid('"uid" must be a string');
  if (!isObject(record)) throw invalid('"record" must be an object {"depends", "input", "operation"}');
  const recordExtra = Object.keys(record).filter((k) => k !== 'depends' && k !== 'input' && k !== 'operation');
  if (recordExtra.length > 0)
    throw invalid(
      `unknown field ${JSON.stringify(recordExtra[0])} in the record; a record has exactly "depends", "input" and "operation"`,
    );
  const { depends, input, operation } = record;
  if (!Array.isArray(depends)) throw invalid('record.depends must be an array');
  if (depends.length > 0)
    throw invalid('record.depends must be empty: a submitted record must be self-contained, with all its input inline');
  if (!isObject(input)) throw invalid('record.input must be an object');
  if (
    !Array.isArray(operation) ||
    operation.length < 2 ||
    operation.length > 3 ||
    !operation.every((p) => typeof p === 'string')
  ) {
    throw invalid('record.operation must be [namespace, name] or [namespace, name, version], all strings');
  }
  const special = findSpecial(input as JsonValue, 'input');
  if (special !== undefined)
    throw invalid(`${special}: a submitted record holds only literal data, no references or files`);
  return {
    record: { depends: [], input: input as { [field: string]: JsonValue }, operation: operation as string[] },
    claimedUid: uid,
  };
}

/** Where a `$ref`, `$file` or `$npy` object sits in an input, if anywhere. */
function findSpecial(value: JsonValue, field: string): string | undefined {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findSpecial(value[i] as JsonValue, `${field}[${i}]`);
      if (found !== undefined) return found;
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const key of ['$ref', '$file', '$npy']) if (Object.hasOwn(value, key)) return `${field} is a ${key} object`;
    for (const [key, child] of Object.entries(value)) {
      const found = findSpecial(child, `${field}.${key}`);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Builds submitted records, one queue per server. */
export class BuildService {
  readonly #options: BuildServiceOptions;
  readonly #layout: WorkdirLayout;
  readonly #builds = new Map<Uid, BuildEntry>();
  readonly #queue: BuildEntry[] = [];
  readonly #stop = new AbortController();
  #running = 0;
  #context: Promise<WorkerContext> | undefined;

  constructor(options: BuildServiceOptions) {
    this.#options = options;
    this.#layout = workdirLayout(options.workdir);
  }

  /**
   * Check a submission and answer it: committed (200, from the cache) or
   * queued or running (202). Throws ApiError for anything malformed.
   */
  async submit(body: unknown): Promise<{ httpStatus: 200 | 202; state: BuildState }> {
    const { record, claimedUid } = parseSubmission(body);
    const operation = this.#operation(record.operation);
    // The node is the record as its types write it: Float64 data sent as [[1, 2.5]] is the node of [[1.0, 2.5]].
    const written: NodeRecord = { ...record, input: operationRecordInput(operation, record.input) };
    let sentUid: Uid;
    let uid: Uid;
    try {
      sentUid = fingerprint(record);
      uid = fingerprint(written);
    } catch (error) {
      throw new ApiError('INVALID_RECORD', error instanceof RunGraphError ? error.describe() : String(error));
    }
    if (claimedUid !== undefined && claimedUid !== sentUid && claimedUid !== uid) {
      throw new ApiError(
        'UID_MISMATCH',
        `the body names uid ${claimedUid}, but its record's uid is ${uid}${uid === sentUid ? '' : ` (${sentUid} as sent, before its typed inputs are written by dtype)`}`,
      );
    }
    // The one-node graph goes through every check a workflow node does; a bad input fails here, before any write.
    let graph: ConcreteGraph;
    try {
      graph = await buildGraph(
        { nodes: [{ label: SUBMITTED_LABEL, operation: qualifiedName(operation), input: record.input }] },
        { registry: this.#options.registry },
      );
    } catch (error) {
      throw toApiError(error);
    }
    const node = graph.nodes[0];
    if (node === undefined || node.uid !== uid) {
      throw new ApiError(
        'UID_MISMATCH',
        `the server makes uid ${String(node?.uid)} of this record, which hashes to ${uid}`,
      );
    }
    const cached = await this.#committed(uid);
    if (cached !== undefined) return { httpStatus: 200, state: cached };
    const existing = this.#builds.get(uid);
    if (existing !== undefined && !isTerminal(existing.state)) return { httpStatus: 202, state: existing.state };
    if (this.#queue.length >= this.#options.maxQueued) {
      throw new ApiError('SERVER_BUSY', `${this.#queue.length} submitted builds are waiting already; try again later`);
    }
    let finish = (): void => undefined;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const entry: BuildEntry = { uid, graph, state: { uid, state: 'queued' }, done, finish };
    this.#remember(entry);
    this.#queue.push(entry);
    this.#pump();
    return { httpStatus: 202, state: entry.state };
  }

  /** The state of a build, after waiting up to `waitMs` for it to finish. */
  async state(uid: Uid, waitMs: number): Promise<BuildState> {
    const entry = this.#builds.get(uid);
    if (entry !== undefined) {
      if (!isTerminal(entry.state) && waitMs > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([entry.done, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
        clearTimeout(timer);
      }
      return entry.state;
    }
    const cached = await this.#committed(uid);
    if (cached !== undefined) return cached;
    const metadata = await readStoreMetadata(this.#layout.storeDir(uid));
    if (metadata === undefined) throw new ApiError('UNKNOWN_NODE', `no build and no store ${uid}`);
    throw new ApiError(
      'NOT_COMMITTED',
      `store ${uid} exists but is not committed, and this server is not building it; submit the record again`,
    );
  }

  /** Stop: queued builds fail as interrupted, running ones stop at a safe point. */
  async close(): Promise<void> {
    this.#stop.abort();
    for (const entry of this.#queue.splice(0))
      this.#settle(entry, {
        uid: entry.uid,
        state: 'failed',
        error: { code: 'E_INTERRUPTED', message: 'the server stopped before the build started' },
      });
    await Promise.all([...this.#builds.values()].map((e) => e.done));
  }

  #operation(identity: string[]): OperationDefinition {
    const [namespace = '', name = ''] = identity;
    const op = this.#options.registry.get(`${namespace}.${name}`);
    if (op === undefined) {
      const builtin = BUILTIN_OPERATIONS.some((b) => b.namespace === namespace && b.name === name);
      throw new ApiError(
        'INVALID_OPERATION',
        builtin
          ? `operation ${namespace}.${name} may not be submitted to this server`
          : `unknown operation ${JSON.stringify(`${namespace}.${name}`)}; this server builds: ${this.#options.registry.names().join(', ')}`,
      );
    }
    const expected = operationIdentity(op);
    if (expected.join('\u0000') !== identity.join('\u0000')) {
      throw new ApiError(
        'INVALID_OPERATION',
        `this server has ${qualifiedName(op)} as ${JSON.stringify(expected)}, the record names ${JSON.stringify(identity)}`,
      );
    }
    return op;
  }

  async #committed(uid: Uid): Promise<BuildState | undefined> {
    const storeDir = this.#layout.storeDir(uid);
    const metadata = await readStoreMetadata(storeDir);
    if (!isCommitted(metadata) || (await verifyStore(storeDir, metadata, 'size')) !== undefined) return undefined;
    return { uid, state: 'committed', cached: true, metadata };
  }

  #remember(entry: BuildEntry): void {
    this.#builds.set(entry.uid, entry);
    if (this.#builds.size <= FINISHED_BUILDS_KEPT) return;
    for (const [uid, old] of this.#builds) {
      if (isTerminal(old.state)) {
        this.#builds.delete(uid);
        return;
      }
    }
  }

  #settle(entry: BuildEntry, state: BuildState): void {
    entry.state = state;
    entry.finish();
  }

  #pump(): void {
    while (this.#running < this.#options.jobs && this.#queue.length > 0 && !this.#stop.signal.aborted) {
      const entry = this.#queue.shift() as BuildEntry;
      this.#running++;
      void this.#build(entry).finally(() => {
        this.#running--;
        this.#pump();
      });
    }
  }

  /** The WorkerContext, opened at the first build: a server nobody submits to never writes. */
  #openContext(): Promise<WorkerContext> {
    this.#context ??= WorkerContext.open({
      workdir: this.#options.workdir,
      jobs: 1,
      onEvent: this.#options.emit,
    }).catch((error: unknown) => {
      this.#context = undefined;
      throw error;
    });
    return this.#context;
  }

  async #build(entry: BuildEntry): Promise<void> {
    entry.state = { uid: entry.uid, state: 'running' };
    try {
      const context = await this.#openContext();
      const summary = await context.run(entry.graph, { signal: this.#stop.signal });
      const metadata = summary.results.get(SUBMITTED_LABEL);
      if (metadata !== undefined) {
        this.#settle(entry, { uid: entry.uid, state: 'committed', cached: summary.counts.reused > 0, metadata });
        return;
      }
      const failure = summary.failures[0]?.error ?? {
        code: summary.interrupted ? 'E_INTERRUPTED' : 'E_INTERNAL',
        message: summary.interrupted ? 'the server stopped during the build' : 'the build did not finish',
      };
      this.#settle(entry, {
        uid: entry.uid,
        state: 'failed',
        error: { code: failure.code, message: clientMessage(failure.code, failure.message) },
      });
    } catch (error) {
      const failure = toEventError(error);
      this.#settle(entry, {
        uid: entry.uid,
        state: 'failed',
        error: { code: failure.code, message: clientMessage(failure.code, failure.message) },
      });
    }
  }
}
