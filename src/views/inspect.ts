/**
 * One store, looked at from outside: what made it (operation and version),
 * its state and timings, who owns it, and its artifacts with dtype, shape,
 * size and a short preview of their values. Reads only; takes no lock.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { JsonValue } from '../identity/canonical-json.js';
import { formatJson } from '../identity/json-text.js';
import { RunGraphError } from '../errors.js';
import { isUid, type NodeRecord, type Uid } from '../identity/fingerprint.js';
import { readLedger, type LedgerEntry } from '../store/ledger.js';
import { decodeNpy, elementCount, parseNpyHeader, type Dtype, type NpyHeader } from '../values/npy.js';
import type { ArtifactEntry, StoreMetadata } from '../store/metadata.js';
import type { OwnerInfo } from '../store/owner.js';
import { readStoreStatus } from '../store/store-status.js';
import { listStoreUids, workdirLayout } from '../store/workdir.js';
import { arrayToNestedList } from '../values/values.js';
import type { ConcreteGraph } from '../workflow/graph.js';

/** Arrays larger than this are previewed from their header only. */
const PREVIEW_MAX_BYTES = 16 * 1024 * 1024;
const PREVIEW_ELEMENTS = 8;
const PREVIEW_CHARS = 80;

/** One artifact of an inspected store. */
export interface ArtifactReport {
  output: string;
  kind: ArtifactEntry['kind'];
  path: string;
  size: number;
  sha256: string;
  dtype?: Dtype;
  shape?: number[];
  /** A short rendering of the value: the first elements of an array, the start of JSON or text. */
  preview: string;
}

/** Who builds a store, as far as it is known. */
export type InspectOwner = Pick<OwnerInfo, 'pid' | 'host'> &
  Partial<Omit<OwnerInfo, 'pid' | 'host'>> & { alive: boolean };

/** A store's state as inspect reports it; `not-started` for a node of the workflow with no store yet. */
export type InspectState = 'committed' | 'failed' | 'incomplete' | 'running' | 'not-started';

/** Everything `inspect` shows of one store. */
export interface InspectReport {
  uid: Uid;
  /** Labels of this uid in the workflow given, if any. */
  labels: string[];
  /** The store's directory; through a server, the node's URL. */
  storeDir: string;
  state: InspectState;
  operation: StoreMetadata['operation'];
  createdAt?: string;
  committedAt?: string;
  durationMs?: number;
  /**
   * The owner file, for a store being built (a committed store has none), and
   * whether that process is alive. Through a server, only the pid and host
   * of the live owner of a running store are known.
   */
  owner?: InspectOwner;
  record?: NodeRecord;
  artifacts: ArtifactReport[];
  /** Every ledger entry of this uid: when it was committed, by whom, with which upstream versions. */
  ledger: LedgerEntry[];
}

/** A target that may be a unique prefix of a store's uid: 6 to 63 hex digits. */
export const UID_PREFIX = /^[0-9a-f]{6,63}$/;

/**
 * The uid a command-line target names: a label of `graph`, a full uid, or a
 * unique prefix of at least 6 hex digits of a store's uid.
 */
export async function resolveTarget(
  target: string,
  workdir: string,
  graph: ConcreteGraph | undefined,
): Promise<{ uid: Uid; labels: string[] }> {
  const labelsOf = (uid: Uid): string[] =>
    graph === undefined ? [] : graph.nodes.filter((n) => n.uid === uid).map((n) => n.label);
  const byLabel = graph?.byLabel.get(target);
  if (byLabel !== undefined) return { uid: byLabel.uid, labels: labelsOf(byLabel.uid) };
  if (isUid(target)) return { uid: target, labels: labelsOf(target) };
  if (UID_PREFIX.test(target)) {
    const matches = [...(await listStoreUids(workdirLayout(workdir)))].filter((uid) => uid.startsWith(target));
    const [only] = matches;
    if (matches.length === 1 && only !== undefined) return { uid: only, labels: labelsOf(only) };
    if (matches.length > 1) {
      throw new RunGraphError(
        'E_UNKNOWN_NODE',
        `uid prefix '${target}' matches ${matches.length} stores in ${workdir}`,
        { value: target, hint: 'give more digits' },
      );
    }
  }
  throw new RunGraphError(
    'E_UNKNOWN_NODE',
    graph === undefined
      ? `'${target}' is not a uid (or uid prefix) of a store in ${workdir}`
      : `'${target}' is neither a label of the workflow nor the uid of a store in ${workdir}`,
    {
      ...(graph?.file === undefined ? {} : { file: graph.file }),
      value: target,
      hint:
        graph === undefined
          ? 'to inspect a node by label, pass --workflow FILE'
          : `labels: ${[...graph.byLabel.keys()].slice(0, 12).join(', ')}`,
    },
  );
}

