/**
 * A node of a served working directory, with the shape of a local one
 * (`NodeView`): what a committed store says never changes, so its info,
 * metadata and artifact list are fetched once; chunks are fetched over
 * several connections at once and written straight into the memory they
 * end up in; a streamed output is followed chunk by chunk while it is
 * produced (`streamChunks`).
 */
import type { NdArray } from 'ndarray';
import { arrayReceiver, checkChunkBytes, chunkLayout, chunkSpan } from '../views/browse/chunk-layout.js';
import { followStream } from '../views/browse/follow-stream.js';
import { defaultArrayOutput, expectArrayArtifact, toNdArray } from '../views/browse/local-graph.js';
import type { StreamProgress } from '../views/browse/stream-view.js';
import type {
  ArrayData,
  ArtifactChunk,
  ArtifactInfo,
  ChunkOptions,
  ChunkSpan,
  NodeEdges,
  NodeInfo,
  NodeView,
  StreamChunk,
  StreamChunkInfo,
  StreamFollowOptions,
  StreamListing,
} from '../views/browse/types.js';
import type { Uid } from '../identity/fingerprint.js';
import type { LedgerEntry } from '../store/ledger.js';
import type { StoreMetadata } from '../store/metadata.js';
import { receiveInto, RemoteError, type Transport } from './transport.js';

/** What a remote node needs from its graph. */
export interface RemoteGraphLink {
  readonly transport: Transport;
  /** Chunks fetched at once when a call names no concurrency. */
  readonly connections: number;
  readonly chunkBytes: number;
  node(uid: Uid): RemoteNode;
}

export class RemoteNode implements NodeView {
  readonly uid: Uid;
  readonly #graph: RemoteGraphLink;
  #info: NodeInfo | undefined;
  #meta: StoreMetadata | undefined;
  #artifacts: ArtifactInfo[] | undefined;
  #upstream: Uid[] | undefined;

  constructor(graph: RemoteGraphLink, uid: Uid) {
    this.#graph = graph;
    this.uid = uid;
  }

