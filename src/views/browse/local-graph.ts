/**
 * A working directory seen as a graph of nodes, read straight from disk and
 * never written: what `run-graph serve` answers from, and the local twin of
 * the remote graph `connect()` returns. Every path it opens is derived from
 * a checked uid and an artifact named in a committed store's metadata, and
 * is resolved (symlinks included) to make sure it stays inside its store.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readdir, realpath, stat, type FileHandle } from 'node:fs/promises';
import { basename, join, sep } from 'node:path';
import ndarray from 'ndarray';
import type { NdArray } from 'ndarray';
import type { JsonValue } from '../../identity/canonical-json.js';
import { isJsonFloat } from '../../identity/json-numbers.js';
import { RunGraphError, describeValue, isErrnoException } from '../../errors.js';
import { isUid, type Uid } from '../../identity/fingerprint.js';
import { ledgerDir, readLedgerFile, type LedgerEntry } from '../../store/ledger.js';
import { itemSize, readNpyHeader, type TypedArray } from '../../values/npy.js';
import { isCommitted, readStoreMetadata, type CommittedMetadata, type StoreMetadata } from '../../store/metadata.js';
import { readStoreStatus } from '../../store/store-status.js';
import { workdirLayout, type WorkdirLayout } from '../../store/workdir.js';
import type { ConcreteGraph } from '../../workflow/graph.js';
import { nodeState } from '../status.js';
import {
  DEFAULT_CHUNK_BYTES,
  arrayLayout,
  arrayReceiver,
  checkChunkBytes,
  chunkLayout,
  chunkSpan,
} from './chunk-layout.js';
import { followStream } from './follow-stream.js';
import { readStreamChunk, streamProgress } from './stream-view.js';
import type {
  ArrayData,
  ArtifactChunk,
  ArtifactInfo,
  ChunkOptions,
  GraphRoot,
  InputEdge,
  NodeEdges,
  NodeInfo,
  NodeView,
  StoreView,
  StreamChunk,
  StreamFollowOptions,
} from './types.js';

export interface LocalGraphOptions {
  /** The workflow whose labels and root to show. Default: none (nodes by uid only). */
  graph?: ConcreteGraph;
}

/** Largest number of resolved artifacts remembered (a few hundred bytes each). */
const ARTIFACT_CACHE_LIMIT = 4096;

/** Metadata files read at once while indexing the stores' `depends`. */
const INDEX_READS_AT_ONCE = 64;

/** Flags every artifact file is opened with: a symlink put in its place is not followed. */
const OPEN_ARTIFACT = constants.O_RDONLY | constants.O_NOFOLLOW;

/** A reference as it appears in a record: `{"$ref": "<uid>.<output>"}`. */
const RECORD_REF = /^([0-9a-f]{64})\.(.+)$/s;

/** An artifact resolved to a file that is certainly inside its store. */
export interface ResolvedArtifact {
  info: ArtifactInfo;
  /** Absolute real path of the file. */
  file: string;
}

/** An artifact file opened for reading; whoever opens it closes `handle`. */
export interface OpenArtifact {
  info: ArtifactInfo;
  handle: FileHandle;
}

/** A resolved artifact and the identity of its file when it was resolved. */
interface KnownArtifact {
  resolved: ResolvedArtifact;
  ino: number;
  size: number;
  mtimeMs: number;
}

/** Open a working directory for reading. Fails if it does not exist; creates nothing. */
export async function openLocalGraph(workdir: string, options: LocalGraphOptions = {}): Promise<LocalGraph> {
  const layout = workdirLayout(workdir);
  const info = await stat(layout.root).catch((error: unknown) => {
    throw new RunGraphError(
      'E_WORKDIR',
      `working directory ${layout.root}: ${isErrnoException(error) && error.code === 'ENOENT' ? 'does not exist' : String(error)}`,
      {
        value: workdir,
        hint: 'serve a directory that `run-graph run` wrote',
        cause: error,
      },
    );
  });
  if (!info.isDirectory())
    throw new RunGraphError('E_WORKDIR', `working directory ${layout.root} is not a directory`, { value: workdir });
  return new LocalGraph(layout, await realpath(layout.root), options.graph);
}

