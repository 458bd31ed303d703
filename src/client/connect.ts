/**
 * `connect(url)`: a served working directory as a graph of remote nodes
 * with the shape of local ones. Nodes are made on demand and kept, so
 * following the same edge twice yields the same node, fetched once.
 */
import { DEFAULT_CHUNK_BYTES, checkChunkBytes } from '../views/browse/chunk-layout.js';
import type { BuildState, GraphRoot, ServerInfo } from '../views/browse/types.js';
import { RunGraphError, assertNever } from '../errors.js';
import { fingerprint, parseUid, type NodeRecord, type Uid } from '../identity/fingerprint.js';
import { TOKEN_ENV } from '../server/auth.js';
import type { PublishedEvent } from '../server/events.js';
import type { CommittedMetadata } from '../store/metadata.js';
import { parseEventStream } from './event-stream.js';
import { RemoteNode, type RemoteGraphLink } from './remote-node.js';
import { RemoteError, Transport } from './transport.js';

export interface ConnectOptions {
  /** Bearer token. Default: the RUN_GRAPH_TOKEN environment variable, if set. */
  token?: string;
  /** Connections used at once (parallel chunk fetches). Default 4. */
  connections?: number;
  /** Chunk size of `chunks()` and `read()`. Default 4 MiB. */
  chunkBytes?: number;
  /** Socket idle time before a request fails. Default 30 000 ms. */
  timeoutMs?: number;
}

export interface SubmitOptions {
  /** Give up waiting for the build after this long (the server goes on building). Default 600 000 ms. */
  timeoutMs?: number;
}

/** A submitted record's committed result. */
export interface SubmitResult {
  uid: Uid;
  /** True when the server already had it committed (or another process built it). */
  cached: boolean;
  metadata: CommittedMetadata;
  node: RemoteNode;
}

export interface EventStreamOptions {
  /** Replay only events after this id. Default: the whole history the server keeps. */
  lastEventId?: number;
  /** Stop the stream. */
  signal?: AbortSignal;
}

/** Longest single long-poll the client asks of the server. */
const POLL_MS = 20_000;