function truncate(text: string, max = PREVIEW_CHARS): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max - 3)}...` : oneLine;
}

/** An artifact's bytes wherever they are: on disk, or on a server. */
export interface ArtifactBytes {
  /** Its size in bytes. */
  size: number;
  /** The whole file, or its first `maxBytes` bytes. */
  read(maxBytes?: number): Promise<Uint8Array>;
}

async function previewArray(bytes: ArtifactBytes, source: string): Promise<string> {
  if (bytes.size > PREVIEW_MAX_BYTES) return '(large array: not read)';
  const array = decodeNpy(await bytes.read(), source);
  const count = elementCount(array.shape);
  if (count <= PREVIEW_ELEMENTS) return truncate(formatJson(arrayToNestedList(array)));
  const first = Array.from(array.data.subarray(0, PREVIEW_ELEMENTS) as ArrayLike<number | bigint>, (x) => String(x));
  return `${first.join(', ')}, ... (${PREVIEW_ELEMENTS} of ${count} elements)`;
}

async function previewText(bytes: ArtifactBytes): Promise<string> {
  const head = Buffer.from(await bytes.read(Math.min(bytes.size, 512)));
  if (head.includes(0)) return `(binary, ${bytes.size} bytes)`;
  return bytes.size === 0 ? '(empty)' : truncate(head.toString('utf8'));
}

/** The bytes of a file on disk (its size from the file system). */
async function fileBytes(path: string): Promise<ArtifactBytes> {
  const { size } = await stat(path);
  return {
    size,
    read: async (maxBytes) => {
      if (maxBytes === undefined) return readFile(path);
      const handle = await open(path, 'r');
      try {
        const { bytesRead, buffer } = await handle.read(Buffer.alloc(maxBytes), 0, maxBytes, 0);
        return buffer.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    },
  };
}

/** The dtype and shape an `.npy` file's header says, from its first bytes only; undefined when it has none. */
async function npyFileType(
  bytes: ArtifactBytes,
  source: string,
): Promise<Pick<NpyHeader, 'dtype' | 'shape'> | undefined> {
  try {
    let head = await bytes.read(Math.min(bytes.size, 4096));
    // The header length: 2 bytes at offset 8 in format 1.0, 4 bytes in 2.0 and 3.0.
    const view = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
    const needed = view.length < 12 ? 0 : view[6] === 1 ? 10 + view.readUInt16LE(8) : 12 + view.readUInt32LE(8);
    if (needed > head.length && needed <= bytes.size) head = await bytes.read(needed);
    const { dtype, shape } = parseNpyHeader(head, source);
    return { dtype, shape };
  } catch {
    return undefined;
  }
}

/**
 * One artifact as inspect reports it, whose bytes `open` gives: its entry, a
 * preview, and for a file named `.npy` (a subprocess's output file, committed
 * as a plain file) the dtype and shape of its header.
 */
export async function reportArtifact(
  output: string,
  artifact: ArtifactEntry,
  open: () => Promise<ArtifactBytes>,
): Promise<ArtifactReport> {
  const preview = await previewArtifactFrom(artifact, open);
  const npy =
    artifact.kind === 'file' && artifact.path.endsWith('.npy')
      ? await open().then(
          (bytes) => npyFileType(bytes, artifact.path),
          () => undefined,
        )
      : undefined;
  return { output, ...artifact, ...(npy === undefined ? {} : { dtype: npy.dtype, shape: npy.shape }), preview };
}

/** A short preview of one artifact whose bytes `open` gives (a stream is described from its entry and never read). */
export async function previewArtifactFrom(
  artifact: ArtifactEntry,
  open: () => Promise<ArtifactBytes>,
): Promise<string> {
  if (artifact.kind === 'stream') {
    const chunks = artifact.chunks ?? [];
    return `a stream of ${chunks.length} chunk${chunks.length === 1 ? '' : 's'}, ${chunks.reduce((rows, c) => rows + c.rows, 0)} rows`;
  }
  try {
    const bytes = await open();
    if (artifact.kind === 'array' || artifact.path.endsWith('.npy')) return await previewArray(bytes, artifact.path);
    if (artifact.kind === 'json')
      return truncate(JSON.stringify(JSON.parse(Buffer.from(await bytes.read()).toString('utf8')) as JsonValue));
    return await previewText(bytes);
  } catch (error) {
    return `(cannot read: ${error instanceof RunGraphError ? error.message : error instanceof Error ? error.message : String(error)})`;
  }
}

/**
 * Everything known of the store `uid` in `workdir`. A uid with no store is
 * `not-started` when `graph` has a node with it (its operation from the
 * graph), and E_UNKNOWN_NODE otherwise.
 */
export async function inspectStore(
  workdir: string,
  uid: Uid,
  labels: string[],
  graph?: ConcreteGraph,
): Promise<InspectReport> {
  const layout = workdirLayout(workdir);
  const storeDir = layout.storeDir(uid);
  const store = await readStoreStatus(storeDir);
  const ledger = await readLedger(layout.root, uid);
  // A store without readable metadata is shown as its node of the graph, and as incomplete even while a live
  // owner holds its lock (where status says running): it has no operation or times of its own to show.
  if (store.state === 'not-started' || store.metadata === undefined) {
    const exists = store.state !== 'not-started';
    const node = graph?.nodes.find((n) => n.uid === uid);
    if (node === undefined) {
      throw new RunGraphError(
        'E_UNKNOWN_NODE',
        exists ? `store ${uid} in ${workdir} has no readable metadata.json` : `no store ${uid} in ${workdir}`,
        {
          value: uid,
          hint: exists
            ? 'a store cut short before its first write; the next run rebuilds it'
            : 'is this the right --workdir?',
        },
      );
    }
    return {
      uid,
      labels,
      storeDir,
      state: exists ? 'incomplete' : 'not-started',
      operation: {
        namespace: node.operation.namespace,
        name: node.operation.name,
        version: node.operation.version ?? null,
      },
      record: node.record,
      artifacts: [],
      ledger,
    };
  }
  const { metadata, owner } = store;
  const artifacts: ArtifactReport[] = [];
  if (store.state === 'committed') {
    for (const [output, artifact] of Object.entries(store.metadata.artifacts)) {
      artifacts.push(await reportArtifact(output, artifact, () => fileBytes(join(storeDir, artifact.path))));
    }
  }
  return {
    uid,
    labels,
    storeDir,
    state: store.state,
    operation: metadata.operation,
    createdAt: metadata.createdAt,
    ...(store.state === 'committed'
      ? { committedAt: store.metadata.committedAt, durationMs: store.metadata.durationMs }
      : {}),
    ...(owner === undefined ? {} : { owner }),
    record: metadata.record,
    artifacts,
    ledger,
  };
}