/** The stores of one working directory, read-only. */
export class LocalGraph {
  readonly layout: WorkdirLayout;
  readonly graph: ConcreteGraph | undefined;
  readonly #realRoot: string;
  readonly #nodes = new Map<Uid, LocalNode>();
  /** `depends` of every store seen, by uid: a record never changes once its store exists. */
  readonly #depends = new Map<Uid, readonly Uid[]>();
  /** The reverse of `#depends`: the stores that depend on a uid. */
  readonly #dependents = new Map<Uid, Uid[]>();
  /** Stores listed whose `depends` are not indexed yet. */
  readonly #unindexed = new Set<Uid>();
  /** The last listing of the stores, and the directory stamp it was made at. */
  #stores: { stamp: string; uids: Uid[] } | undefined;
  /** The ledger's file names by uid, and the directory stamp they were listed at. */
  #ledger: { stamp: string; names: Map<string, string[]> } | undefined;
  readonly #artifacts = new Map<string, ArtifactInfo>();
  readonly #known = new Map<string, KnownArtifact>();
  readonly #labels = new Map<Uid, string[]>();
  /** Directory listings and metadata reads done so far: what a request costs, for tests and the bench. */
  readonly reads = { listings: 0, metadata: 0 };

  constructor(layout: WorkdirLayout, realRoot: string, graph: ConcreteGraph | undefined) {
    this.layout = layout;
    this.graph = graph;
    this.#realRoot = realRoot;
    for (const node of graph?.nodes ?? [])
      this.#labels.set(node.uid, [...(this.#labels.get(node.uid) ?? []), node.label]);
  }

  /** The served workflow, or undefined when there is none. */
  root(): GraphRoot | undefined {
    if (this.graph === undefined) return undefined;
    const nodes = this.graph.nodes;
    return {
      file: this.graph.file === undefined ? null : basename(this.graph.file),
      nodes: nodes.map((n) => ({
        label: n.label,
        uid: n.uid,
        operation: `${n.operation.namespace}.${n.operation.name}`,
        version: n.operation.version ?? null,
        upstream: n.upstream.map((i) => nodes[i]?.label ?? '?'),
      })),
    };
  }

  /** The node of a uid (whether a store exists is found out on first use). */
  node(uid: Uid): LocalNode {
    let node = this.#nodes.get(uid);
    if (node === undefined) {
      node = new LocalNode(this, uid);
      this.#nodes.set(uid, node);
    }
    return node;
  }

  /** The node of a label of the served workflow. */
  nodeByLabel(label: string): LocalNode {
    const node = this.graph?.byLabel.get(label);
    if (node === undefined) {
      throw new RunGraphError('E_UNKNOWN_NODE', `no node labelled ${describeValue(label)} in the served workflow`, {
        value: label,
      });
    }
    return this.node(node.uid);
  }

