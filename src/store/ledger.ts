/**
 * The ledger: what an op store keeps. For every node a working directory
 * ever committed: its operation and version, when, by which process, the
 * nodes it read from directly (with the versions that made them), and every
 * operation version anywhere upstream of it, so that it is known which
 * versions were validated together. It survives `gc` (a history, not an
 * index of what exists), and `inspect` and `explain` read it. Its size per
 * entry is bounded by the direct dependencies and the number of distinct
 * operation versions, not by the size of the upstream graph, so a loop of
 * ten thousand iterations does not write ten thousand uids per entry.
 *
 * Layout: `<workdir>/ledger/<uid>.<time>.<context>.<random>.json`, one small file per
 * commit, written once under a temporary name beginning with '.' and renamed
 * into place, never changed afterwards. Why files and not one append-only
 * log: a rename is atomic on every POSIX file system, NFS included, while
 * O_APPEND is not atomic across NFS clients, and workers on several hosts may
 * share a working directory; with one file per entry, concurrent writers
 * never touch the same file (each name holds the writer's context id), so
 * there is nothing to lock. Readers skip names beginning with '.', so a
 * writer that died mid-write leaves nothing a reader sees.
 *
 * Written right after the store commits, not fsynced: a crash in between
 * leaves a committed store without its ledger entry, never an entry without
 * a store that was committed.
 */
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { createFile, uniqueSuffix } from './durable.js';
import { join } from 'node:path';
import type { NodeRecord, Uid } from '../identity/fingerprint.js';
import { METADATA_FILE, type StoreMetadata } from './metadata.js';
import type { OwnerInfo } from './owner.js';

/** The ledger's directory inside a working directory. */
export const LEDGER_DIR = 'ledger';
/** Format tag of every entry, so a later layout can be told apart. */
export const LEDGER_FORMAT = 'run-graph-ledger/1';

/** An operation and its version, as a ledger entry names it. */
export interface LedgerOperation {
  namespace: string;
  name: string;
  /** null for SCALE-MS's unversioned data operations. */
  version: string | null;
}

/** A node a committed node read from, with the operation version that made it. */
export interface LedgerUpstream {
  uid: Uid;
  /** Its label in the graph that ran the committed node; null when not known (a reused node a loop made). */
  label: string | null;
  /** null when its store cannot be read. */
  operation: LedgerOperation | null;
}

/** One commit. */
export interface LedgerEntry {
  format: typeof LEDGER_FORMAT;
  uid: Uid;
  /** The label the node had in the graph that ran it (labels are not identity). */
  label: string;
  operation: LedgerOperation;
  committedAt: string;
  ranBy: { pid: number; host: string; contextId: string };
  /** The nodes this one read from directly, sorted by uid. */
  depends: LedgerUpstream[];
  /** Every operation version anywhere upstream (transitively), each once, sorted: what this result was validated with. */
  upstreamVersions: LedgerOperation[];
}

/** Every operation version the ledger has seen run. */
export interface LedgerOperationSummary {
  operation: LedgerOperation;
  firstCommittedAt: string;
  lastCommittedAt: string;
  /** Commits made by this version. */
  commits: number;
}

/** Absolute path of the ledger of a working directory. */
export function ledgerDir(workdirRoot: string): string {
  return join(workdirRoot, LEDGER_DIR);
}

/** What the ledger reads of a graph node: a node of any graph (the engine's LedgerNode among them) fits. */
export interface LedgerNode {
  readonly uid: Uid;
  readonly label: string;
  readonly record: NodeRecord;
  readonly operation: { readonly namespace: string; readonly name: string; readonly version?: string | undefined };
}

function operationOf(node: LedgerNode): LedgerOperation {
  return { namespace: node.operation.namespace, name: node.operation.name, version: node.operation.version ?? null };
}

/** What the ledger needs to know of a node to describe nodes downstream of it. */
interface KnownNode {
  label: string | null;
  operation: LedgerOperation | null;
  depends: readonly Uid[];
}

function operationKey(op: LedgerOperation): string {
  return JSON.stringify([op.namespace, op.name, op.version]);
}

