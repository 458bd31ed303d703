/**
 * Stores made by other versions of the same operations. A node whose uid
 * has no store may still have a "prior" store: one whose record is the
 * node's record with other operation versions, here or anywhere upstream.
 * Found by matching records with the versions taken out, walking the graph
 * in order and mapping each upstream uid to its own prior store's uid, so a
 * version bump is traced down to every descendant it re-runs.
 */
import { canonicalJson, type JsonValue } from '../../identity/canonical-json.js';
import { isJsonFloat } from '../../identity/json-numbers.js';
import type { NodeRecord, Uid } from '../../identity/fingerprint.js';
import type { StoreMetadata } from '../../store/metadata.js';
import type { ConcreteGraph, GraphNode } from '../../workflow/graph.js';

/** One operation whose version differs between a node's record and its prior store's. */
export interface VersionChange {
  /** The node of the graph that uses the operation. */
  label: string;
  /** `namespace.name`. */
  operation: string;
  from: string | null;
  to: string | null;
}

/** A node's prior store and what separates the two. */
export interface PriorStore {
  uid: Uid;
  /** The node's own operation version changed. */
  own: VersionChange | undefined;
  /** Version changes upstream, nearest first; each upstream node once. */
  upstream: VersionChange[];
}

function mapRefs(value: JsonValue, mapUid: (uid: string) => string): JsonValue {
  if (Array.isArray(value)) return value.map((item) => mapRefs(item, mapUid));
  if (typeof value !== 'object' || value === null || isJsonFloat(value)) return value;
  const ref = value['$ref'];
  if (typeof ref === 'string' && Object.keys(value).length === 1) {
    const dot = ref.indexOf('.');
    return { $ref: dot < 0 ? mapUid(ref) : `${mapUid(ref.slice(0, dot))}${ref.slice(dot)}` };
  }
  const out: { [key: string]: JsonValue } = {};
  for (const [key, child] of Object.entries(value)) out[key] = mapRefs(child, mapUid);
  return out;
}

/** A record with the operation version left out: equal for two versions of the same work. */
export function versionlessKey(record: NodeRecord, mapUid: (uid: string) => string = (uid) => uid): string {
  return canonicalJson({
    depends: record.depends.map(mapUid).sort(),
    input: mapRefs(record.input, mapUid),
    operation: record.operation.slice(0, 2),
  });
}

/** Whether a store's metadata holds a well-formed record (a hand-edited or foreign one may not). */
export function hasRecord(metadata: StoreMetadata | undefined): metadata is StoreMetadata {
  const record = metadata?.record as Partial<NodeRecord> | undefined;
  return (
    Array.isArray(record?.depends) &&
    typeof record?.input === 'object' &&
    record.input !== null &&
    Array.isArray(record.operation) &&
    typeof metadata?.operation === 'object'
  );
}

function describe(node: GraphNode): string {
  return `${node.operation.namespace}.${node.operation.name}`;
}

/**
 * For each node of `graph` with no store of its own, the prior store made by
 * other operation versions, if there is one. Nodes whose store exists, or
 * that have no prior store, are absent from the result.
 */
export function findPriorStores(
  graph: ConcreteGraph,
  stores: ReadonlyMap<Uid, StoreMetadata | undefined>,
): Map<string, PriorStore> {
  const byKey = new Map<string, { uid: Uid; metadata: StoreMetadata }>();
  for (const [uid, metadata] of stores) {
    if (!hasRecord(metadata)) continue;
    const key = versionlessKey(metadata.record);
    const known = byKey.get(key);
    // Prefer a committed store, then the newest.
    const better =
      known === undefined ||
      (metadata.state === 'committed' && known.metadata.state !== 'committed') ||
      (metadata.state === known.metadata.state && metadata.createdAt > known.metadata.createdAt);
    if (better) byKey.set(key, { uid, metadata });
  }
  const twin = new Map<Uid, Uid>();
  const changesOf = new Map<Uid, VersionChange[]>();
  const result = new Map<string, PriorStore>();
  for (const node of graph.nodes) {
    if (stores.has(node.uid)) {
      twin.set(node.uid, node.uid);
      changesOf.set(node.uid, []);
      continue;
    }
    const found = byKey.get(versionlessKey(node.record, (uid) => twin.get(uid as Uid) ?? uid));
    if (found === undefined) continue;
    const ownVersion = node.operation.version ?? null;
    const priorVersion = found.metadata.operation.version;
    const own =
      ownVersion === priorVersion
        ? undefined
        : { label: node.label, operation: describe(node), from: priorVersion, to: ownVersion };
    const upstream: VersionChange[] = [];
    const seen = new Set<string>();
    for (const u of node.upstream) {
      const up = graph.nodes[u];
      for (const change of up === undefined ? [] : (changesOf.get(up.uid) ?? [])) {
        if (!seen.has(change.label)) {
          seen.add(change.label);
          upstream.push(change);
        }
      }
    }
    twin.set(node.uid, found.uid);
    changesOf.set(node.uid, own === undefined ? upstream : [own, ...upstream]);
    if (own !== undefined || upstream.length > 0) result.set(node.label, { uid: found.uid, own, upstream });
  }
  return result;
}

/** `demo.simulate 1.2 -> 1.3`. */
export function describeVersionChange(change: VersionChange): string {
  return `${change.operation} ${change.from ?? '(unversioned)'} -> ${change.to ?? '(unversioned)'}`;
}

/** `will run: demo.simulate 1.2 -> 1.3`, or for a descendant `will run: upstream 'sim' demo.simulate 1.2 -> 1.3`. */
export function describePriorStore(prior: PriorStore): string {
  const parts = [
    ...(prior.own === undefined ? [] : [describeVersionChange(prior.own)]),
    ...prior.upstream.map((change) => `upstream '${change.label}' ${describeVersionChange(change)}`),
  ];
  return `will run: ${parts.join('; ')}`;
}