/** Connect to a run-graph server and check that it speaks API v1 and accepts our token. */
export async function connect(url: string, options: ConnectOptions = {}): Promise<RemoteGraph> {
  let base: URL;
  try {
    base = new URL(url);
  } catch (error) {
    throw new RunGraphError('E_USAGE', `not a URL: ${JSON.stringify(url)}`, {
      value: url,
      cause: error,
      hint: 'e.g. http://127.0.0.1:7377',
    });
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new RunGraphError('E_USAGE', `a server URL must be http: or https:, got ${JSON.stringify(base.protocol)}`, {
      value: url,
    });
  }
  const connections = options.connections ?? 4;
  if (!Number.isSafeInteger(connections) || connections < 1 || connections > 256) {
    throw new RunGraphError(
      'E_USAGE',
      `connections must be an integer from 1 to 256, got ${String(options.connections)}`,
      { value: options.connections },
    );
  }
  const transport = new Transport(base, {
    token: options.token ?? process.env[TOKEN_ENV],
    connections,
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  try {
    const { body } = await transport.json<ServerInfo>('/v1');
    if (body.name !== 'run-graph' || body.api !== 1)
      throw new RemoteError('PROTOCOL', `${url} is not a run-graph API v1 server`);
    return new RemoteGraph(transport, body, connections, checkChunkBytes(options.chunkBytes ?? DEFAULT_CHUNK_BYTES));
  } catch (error) {
    transport.close();
    throw error;
  }
}

/** A served working directory. */
export class RemoteGraph implements RemoteGraphLink {
  readonly transport: Transport;
  /** What the server said of itself on connect. */
  readonly server: ServerInfo;
  readonly connections: number;
  readonly chunkBytes: number;
  readonly #nodes = new Map<Uid, RemoteNode>();
  #root: Promise<GraphRoot> | undefined;

  constructor(transport: Transport, server: ServerInfo, connections: number, chunkBytes: number) {
    this.transport = transport;
    this.server = server;
    this.connections = connections;
    this.chunkBytes = chunkBytes;
  }

  get url(): string {
    return this.transport.base.href;
  }

  /** Requests sent so far. */
  get requests(): number {
    return this.transport.requests;
  }

  /** The served workflow (fetched once). Fails with NO_WORKFLOW when none is served. */
  root(): Promise<GraphRoot> {
    this.#root ??= this.transport.json<GraphRoot>('/v1/graph').then((r) => r.body);
    this.#root.catch(() => (this.#root = undefined));
    return this.#root;
  }

  /** The node of a uid; nothing is fetched until it is asked something. */
  node(uid: Uid | string): RemoteNode {
    const checked = parseUid(uid);
    let node = this.#nodes.get(checked);
    if (node === undefined) {
      node = new RemoteNode(this, checked);
      this.#nodes.set(checked, node);
    }
    return node;
  }

  /** The node of a label of the served workflow. */
  async nodeByLabel(label: string): Promise<RemoteNode> {
    const found = (await this.root()).nodes.find((n) => n.label === label);
    if (found === undefined)
      throw new RemoteError('UNKNOWN_LABEL', `the served workflow has no node labelled ${JSON.stringify(label)}`);
    return this.node(found.uid);
  }

  /** Uids of every store in the served working directory. */
  async uids(): Promise<Uid[]> {
    // The server answers in pages; `next` is the cursor of the following one.
    const uids: Uid[] = [];
    let after: string | undefined;
    do {
      const path: string = after === undefined ? '/v1/nodes' : `/v1/nodes?after=${after}`;
      const { body } = await this.transport.json<{ uids: Uid[]; next?: Uid }>(path);
      uids.push(...body.uids);
      after = body.next;
    } while (after !== undefined);
    return uids;
  }

  /**
   * Submit a record with inline literal input and wait for its committed
   * store: at once when the server has it, else once the server has built
   * it. A failed build is an E_NODE_FAILED error.
   */
  async submit(record: NodeRecord, options: SubmitOptions = {}): Promise<SubmitResult> {
    const deadline = Date.now() + (options.timeoutMs ?? 600_000);
    let { body: state } = await this.transport.json<BuildState>('/v1/submit', {
      method: 'POST',
      body: { record, uid: fingerprint(record) },
    });
    // The server's uid: the record as its typed inputs write it (Float64 data [[1, 2.5]] is the node of [[1.0, 2.5]]).
    const uid = state.uid;
    for (;;) {
      switch (state.state) {
        case 'committed':
          return { uid, cached: state.cached, metadata: state.metadata, node: this.node(uid) };
        case 'failed':
          throw new RunGraphError(
            'E_NODE_FAILED',
            `the server failed to build submitted node ${uid}: ${state.error.code}: ${state.error.message}`,
            { value: uid },
          );
        case 'queued':
        case 'running': {
          const left = deadline - Date.now();
          if (left <= 0)
            throw new RemoteError(
              'TIMEOUT',
              `submitted node ${uid} was not built within ${options.timeoutMs ?? 600_000} ms; the server goes on building it`,
            );
          const waitMs = Math.min(POLL_MS, left);
          state = (
            await this.transport.json<BuildState>(`/v1/builds/${uid}?waitMs=${waitMs}`, { timeoutMs: waitMs + 30_000 })
          ).body;
          break;
        }
        default:
          return assertNever(state, 'build state');
      }
    }
  }

  /** The server's events (of `run --serve` runs and submitted builds), history first, until the server ends the stream. */
  async *events(options: EventStreamOptions = {}): AsyncGenerator<PublishedEvent, void, undefined> {
    const res = await this.transport.send('/v1/events', {
      headers: {
        Accept: 'text/event-stream',
        ...(options.lastEventId === undefined ? {} : { 'Last-Event-ID': String(options.lastEventId) }),
      },
      dedicated: true,
      // An event stream is idle between events for as long as a run takes.
      timeoutMs: 0,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    yield* parseEventStream(res);
  }

  /** Close the pooled connections. */
  close(): void {
    this.transport.close();
  }
}