/**
 * Operation versions upstream of nodes, by uid, memoized. Nodes of the graph
 * are known; a node outside it (a loop iteration reused from an earlier run)
 * is read from its store's metadata once. Iterative, so a long chain of loop
 * iterations cannot overflow the stack.
 */
export class UpstreamVersions {
  readonly #known = new Map<Uid, KnownNode | undefined>();
  readonly #memo = new Map<Uid, Map<string, LedgerOperation>>();

  constructor(
    nodes: readonly LedgerNode[],
    private readonly storeDir: (uid: Uid) => string,
  ) {
    for (const node of nodes) this.add(node);
  }

  /** Make a node known (one a loop generated, say). */
  add(node: LedgerNode): void {
    this.#known.set(node.uid, { label: node.label, operation: operationOf(node), depends: node.record.depends });
  }

  known(uid: Uid): KnownNode | undefined {
    if (!this.#known.has(uid)) this.#known.set(uid, this.#readStore(uid));
    return this.#known.get(uid);
  }

  #readStore(uid: Uid): KnownNode | undefined {
    try {
      const metadata = JSON.parse(
        readFileSync(join(this.storeDir(uid), METADATA_FILE), 'utf8'),
      ) as Partial<StoreMetadata>;
      const depends = metadata.record?.depends;
      const op = metadata.operation;
      return {
        label: null,
        operation: op === undefined ? null : { namespace: op.namespace, name: op.name, version: op.version },
        depends: Array.isArray(depends) ? depends : [],
      };
    } catch {
      return undefined;
    }
  }

