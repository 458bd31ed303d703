/**
 * What a node of a working directory looks like from the outside, locally
 * (`openLocalGraph`) or over HTTP (`connect`): both implement `NodeView`, and
 * the JSON bodies of the HTTP API are exactly these types, so a remote node
 * answers what the local one would.
 */
import type { NdArray } from 'ndarray';
import type { Uid } from '../../identity/fingerprint.js';
import type { LedgerEntry } from '../../store/ledger.js';
import type { ArrayValue, Dtype, TypedArray } from '../../values/npy.js';
import type { NodeState } from '../status.js';
import type { ArtifactEntry, StoreMetadata } from '../../store/metadata.js';

/** A store's state as seen from outside; a store that does not exist is an error (`UNKNOWN_NODE`), not a state. */
export type StoreView = Exclude<NodeState, { state: 'not-started' }>;

/** A node's identity and state: `GET /v1/nodes/:uid`. */
export type NodeInfo = {
  uid: Uid;
  operation: StoreMetadata['operation'];
  /** Labels of this uid in the served workflow (empty when none is served or it is not in it). */
  labels: string[];
  createdAt: string;
} & StoreView;

/** One reference in a node's record: the field that holds it and the upstream output it names. */
export interface InputEdge {
  /** Dotted path of the reference inside the record (`input.a`, `input.argv[3]`). */
  field: string;
  uid: Uid;
  output: string;
}

/** A node's neighbours: `GET /v1/nodes/:uid/edges`. */
export interface NodeEdges {
  uid: Uid;
  /** Every reference the node's record holds, in record order. */
  inputs: InputEdge[];
  /** Uids of the stores in the working directory whose records depend on this node, sorted. */
  dependents: Uid[];
}

/** Where an array's elements sit in its `.npy` file, so a client can cut and decode chunks itself. */
export interface ArrayLayout {
  /** Byte offset of the first element. */
  dataOffset: number;
  littleEndian: boolean;
  itemSize: number;
  /** Rows along axis 0 (1 for a scalar). */
  rows: number;
  /** Bytes of one row (the item size for a 1-D array or a scalar). */
  rowBytes: number;
}

/** One committed output: its metadata entry and, for arrays, its layout. `GET /v1/nodes/:uid/artifacts`. */
export interface ArtifactInfo extends ArtifactEntry {
  output: string;
  array?: ArrayLayout;
}

/** How an artifact is cut into chunks of about `chunkBytes`: whole rows for arrays, plain bytes otherwise. */
export interface ChunkLayout {
  kind: 'rows' | 'bytes';
  chunkBytes: number;
  count: number;
  /** `rows` only. */
  rowsPerChunk?: number;
}

/** Where one chunk lies in its artifact file. */
export interface ChunkSpan {
  index: number;
  /** Byte range in the file, end exclusive. */
  start: number;
  end: number;
  /** `rows` layouts: rows [first, end) of the array, and the chunk's own shape. */
  rows?: [number, number];
  shape?: number[];
}

/** A chunk as an iterator yields it: raw bytes, and for arrays the rows decoded on their own. */
export interface ArtifactChunk extends ChunkSpan {
  bytes: Uint8Array;
  /** Arrays: the chunk as an array of shape `shape` (dtype from the artifact). */
  value?: ArrayValue;
}

export interface ChunkOptions {
  /** Target chunk size in bytes; array chunks hold whole rows. Default 4 MiB. */
  chunkBytes?: number;
  /** Chunks fetched at once (remote nodes; over that many connections). Default: the graph's `connections`. */
  concurrency?: number;
}

/** One durable chunk of a streamed output, as a stream listing names it. */
export interface StreamChunkInfo {
  index: number;
  /** Bytes of the chunk's `.npy` file. */
  size: number;
  /** Complete streams only (from the committed metadata): the file's sha256 and the chunk's rows along axis 0. */
  sha256?: string;
  rows?: number;
}

/**
 * A streamed output as far as it is durable: `GET /v1/nodes/:uid/streams/:output`.
 * A chunk file exists only once it is complete and never changes, so every
 * chunk listed can be read at once, even while the store is being built.
 */
