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
import { parseJsonBody } from './http-io.js';
import { ApiError, toApiError } from './status-codes.js';
import { storeSize, submittedStoresSize } from './submitted-stores.js';

/** The label a submitted node runs under (events name it). */
export const SUBMITTED_LABEL = 'submitted';

/** Finished builds remembered for `GET /v1/builds/:uid` by default; committed ones are also found on disk. */
export const FINISHED_BUILDS_KEPT = 1000;
/** Bytes of failure messages remembered at most, all finished builds together. */
const FINISHED_BYTES_KEPT = 1024 * 1024;
/** A failure message is remembered up to this many characters. */
const MESSAGE_KEPT = 2048;
/** Body bytes of the builds waiting or running beyond which submissions get SERVER_BUSY, by default. */
export const QUEUED_BYTES = 64 * 1024 * 1024;
/**
 * What a build is assumed to write, per byte of its body, until it is done
 * and measured: its record (about the body) and an output of up to 8 bytes
 * per number of 2 bytes in the body.
 */
const DISK_PER_BODY_BYTE = 5;

/** Let other requests be answered between two steps of checking a large body. */
function yieldToOthers(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

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
  /** Finished builds remembered (as small summaries). Default 1000. */
  finishedKept?: number;
  /** Body bytes of waiting and running builds beyond which submissions get SERVER_BUSY. Default 64 MiB. */
  maxQueuedBytes?: number;
  /** Disk the stores built for clients may take, in bytes; past it submissions get QUOTA_EXCEEDED. Default: none. */
  quotaBytes?: number;
}

/** A build waiting or running; its graph is dropped once it finishes. */
interface BuildEntry {
  uid: Uid;
  graph: ConcreteGraph | undefined;
  bodyBytes: number;
  state: BuildState;
  done: Promise<void>;
  finish: () => void;
}

/** What is remembered of a finished build: its outcome, never its record or metadata (a committed one is read from disk). */
type FinishedBuild =
  { state: 'committed'; cached: boolean } | { state: 'failed'; error: { code: string; message: string } };

/** What the build service holds in memory for finished builds. */
export interface RetainedBuilds {
  /** Finished builds remembered. */
  entries: number;
  /** Their size, counted generously (uid, state, failure message). */
  bytes: number;
}