  /** Every operation version strictly upstream of `uid`, sorted. */
  of(uid: Uid): LedgerOperation[] {
    const stack: [Uid, boolean][] = [[uid, false]];
    while (stack.length > 0) {
      const [at, expanded] = stack.pop() as [Uid, boolean];
      if (this.#memo.has(at)) continue;
      const depends = this.known(at)?.depends ?? [];
      if (!expanded) {
        stack.push([at, true]);
        for (const d of depends) if (!this.#memo.has(d)) stack.push([d, false]);
        continue;
      }
      const versions = new Map<string, LedgerOperation>();
      for (const d of depends) {
        const op = this.known(d)?.operation;
        if (op !== null && op !== undefined) versions.set(operationKey(op), op);
        for (const [key, value] of this.#memo.get(d) ?? []) versions.set(key, value);
      }
      this.#memo.set(at, versions);
    }
    return [...(this.#memo.get(uid)?.values() ?? [])].sort((a, b) => operationKey(a).localeCompare(operationKey(b)));
  }
}

/** The entry for `node`, committed at `committedAt` by `owner`. */
export function ledgerEntry(
  node: LedgerNode,
  upstream: UpstreamVersions,
  owner: OwnerInfo,
  committedAt: Date,
): LedgerEntry {
  const depends = [...new Set(node.record.depends)].sort().map((uid) => {
    const known = upstream.known(uid);
    return { uid, label: known?.label ?? null, operation: known?.operation ?? null };
  });
  return {
    format: LEDGER_FORMAT,
    uid: node.uid,
    label: node.label,
    operation: operationOf(node),
    committedAt: committedAt.toISOString(),
    ranBy: { pid: owner.pid, host: owner.host, contextId: owner.contextId },
    depends,
    upstreamVersions: upstream.of(node.uid),
  };
}

/**
 * Write one entry: a new file under a temporary name, renamed into place.
 * Throws on a file system error (the caller reports it; the store is
 * committed either way).
 */
export async function writeLedgerEntry(workdirRoot: string, entry: LedgerEntry): Promise<string> {
  const dir = ledgerDir(workdirRoot);
  const stamp = entry.committedAt.replace(/[-:.]/g, '');
  const name = `${entry.uid}.${stamp}.${entry.ranBy.contextId.slice(0, 8)}.${uniqueSuffix()}.json`;
  const temporary = join(dir, `.${name}.tmp`);
  await createFile(temporary, `${JSON.stringify(entry, null, 2)}\n`, { fsync: false });
  await rename(temporary, join(dir, name));
  return name;
}

/** One ledger entry file, or undefined when it cannot be read or is not an entry. */
export async function readLedgerFile(path: string): Promise<LedgerEntry | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<LedgerEntry>;
    return parsed.format === LEDGER_FORMAT ? (parsed as LedgerEntry) : undefined;
  } catch {
    return undefined;
  }
}

/** Every entry of a working directory's ledger, oldest first; unreadable files are skipped. */
export async function readLedger(workdirRoot: string, uid?: Uid): Promise<LedgerEntry[]> {
  const names = await readdir(ledgerDir(workdirRoot)).catch(() => [] as string[]);
  const wanted = names.filter(
    (name) => !name.startsWith('.') && name.endsWith('.json') && (uid === undefined || name.startsWith(`${uid}.`)),
  );
  const entries = await Promise.all(wanted.map((name) => readLedgerFile(join(ledgerDir(workdirRoot), name))));
  return entries
    .filter((e): e is LedgerEntry => e !== undefined)
    .sort((a, b) => (a.committedAt < b.committedAt ? -1 : a.committedAt > b.committedAt ? 1 : 0));
}

/** `namespace.name version`, or `namespace.name` for an unversioned operation. */
export function describeLedgerOperation(op: LedgerOperation): string {
  return op.version === null ? `${op.namespace}.${op.name}` : `${op.namespace}.${op.name} ${op.version}`;
}

/** Each operation version ever run, with when it first and last committed something. */
export function summarizeLedger(entries: readonly LedgerEntry[]): LedgerOperationSummary[] {
  const byKey = new Map<string, LedgerOperationSummary>();
  for (const entry of entries) {
    const key = JSON.stringify([entry.operation.namespace, entry.operation.name, entry.operation.version]);
    const known = byKey.get(key);
    if (known === undefined) {
      byKey.set(key, {
        operation: entry.operation,
        firstCommittedAt: entry.committedAt,
        lastCommittedAt: entry.committedAt,
        commits: 1,
      });
    } else {
      known.commits++;
      if (entry.committedAt < known.firstCommittedAt) known.firstCommittedAt = entry.committedAt;
      if (entry.committedAt > known.lastCommittedAt) known.lastCommittedAt = entry.committedAt;
    }
  }
  return [...byKey.values()].sort((a, b) =>
    describeLedgerOperation(a.operation).localeCompare(describeLedgerOperation(b.operation)),
  );
}

/** What a WorkerContext records in the ledger during one run. */
export interface LedgerRecorder {
  /** Record the commit of `node`: its entry is made now and written in the background. Never throws. */
  record(node: LedgerNode): void;
  /** Wait until every entry recorded so far is written (or has failed and been reported). */
  flush(): Promise<void>;
}

/**
 * The ledger of one run: records the entry of each node it commits, the
 * graph's own and those loops generate. An entry is made when its node
 * commits and written in the background, off the commit path: creating a
 * file waits for the file system's journal like a commit does, and a node's
 * successors need not wait for its history. The run flushes the ledger
 * before it ends. A failure goes to `onError`: the store is committed
 * whether or not its ledger entry is written.
 */
export function ledgerRecorder(
  graph: { readonly nodes: readonly LedgerNode[] },
  workdirRoot: string,
  owner: OwnerInfo,
  onError: (node: LedgerNode, error: unknown) => void,
): LedgerRecorder {
  const upstream = new UpstreamVersions(graph.nodes, (uid) => join(workdirRoot, uid));
  const pending = new Set<Promise<void>>();
  let ready: Promise<unknown> | undefined;
  return {
    record(node) {
      let entry: LedgerEntry;
      try {
        upstream.add(node);
        entry = ledgerEntry(node, upstream, owner, new Date());
      } catch (error) {
        onError(node, error);
        return;
      }
      ready ??= mkdir(ledgerDir(workdirRoot), { recursive: true });
      const write = ready
        .then(() => writeLedgerEntry(workdirRoot, entry))
        .then(
          () => undefined,
          (error: unknown) => onError(node, error),
        )
        .finally(() => pending.delete(write));
      pending.add(write);
    },
    async flush() {
      while (pending.size > 0) await Promise.all(pending);
    },
  };
}