export interface StreamListing {
  uid: Uid;
  output: string;
  /** `growing`: the store is not committed and more chunks may come; `complete`: committed, the stream is whole. */
  state: 'growing' | 'complete';
  /** Chunks durable so far: indices 0 to durable - 1, without a gap. For a complete stream, all of them. */
  durable: number;
  /** The durable chunks from the index asked for (`?from=N`, default 0) on, in order. */
  chunks: StreamChunkInfo[];
  /** Complete streams only: dtype, and shape of the whole stream (chunks joined along axis 0). */
  dtype?: Dtype;
  shape?: number[];
}

/** A chunk of a streamed output as `streamChunks()` yields it. */
export interface StreamChunk {
  index: number;
  /** Rows [first, end) of the whole stream along axis 0. */
  rows: [number, number];
  /** The chunk, decoded on its own. */
  value: ArrayValue;
  /** The chunk's `.npy` file as stored. */
  bytes: Uint8Array;
}

export interface StreamFollowOptions {
  /** Time between two looks for new chunks while the stream grows; at least 10. Default 250 ms. */
  pollMs?: number;
  /**
   * Fail when, for this long, no new chunk became durable and the store did
   * not commit (a producer that died; the next run resumes it). Default 600 000 ms.
   */
  idleTimeoutMs?: number;
  /** Stop following: the iteration ends quietly after the chunks already yielded. */
  signal?: AbortSignal;
}

/** The typed arrays `read()` hands to ndarray (an int64 array is a BigInt64Array over a plain ArrayBuffer). */
export type ArrayData = Exclude<TypedArray, BigInt64Array> | BigInt64Array<ArrayBuffer>;

/** A node of a working directory, local or remote. */
export interface NodeView {
  readonly uid: Uid;
  info(): Promise<NodeInfo>;
  edges(): Promise<NodeEdges>;
  /** The nodes this one reads from, in record order without repeats; each fetched lazily and only once. */
  upstream(): Promise<NodeView[]>;
  /** The nodes that read this one. */
  dependents(): Promise<NodeView[]>;
  /** The store's metadata.json. */
  meta(): Promise<StoreMetadata>;
  artifacts(): Promise<ArtifactInfo[]>;
  /** An artifact in chunks, in order. `output` defaults to the only array output. */
  chunks(output?: string, options?: ChunkOptions): AsyncIterableIterator<ArtifactChunk>;
  /** A whole array artifact as an ndarray. `output` defaults to the only array output. */
  read(output?: string, options?: ChunkOptions): Promise<NdArray<ArrayData>>;
  /**
   * A streamed output's chunks in order, as they become durable, while the
   * store is being built as well as after: the iteration ends once the
   * store is committed and every chunk has been yielded.
   */
  streamChunks(output: string, options?: StreamFollowOptions): AsyncIterableIterator<StreamChunk>;
  /** The working directory's ledger entries of this uid: when it was committed, by whom, with which upstream versions. */
  ledger(): Promise<LedgerEntry[]>;
}

/** One node of the served workflow, by label. */
export interface RootNode {
  label: string;
  uid: Uid;
  /** `namespace.name`. */
  operation: string;
  /** The operation's version (null: an unversioned SCALE-MS data operation). */
  version: string | null;
  /** Labels of the nodes it reads from. */
  upstream: string[];
}

/** The served workflow: `GET /v1/graph`. */
export interface GraphRoot {
  /** The workflow file's base name. */
  file: string | null;
  nodes: RootNode[];
}

/** What a server is and allows: `GET /v1`. */
export interface ServerInfo {
  api: 1;
  name: 'run-graph';
  version: string;
  /** Whether a workflow is served (`GET /v1/graph`). */
  workflow: boolean;
  /** Whether `POST /v1/submit` is allowed. */
  submit: boolean;
  /** Default chunk size of `GET .../chunks/:index`. */
  chunkBytes: number;
  /** Largest request body accepted. */
  maxBodyBytes: number;
}

/** The state of a submitted build: `POST /v1/submit` and `GET /v1/builds/:uid`. */
export type BuildState =
  | { uid: Uid; state: 'queued' | 'running' }
  | { uid: Uid; state: 'committed'; cached: boolean; metadata: StoreMetadata & { state: 'committed' } }
  | { uid: Uid; state: 'failed'; error: { code: string; message: string } };