  get #path(): string {
    return `/v1/nodes/${this.uid}`;
  }

  async info(): Promise<NodeInfo> {
    if (this.#info !== undefined) return this.#info;
    const { body } = await this.#graph.transport.json<NodeInfo>(this.#path);
    // A committed store never changes again; anything else is asked again next time.
    if (body.state === 'committed') this.#info = body;
    return body;
  }

  async edges(): Promise<NodeEdges> {
    const { body } = await this.#graph.transport.json<NodeEdges>(`${this.#path}/edges`);
    this.#upstream ??= [...new Set(body.inputs.map((e) => e.uid))];
    return body;
  }

  async upstream(): Promise<RemoteNode[]> {
    // A record's references never change: one edges request, ever.
    if (this.#upstream === undefined) await this.edges();
    return (this.#upstream ?? []).map((uid) => this.#graph.node(uid));
  }

  async dependents(): Promise<RemoteNode[]> {
    return (await this.edges()).dependents.map((uid) => this.#graph.node(uid));
  }

  async meta(): Promise<StoreMetadata> {
    if (this.#meta !== undefined) return this.#meta;
    const { body } = await this.#graph.transport.json<StoreMetadata>(`${this.#path}/metadata`);
    if (body.state === 'committed') this.#meta = body;
    return body;
  }

  async artifacts(): Promise<ArtifactInfo[]> {
    // Only a committed store has artifacts, so the answer is final.
    this.#artifacts ??= (
      await this.#graph.transport.json<{ artifacts: ArtifactInfo[] }>(`${this.#path}/artifacts`)
    ).body.artifacts;
    return this.#artifacts;
  }

  /** The raw bytes of an artifact file, or of one byte range of it (end exclusive). */
  async bytes(output: string, range?: { start: number; end: number }): Promise<Buffer> {
    const info = defaultArrayOutput(this.uid, await this.artifacts(), output);
    const start = range?.start ?? 0;
    const end = range?.end ?? info.size;
    const target = Buffer.alloc(Math.max(0, end - start));
    if (target.length === 0) return target;
    const res = await this.#graph.transport.send(`${this.#path}/artifacts/${encodeURIComponent(info.output)}`, {
      headers: {
        Accept: 'application/octet-stream',
        ...(range === undefined ? {} : { Range: `bytes=${start}-${end - 1}` }),
      },
    });
    await receiveInto(res, target, `bytes ${start}-${end} of ${info.output}`);
    return target;
  }

  async #fetchChunk(
    info: ArtifactInfo,
    chunkBytes: number,
    span: ChunkSpan,
    target: Uint8Array,
    signal: AbortSignal,
  ): Promise<void> {
    const res = await this.#graph.transport.send(
      `${this.#path}/artifacts/${encodeURIComponent(info.output)}/chunks/${span.index}?chunkBytes=${chunkBytes}`,
      {
        headers: { Accept: 'application/octet-stream' },
        signal,
      },
    );
    await receiveInto(res, target, `chunk ${span.index} of ${this.uid}/${info.output}`);
  }

  async *chunks(output?: string, options: ChunkOptions = {}): AsyncIterableIterator<ArtifactChunk> {
    const info = defaultArrayOutput(this.uid, await this.artifacts(), output);
    const chunkBytes = checkChunkBytes(options.chunkBytes ?? this.#graph.chunkBytes);
    const concurrency = Math.max(1, options.concurrency ?? this.#graph.connections);
    const layout = chunkLayout(info, chunkBytes);
    const abort = new AbortController();
    const fetchChunk = async (index: number): Promise<ArtifactChunk> => {
      const span = chunkSpan(info, layout, index) as ChunkSpan;
      if (info.array !== undefined && info.dtype !== undefined && span.shape !== undefined) {
        const receiver = arrayReceiver(info.dtype, span.shape, info.array.littleEndian, info.array.itemSize);
        await this.#fetchChunk(info, chunkBytes, span, receiver.bytes, abort.signal);
        receiver.finish();
        return { ...span, bytes: receiver.bytes, value: receiver.value };
      }
      const bytes = Buffer.alloc(span.end - span.start);
      await this.#fetchChunk(info, chunkBytes, span, bytes, abort.signal);
      return { ...span, bytes };
    };
    // A window of `concurrency` fetches in flight, yielded in order.
    const inFlight: Promise<ArtifactChunk>[] = [];
    let next = 0;
    const refill = (): void => {
      while (inFlight.length < concurrency && next < layout.count) {
        const pending = fetchChunk(next++);
        // Handled when its turn comes; this only keeps an early failure from counting as unhandled.
        pending.catch(() => undefined);
        inFlight.push(pending);
      }
    };
    try {
      refill();
      while (inFlight.length > 0) {
        const chunk = await (inFlight.shift() as Promise<ArtifactChunk>);
        refill();
        yield chunk;
      }
    } finally {
      // A consumer that stops early cancels what is still on the way.
      abort.abort();
    }
  }

  async read(output?: string, options: ChunkOptions = {}): Promise<NdArray<ArrayData>> {
    const info = expectArrayArtifact(this.uid, defaultArrayOutput(this.uid, await this.artifacts(), output));
    const chunkBytes = checkChunkBytes(options.chunkBytes ?? this.#graph.chunkBytes);
    const concurrency = Math.max(1, options.concurrency ?? this.#graph.connections);
    const layout = chunkLayout(info, chunkBytes);
    const receiver = arrayReceiver(info.dtype, info.shape, info.array.littleEndian, info.array.itemSize);
    const abort = new AbortController();
    let next = 0;
    // `concurrency` workers take chunk indices in turn; each chunk lands in its place in the array.
    const worker = async (): Promise<void> => {
      while (next < layout.count && !abort.signal.aborted) {
        const span = chunkSpan(info, layout, next++) as ChunkSpan;
        const offset = span.start - info.array.dataOffset;
        await this.#fetchChunk(
          info,
          chunkBytes,
          span,
          receiver.bytes.subarray(offset, offset + (span.end - span.start)),
          abort.signal,
        );
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, layout.count) }, () => worker()));
    } catch (error) {
      abort.abort();
      throw error instanceof RemoteError
        ? error
        : new RemoteError('NETWORK', `reading ${this.uid}/${info.output}: ${String(error)}`, undefined, error);
    }
    receiver.finish();
    return toNdArray(receiver.value.data, info.shape);
  }

  /**
   * A streamed output's chunks in order as they become durable on the
   * server, polling `GET .../streams/:output?from=N` every `pollMs` while the
   * store is being built; ends once it is committed and every chunk is read.
   */
  streamChunks(output: string, options: StreamFollowOptions = {}): AsyncIterableIterator<StreamChunk> {
    const transport = this.#graph.transport;
    const path = `${this.#path}/streams/${encodeURIComponent(output)}`;
    return followStream(
      {
        name: `${this.uid}/${output}`,
        progress: async (from, signal): Promise<StreamProgress> => {
          try {
            return (await transport.json<StreamListing>(`${path}?from=${from}`, { signal })).body;
          } catch (error) {
            // Not begun yet: the store exists but no chunk of this output is under way.
            if (error instanceof RemoteError && error.status === 'STREAM_NOT_STARTED')
              return { state: 'not-started', uid: this.uid, output };
            throw error;
          }
        },
        chunk: async (info: StreamChunkInfo, signal): Promise<Uint8Array> => {
          const res = await transport.send(`${path}/chunks/${info.index}`, {
            headers: { Accept: 'application/octet-stream' },
            signal,
          });
          const bytes = Buffer.alloc(info.size);
          await receiveInto(res, bytes, `chunk ${info.index} of stream ${this.uid}/${output}`);
          return bytes;
        },
        idleError: (message) => new RemoteError('TIMEOUT', message),
      },
      options,
    );
  }

  /** The server's ledger entries of this uid. */
  async ledger(): Promise<LedgerEntry[]> {
    return (await this.#graph.transport.json<{ entries: LedgerEntry[] }>(`${this.#path}/ledger`)).body.entries;
  }
}