  /** Uids of every store in the working directory, sorted. */
  async uids(): Promise<Uid[]> {
    return [...(await this.#storeListing())];
  }

  /** Up to `limit` uids of stores after `after` (a cursor: the last uid of the previous page), sorted. */
  async uidPage(limit: number, after?: string): Promise<{ uids: Uid[]; more: boolean }> {
    const all = await this.#storeListing();
    let low = 0;
    if (after !== undefined) {
      // The first uid past the cursor, by binary search.
      let high = all.length;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if ((all[middle] as Uid) <= after) low = middle + 1;
        else high = middle;
      }
    }
    return { uids: all.slice(low, low + limit), more: low + limit < all.length };
  }

  /**
   * The sorted uids of the working directory's stores, listed again only
   * when the directory changed (its inode, mtime or ctime, to the
   * nanosecond): a request costs one stat, not a listing of every store.
   * Stores that appeared are indexed for `dependents`, stores that went
   * away taken out of it.
   */
  async #storeListing(): Promise<readonly Uid[]> {
    const stamp = await directoryStamp(this.layout.root);
    if (this.#stores !== undefined && this.#stores.stamp === stamp) return this.#stores.uids;
    this.reads.listings++;
    const uids = (await readdir(this.layout.root)).filter(isUid).sort();
    const now = new Set(uids);
    for (const gone of this.#stores?.uids ?? []) if (!now.has(gone)) this.#unindex(gone);
    for (const uid of uids) if (!this.#depends.has(uid)) this.#unindexed.add(uid);
    this.#stores = { stamp, uids };
    return uids;
  }

  /** Index a store's `depends` for `dependents` (once: a record never changes once its store exists). */
  #index(uid: Uid, depends: readonly Uid[]): void {
    this.#unindexed.delete(uid);
    if (this.#depends.has(uid)) return;
    this.#depends.set(uid, depends);
    for (const upstream of new Set(depends)) {
      const list = this.#dependents.get(upstream);
      if (list === undefined) this.#dependents.set(upstream, [uid]);
      else list.push(uid);
    }
  }

  #unindex(uid: Uid): void {
    this.#unindexed.delete(uid);
    const depends = this.#depends.get(uid);
    if (depends === undefined) return;
    this.#depends.delete(uid);
    for (const upstream of new Set(depends)) {
      const list = (this.#dependents.get(upstream) ?? []).filter((other) => other !== uid);
      if (list.length === 0) this.#dependents.delete(upstream);
      else this.#dependents.set(upstream, list);
    }
  }

  /** A store's metadata; E_UNKNOWN_NODE when there is no such store. */
  async metadata(uid: Uid): Promise<StoreMetadata> {
    await this.#checkStoreDir(uid);
    const metadata = await readStoreMetadata(this.layout.storeDir(uid));
    if (metadata === undefined || metadata.uid !== uid) {
      throw new RunGraphError('E_UNKNOWN_NODE', `no store ${uid} in ${this.layout.root}`, { value: uid });
    }
    return metadata;
  }

  /**
   * Refuse a store whose directory is not a directory of the working
   * directory itself: a symlink to a folder elsewhere would otherwise have
   * that folder's metadata.json served. A missing store passes (the
   * metadata read then finds nothing).
   */
  async #checkStoreDir(uid: Uid): Promise<void> {
    const info = await lstat(this.layout.storeDir(uid)).catch((error: unknown) => {
      if (isErrnoException(error) && error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (info !== undefined && !info.isDirectory()) {
      throw new RunGraphError(
        'E_WORKDIR',
        `store ${uid} is ${info.isSymbolicLink() ? 'a symlink' : 'not a directory'} in ${this.layout.root}; refusing to read it`,
        { value: uid },
      );
    }
  }

  async committedMetadata(uid: Uid): Promise<CommittedMetadata> {
    const metadata = await this.metadata(uid);
    if (!isCommitted(metadata)) {
      throw new RunGraphError('E_NOT_COMMITTED', `store ${uid} is not committed; its artifacts cannot be read yet`, {
        value: uid,
      });
    }
    return metadata;
  }

  async info(uid: Uid): Promise<NodeInfo> {
    const metadata = await this.metadata(uid);
    return {
      uid,
      operation: metadata.operation,
      labels: this.#labels.get(uid) ?? [],
      createdAt: metadata.createdAt,
      ...(await this.#state(metadata)),
    };
  }

  async #state(metadata: StoreMetadata): Promise<StoreView> {
    return nodeState(await readStoreStatus(this.layout.storeDir(metadata.uid), { metadata }));
  }

  async edges(uid: Uid): Promise<NodeEdges> {
    const metadata = await this.metadata(uid);
    this.#index(uid, metadata.record.depends);
    return { uid, inputs: recordInputs(metadata.record.input), dependents: await this.#dependentsOf(uid) };
  }

  /**
   * The stores whose record depends on `uid`, from an index of every
   * store's `depends`: each store's metadata is read once, when it is
   * first listed, so a request costs nothing per store. A store whose
   * metadata cannot be read (none, or corrupt) counts as depending on
   * nothing until a request names it.
   */
  async #dependentsOf(uid: Uid): Promise<Uid[]> {
    await this.#storeListing();
    const pending = [...this.#unindexed];
    // Read a few dozen at once: the first look at a large working directory reads every store's metadata.
    for (let first = 0; first < pending.length; first += INDEX_READS_AT_ONCE) {
      await Promise.all(
        pending.slice(first, first + INDEX_READS_AT_ONCE).map(async (other) => {
          this.reads.metadata++;
          const metadata = await readStoreMetadata(this.layout.storeDir(other)).catch(() => undefined);
          this.#unindexed.delete(other);
          if (metadata !== undefined && metadata.uid === other) this.#index(other, metadata.record.depends);
        }),
      );
    }
    return [...(this.#dependents.get(uid) ?? [])].sort();
  }

  /** Every committed artifact of a store, with array layouts. */
  async artifacts(uid: Uid): Promise<ArtifactInfo[]> {
    const metadata = await this.committedMetadata(uid);
    const out: ArtifactInfo[] = [];
    for (const output of Object.keys(metadata.artifacts)) out.push((await this.#resolve(metadata, output)).info);
    return out;
  }

  /** One committed artifact, resolved to its file inside the store. */
  async artifact(uid: Uid, output: string): Promise<ResolvedArtifact> {
    return this.#resolve(await this.committedMetadata(uid), output);
  }

  /**
   * Open an artifact file for reading. The first open of an artifact reads
   * its store's metadata and resolves and checks its path; later ones open
   * the remembered file and only check (fstat) that it is still the same
   * file (inode, size, mtime), so serving chunks costs no metadata reads. A
   * store quarantined or rebuilt meanwhile fails that check and is resolved
   * afresh.
   */
  async openArtifact(uid: Uid, output: string): Promise<OpenArtifact> {
    const key = `${uid}/${output}`;
    const known = this.#known.get(key);
    if (known !== undefined) {
      const handle = await open(known.resolved.file, OPEN_ARTIFACT).catch(() => undefined);
      if (handle !== undefined) {
        const now = await handle.stat();
        if (now.ino === known.ino && now.size === known.size && now.mtimeMs === known.mtimeMs)
          return { info: known.resolved.info, handle };
        await handle.close();
      }
      this.#known.delete(key);
    }
    const resolved = await this.artifact(uid, output);
    if (resolved.info.kind === 'stream') {
      throw new RunGraphError(
        'E_USAGE',
        `output '${output}' of ${uid} is a stream: a directory of chunks, not one file`,
        {
          value: output,
          hint: 'read it chunk by chunk: streamChunks(), or GET /v1/nodes/:uid/streams/:output',
        },
      );
    }
    const handle = await open(resolved.file, OPEN_ARTIFACT);
    const now = await handle.stat();
    if (now.size !== resolved.info.size) {
      await handle.close();
      throw new RunGraphError(
        'E_CORRUPT_STORE',
        `artifact '${resolved.info.path}' of ${uid} changed size while being opened`,
        { value: uid },
      );
    }
    // A file with other names may be a result published out of the store, or a file from elsewhere linked in:
    // only its content tells them apart, so it is served only if it is the content the commit recorded.
    if (now.nlink > 1 && (await sha256Of(handle, now.size)) !== resolved.info.sha256) {
      await handle.close();
      throw new RunGraphError(
        'E_WORKDIR',
        `artifact '${resolved.info.path}' of ${uid} is a hard link to a file whose content is not the artifact's; refusing to read it`,
        { value: uid },
      );
    }
    if (this.#known.size >= ARTIFACT_CACHE_LIMIT) this.#known.delete(this.#known.keys().next().value as string);
    this.#known.set(key, { resolved, ino: now.ino, size: now.size, mtimeMs: now.mtimeMs });
    return { info: resolved.info, handle };
  }

  async #resolve(metadata: CommittedMetadata, output: string): Promise<ResolvedArtifact> {
    const uid = metadata.uid;
    const entry = Object.hasOwn(metadata.artifacts, output) ? metadata.artifacts[output] : undefined;
    if (entry === undefined) {
      const known = Object.keys(metadata.artifacts);
      throw new RunGraphError('E_UNKNOWN_ARTIFACT', `node ${uid} has no output ${describeValue(output)}`, {
        value: output,
        hint: `its outputs are: ${known.join(', ') || 'none'}`,
      });
    }
    const file = await this.#containedPath(uid, entry.path);
    // A stream's path is the directory of its chunks, and its size theirs together: each chunk is checked when it is read.
    const size = entry.kind === 'stream' ? entry.size : (await stat(file)).size;
    if (size !== entry.size) {
      throw new RunGraphError(
        'E_CORRUPT_STORE',
        `artifact '${entry.path}' of ${uid} has ${size} bytes, its metadata says ${entry.size}`,
        { value: uid, hint: 'run the workflow again to quarantine and rebuild it' },
      );
    }
    // Keyed by the commit as well: a store quarantined and rebuilt is another commit.
    const key = `${uid}/${metadata.committedAt}/${output}`;
    let info = this.#artifacts.get(key);
    if (info === undefined) {
      info = { output, ...entry };
      if (entry.kind === 'array') {
        const header = await readNpyHeader(file);
        info.array = arrayLayout(header.shape, itemSize(header.dtype), header.dataOffset, header.littleEndian);
        info.dtype = header.dtype;
        info.shape = header.shape;
      }
      if (this.#artifacts.size >= ARTIFACT_CACHE_LIMIT)
        this.#artifacts.delete(this.#artifacts.keys().next().value as string);
      this.#artifacts.set(key, info);
    }
    return { info, file };
  }

  /**
   * The real path of a file named in a store's metadata, refused if it
   * resolves outside the store (a `..` in a tampered metadata.json, or a
   * symlink a subprocess left as its output).
   */
  async #containedPath(uid: Uid, relative: string): Promise<string> {
    const real = await this.insideStore(uid, relative);
    if (real === undefined)
      throw new RunGraphError('E_CORRUPT_STORE', `artifact '${relative}' of ${uid} is missing`, {
        value: relative,
        hint: 'run the workflow again to quarantine and rebuild it',
      });
    return real;
  }

  /**
   * The real path (symlinks resolved) of an entry of a store, or undefined
   * when there is no such entry; E_WORKDIR when it resolves outside the store.
   */
  async insideStore(uid: Uid, relative: string): Promise<string | undefined> {
    let real: string;
    try {
      real = await realpath(`${this.layout.storeDir(uid)}${sep}${relative}`);
    } catch (error) {
      if (isErrnoException(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return undefined;
      throw new RunGraphError('E_CORRUPT_STORE', `'${relative}' of store ${uid} cannot be resolved`, {
        value: relative,
        cause: error,
      });
    }
    if (!real.startsWith(`${this.#realRoot}${sep}${uid}${sep}`)) {
      throw new RunGraphError(
        'E_WORKDIR',
        `'${relative}' of store ${uid} resolves outside its store; refusing to read it`,
        { value: relative },
      );
    }
    return real;
  }

  /**
   * The working directory's ledger entries of a uid, oldest first (none
   * for a store built before the ledger existed). The ledger's file names
   * are listed again only when its directory changed (entries are only
   * ever added by rename), so a request reads the uid's few entries alone.
   */
  async ledger(uid: Uid): Promise<LedgerEntry[]> {
    const dir = ledgerDir(this.layout.root);
    const stamp = await directoryStamp(dir).catch(() => undefined);
    if (stamp === undefined) return [];
    if (this.#ledger?.stamp !== stamp) {
      this.reads.listings++;
      const names = new Map<string, string[]>();
      for (const name of await readdir(dir)) {
        if (name.startsWith('.') || !name.endsWith('.json')) continue;
        const key = name.slice(0, name.indexOf('.'));
        const list = names.get(key);
        if (list === undefined) names.set(key, [name]);
        else list.push(name);
      }
      this.#ledger = { stamp, names };
    }
    const entries: LedgerEntry[] = [];
    for (const name of this.#ledger.names.get(uid) ?? []) {
      const entry = await readLedgerFile(join(dir, name));
      if (entry !== undefined) entries.push(entry);
    }
    return entries.sort((a, b) => (a.committedAt < b.committedAt ? -1 : a.committedAt > b.committedAt ? 1 : 0));
  }
}

/** What tells a directory's listing apart from its next one: inode, mtime and ctime to the nanosecond. */
async function directoryStamp(dir: string): Promise<string> {
  const info = await stat(dir, { bigint: true });
  return `${info.ino}:${info.mtimeNs}:${info.ctimeNs}`;
}

/** Every `{"$ref": "<uid>.<output>"}` in a record's input, with its field path, in record order. */
export function recordInputs(input: { [field: string]: JsonValue }): InputEdge[] {
  const edges: InputEdge[] = [];
  const walk = (value: JsonValue, field: string): void => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, `${field}[${i}]`));
    } else if (typeof value === 'object' && value !== null && !isJsonFloat(value)) {
      const ref = value['$ref'];
      const match = typeof ref === 'string' ? RECORD_REF.exec(ref) : null;
      if (match !== null) {
        edges.push({ field, uid: match[1] as Uid, output: match[2] as string });
        return;
      }
      for (const [key, child] of Object.entries(value)) walk(child, `${field}.${key}`);
    }
  };
  for (const [field, value] of Object.entries(input)) walk(value, `input.${field}`);
  return edges;
}

/** The output a call means when it names none: the only array output. */
export function defaultArrayOutput(
  uid: Uid,
  artifacts: readonly ArtifactInfo[],
  output: string | undefined,
): ArtifactInfo {
  if (output !== undefined) {
    const found = artifacts.find((a) => a.output === output);
    if (found === undefined) {
      throw new RunGraphError('E_UNKNOWN_ARTIFACT', `node ${uid} has no output ${describeValue(output)}`, {
        value: output,
        hint: `its outputs are: ${artifacts.map((a) => a.output).join(', ') || 'none'}`,
      });
    }
    return found;
  }
  const arrays = artifacts.filter((a) => a.kind === 'array');
  if (arrays.length === 1 && arrays[0] !== undefined) return arrays[0];
  throw new RunGraphError('E_USAGE', `node ${uid} has ${arrays.length} array outputs; name the one to read`, {
    hint: `its outputs are: ${artifacts.map((a) => a.output).join(', ') || 'none'}`,
  });
}

/** The array an ndarray should wrap, checked to be one. */
export function expectArrayArtifact(
  uid: Uid,
  info: ArtifactInfo,
): ArtifactInfo & {
  array: NonNullable<ArtifactInfo['array']>;
  dtype: NonNullable<ArtifactInfo['dtype']>;
  shape: number[];
} {
  if (info.array === undefined || info.dtype === undefined || info.shape === undefined) {
    throw new RunGraphError('E_USAGE', `output '${info.output}' of ${uid} is a ${info.kind} artifact, not an array`, {
      value: info.output,
      hint: 'read it with chunks()',
    });
  }
  return info as ArtifactInfo & {
    array: NonNullable<ArtifactInfo['array']>;
    dtype: NonNullable<ArtifactInfo['dtype']>;
    shape: number[];
  };
}

/** Wrap an array's storage in an ndarray (a scalar becomes a one-element 1-D ndarray). */
export function toNdArray(data: TypedArray, shape: readonly number[]): NdArray<ArrayData> {
  // run-graph allocates every array over a plain ArrayBuffer, never a SharedArrayBuffer.
  return ndarray(data as ArrayData, shape.length === 0 ? [1] : [...shape]);
}

/** The sha256 (hex) of the first `size` bytes of an open file, read a MiB at a time. */
async function sha256Of(handle: FileHandle, size: number): Promise<string> {
  const hash = createHash('sha256');
  const block = Buffer.allocUnsafe(Math.min(size, 1 << 20));
  for (let position = 0; position < size;) {
    const { bytesRead } = await handle.read(block, 0, Math.min(block.length, size - position), position);
    if (bytesRead === 0) break;
    hash.update(block.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash.digest('hex');
}

/** Read `length` bytes at `position` of an open file into `target`, however many reads it takes. */
async function readFully(handle: FileHandle, target: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await handle.read(target, done, target.length - done, position + done);
    if (bytesRead === 0) throw new RunGraphError('E_CORRUPT_STORE', `artifact ended early at byte ${position + done}`);
    done += bytesRead;
  }
}

/** A node of a local working directory. */
export class LocalNode implements NodeView {
  readonly uid: Uid;
  readonly #graph: LocalGraph;

  constructor(graph: LocalGraph, uid: Uid) {
    this.#graph = graph;
    this.uid = uid;
  }

  info(): Promise<NodeInfo> {
    return this.#graph.info(this.uid);
  }

  edges(): Promise<NodeEdges> {
    return this.#graph.edges(this.uid);
  }

  async upstream(): Promise<LocalNode[]> {
    const { inputs } = await this.edges();
    return [...new Set(inputs.map((e) => e.uid))].map((uid) => this.#graph.node(uid));
  }

  async dependents(): Promise<LocalNode[]> {
    return (await this.edges()).dependents.map((uid) => this.#graph.node(uid));
  }

  meta(): Promise<StoreMetadata> {
    return this.#graph.metadata(this.uid);
  }

  artifacts(): Promise<ArtifactInfo[]> {
    return this.#graph.artifacts(this.uid);
  }

  async *chunks(output?: string, options: ChunkOptions = {}): AsyncIterableIterator<ArtifactChunk> {
    const chosen = defaultArrayOutput(this.uid, await this.artifacts(), output);
    const layout = chunkLayout(chosen, checkChunkBytes(options.chunkBytes ?? DEFAULT_CHUNK_BYTES));
    const { info, handle } = await this.#graph.openArtifact(this.uid, chosen.output);
    try {
      for (let index = 0; index < layout.count; index++) {
        const span = chunkSpan(info, layout, index);
        if (span === undefined) break;
        if (info.array !== undefined && info.dtype !== undefined && span.shape !== undefined) {
          const receiver = arrayReceiver(info.dtype, span.shape, info.array.littleEndian, info.array.itemSize);
          await readFully(handle, receiver.bytes, span.start);
          receiver.finish();
          yield { ...span, bytes: receiver.bytes, value: receiver.value };
        } else {
          const bytes = Buffer.allocUnsafe(span.end - span.start);
          await readFully(handle, bytes, span.start);
          yield { ...span, bytes };
        }
      }
    } finally {
      await handle.close();
    }
  }

  async read(output?: string): Promise<NdArray<ArrayData>> {
    const info = expectArrayArtifact(this.uid, defaultArrayOutput(this.uid, await this.artifacts(), output));
    const receiver = arrayReceiver(info.dtype, info.shape, info.array.littleEndian, info.array.itemSize);
    const { handle } = await this.#graph.openArtifact(this.uid, info.output);
    try {
      await readFully(handle, receiver.bytes, info.array.dataOffset);
    } finally {
      await handle.close();
    }
    receiver.finish();
    return toNdArray(receiver.value.data, info.shape);
  }

  streamChunks(output: string, options: StreamFollowOptions = {}): AsyncIterableIterator<StreamChunk> {
    const graph = this.#graph;
    const uid = this.uid;
    return followStream(
      {
        name: `${uid}/${output}`,
        progress: (from) => streamProgress(graph, uid, output, from),
        chunk: async (info) => {
          const bytes = await readStreamChunk(graph, uid, output, info.index);
          if (bytes === undefined)
            throw new RunGraphError(
              'E_CORRUPT_STORE',
              `chunk ${info.index} of stream '${output}' of ${uid} was listed, then gone`,
              { value: uid },
            );
          return bytes;
        },
        idleError: (message) => new RunGraphError('E_NOT_COMMITTED', message, { value: uid }),
      },
      options,
    );
  }

  ledger(): Promise<LedgerEntry[]> {
    return this.#graph.ledger(this.uid);
  }
}