function retainedSize(finished: FinishedBuild): number {
  return 128 + (finished.state === 'failed' ? finished.error.code.length + finished.error.message.length : 0);
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
  readonly #finished = new Map<Uid, FinishedBuild>();
  #finishedBytes = 0;
  readonly #queue: BuildEntry[] = [];
  readonly #stop = new AbortController();
  #running = 0;
  /** Body bytes of the builds waiting or running. */
  #pendingBytes = 0;
  /** Disk taken by the stores this server built for clients (measured), once known. */
  #usedBytes: Promise<number> | undefined;
  /** Submissions are checked one at a time, so eight large ones cannot take the event loop together. */
  #checking: Promise<void> = Promise.resolve();
  #context: Promise<WorkerContext> | undefined;

  constructor(options: BuildServiceOptions) {
    this.#options = options;
    this.#layout = workdirLayout(options.workdir);
  }

  /**
   * Check a submission (the bytes of its body) and answer it: committed
   * (200, from the cache) or queued or running (202). Throws ApiError for
   * anything malformed. Submissions are checked one after the other, and a
   * large one yields to other requests between its steps, so the event
   * loop is never held for more than one step of one body.
   */
  async submit(body: Buffer): Promise<{ httpStatus: 200 | 202; state: BuildState }> {
    const previous = this.#checking;
    let release = (): void => undefined;
    this.#checking = new Promise<void>((resolve) => (release = resolve));
    await previous;
    try {
      return await this.#check(body);
    } finally {
      release();
    }
  }

  async #check(body: Buffer): Promise<{ httpStatus: 200 | 202; state: BuildState }> {
    await yieldToOthers();
    const parsed = parseJsonBody(body);
    await yieldToOthers();
    const { record, claimedUid } = parseSubmission(parsed);
    const operation = this.#operation(record.operation);
    // The node is the record as its types write it: Float64 data sent as [[1, 2.5]] is the node of [[1.0, 2.5]].
    const written: NodeRecord = { ...record, input: operationRecordInput(operation, record.input) };
    await yieldToOthers();
    let uid: Uid;
    try {
      uid = fingerprint(written);
    } catch (error) {
      throw new ApiError('INVALID_RECORD', error instanceof RunGraphError ? error.describe() : String(error));
    }
    if (claimedUid !== undefined && claimedUid !== uid) {
      await yieldToOthers();
      let sentUid: Uid;
      try {
        sentUid = fingerprint(record);
      } catch (error) {
        throw new ApiError('INVALID_RECORD', error instanceof RunGraphError ? error.describe() : String(error));
      }
      if (claimedUid !== sentUid)
        throw new ApiError(
          'UID_MISMATCH',
          `the body names uid ${claimedUid}, but its record's uid is ${uid}${uid === sentUid ? '' : ` (${sentUid} as sent, before its typed inputs are written by dtype)`}`,
        );
    }
    const cached = await this.#committed(uid);
    if (cached !== undefined) return { httpStatus: 200, state: cached };
    const existing = this.#builds.get(uid);
    if (existing !== undefined) return { httpStatus: 202, state: existing.state };
    await this.#checkRoom(body.length);
    await yieldToOthers();
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
    let finish = (): void => undefined;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const entry: BuildEntry = { uid, graph, bodyBytes: body.length, state: { uid, state: 'queued' }, done, finish };
    this.#builds.set(uid, entry);
    this.#finished.delete(uid);
    this.#pendingBytes += entry.bodyBytes;
    this.#queue.push(entry);
    this.#pump();
    return { httpStatus: 202, state: entry.state };
  }

  /** SERVER_BUSY when the queue is full, QUOTA_EXCEEDED when a build of `bodyBytes` could pass the disk quota. */
  async #checkRoom(bodyBytes: number): Promise<void> {
    const maxQueuedBytes = this.#options.maxQueuedBytes ?? QUEUED_BYTES;
    if (this.#queue.length >= this.#options.maxQueued || this.#pendingBytes + bodyBytes > maxQueuedBytes) {
      throw new ApiError(
        'SERVER_BUSY',
        `${this.#queue.length} submitted builds (${this.#pendingBytes} bytes of records) are waiting already; try again later`,
      );
    }
    const quota = this.#options.quotaBytes;
    if (quota === undefined) return;
    const used = await this.#used();
    const reserved = (this.#pendingBytes + bodyBytes) * DISK_PER_BODY_BYTE;
    if (used + reserved > quota) {
      throw new ApiError(
        'QUOTA_EXCEEDED',
        `the stores built for clients take ${used} bytes, and this build could take up to ${bodyBytes * DISK_PER_BODY_BYTE} more (with ${this.#queue.length + this.#running} builds under way); the quota is ${quota} bytes`,
      );
    }
  }

  /** Disk taken by the stores built for clients: those the ledger says a server built, measured once, then kept up to date. */
  #used(): Promise<number> {
    const used = (this.#usedBytes ??= submittedStoresSize(this.#layout, SUBMITTED_LABEL));
    return used;
  }

  /** What finished builds take in memory (small summaries). */
  retained(): RetainedBuilds {
    return { entries: this.#finished.size, bytes: this.#finishedBytes };
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
      if (!isTerminal(entry.state)) return entry.state;
    }
    const finished = this.#finished.get(uid);
    if (finished?.state === 'failed') return { uid, ...finished };
    const cached = await this.#committed(uid);
    if (cached !== undefined) return finished === undefined ? cached : { ...cached, cached: finished.cached };
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

  async #committed(uid: Uid): Promise<Extract<BuildState, { state: 'committed' }> | undefined> {
    const storeDir = this.#layout.storeDir(uid);
    const metadata = await readStoreMetadata(storeDir);
    if (!isCommitted(metadata) || (await verifyStore(storeDir, metadata, 'size')) !== undefined) return undefined;
    return { uid, state: 'committed', cached: true, metadata };
  }

  /**
   * A build is over: its waiters get its state, then it is forgotten but
   * for a summary (the oldest summaries go first, past the count or bytes
   * kept), its graph and record with it.
   */
  #settle(entry: BuildEntry, state: BuildState): void {
    entry.state = state;
    entry.graph = undefined;
    if (this.#builds.get(entry.uid) === entry) {
      this.#builds.delete(entry.uid);
      this.#pendingBytes -= entry.bodyBytes;
      const summary: FinishedBuild =
        state.state === 'failed'
          ? {
              state: 'failed',
              error: { code: state.error.code, message: state.error.message.slice(0, MESSAGE_KEPT) },
            }
          : { state: 'committed', cached: state.state === 'committed' && state.cached };
      this.#finished.set(entry.uid, summary);
      this.#finishedBytes += retainedSize(summary);
      const kept = this.#options.finishedKept ?? FINISHED_BUILDS_KEPT;
      for (const [uid, old] of this.#finished) {
        if (this.#finished.size <= kept && this.#finishedBytes <= FINISHED_BYTES_KEPT) break;
        this.#finished.delete(uid);
        this.#finishedBytes -= retainedSize(old);
      }
    }
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
      const summary = await context.run(entry.graph as ConcreteGraph, { signal: this.#stop.signal });
      const metadata = summary.results.get(SUBMITTED_LABEL);
      if (metadata !== undefined) {
        if (this.#usedBytes !== undefined && summary.counts.reused === 0) {
          const size = await storeSize(this.#layout.storeDir(entry.uid));
          this.#usedBytes = this.#usedBytes.then((used) => used + size);
        }
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
