/**
 * `inspect` through a server: the report a local inspect gives (`InspectReport`),
 * built from what the API serves. The store's place is the node's URL; the
 * owner of a running store is known by pid and host only; a node of the
 * workflow with no store yet is `not-started`, as locally.
 */
import type { NodeInfo, RootNode } from '../views/browse/types.js';
import { RunGraphError } from '../errors.js';
import { isUid, type NodeRecord, type Uid } from '../identity/fingerprint.js';
import { UID_PREFIX, reportArtifact, type ArtifactReport, type InspectReport } from '../views/inspect.js';
import type { LedgerEntry } from '../store/ledger.js';
import { isCommitted } from '../store/metadata.js';
import type { ConcreteGraph } from '../workflow/graph.js';
import type { RemoteGraph } from './connect.js';
import type { RemoteNode } from './remote-node.js';
import { RemoteError } from './transport.js';

/** A target resolved on a server: its uid and, when a workflow names it, its labels and operation. */
export interface RemoteTarget {
  uid: Uid;
  /** Labels in the workflow given, else in the served one (undefined: ask the server with the node's info). */
  labels: string[] | undefined;
  /** What the workflow says the node is, for a node that has no store yet. */
  planned?: { operation: InspectReport['operation']; record?: NodeRecord };
}

function isUnknownNode(error: unknown): boolean {
  return error instanceof RemoteError && error.status === 'UNKNOWN_NODE';
}

/** A root node's operation: `namespace.name` split at its last dot. */
function rootOperation(node: RootNode): InspectReport['operation'] {
  const dot = node.operation.lastIndexOf('.');
  return {
    namespace: node.operation.slice(0, dot),
    name: node.operation.slice(dot + 1),
    version: node.version ?? null,
  };
}

/**
 * The uid a command-line target names on a server: a label of the local
 * `workflow` if one is given, else of the workflow the server serves; a
 * full uid; or a unique prefix of at least 6 hex digits of a served store's uid.
 */
export async function resolveRemoteTarget(
  graph: RemoteGraph,
  target: string,
  workflow?: ConcreteGraph,
): Promise<RemoteTarget> {
  if (workflow !== undefined) {
    const labelsOf = (uid: Uid): string[] => workflow.nodes.filter((n) => n.uid === uid).map((n) => n.label);
    const node = workflow.byLabel.get(target);
    const uid = node?.uid ?? (isUid(target) ? target : undefined);
    const planned = workflow.nodes.find((n) => n.uid === uid);
    const known =
      planned === undefined
        ? {}
        : {
            planned: {
              operation: {
                namespace: planned.operation.namespace,
                name: planned.operation.name,
                version: planned.operation.version ?? null,
              },
              record: planned.record,
            },
          };
    if (uid !== undefined) return { uid, labels: labelsOf(uid), ...known };
  }
  const root = workflow === undefined && graph.server.workflow ? await graph.root() : undefined;
  const served =
    root?.nodes.find((n) => n.label === target) ??
    (isUid(target) ? root?.nodes.find((n) => n.uid === target) : undefined);
  if (served !== undefined) {
    return {
      uid: served.uid,
      labels: root?.nodes.filter((n) => n.uid === served.uid).map((n) => n.label),
      planned: { operation: rootOperation(served) },
    };
  }
  if (isUid(target)) return { uid: target, labels: workflow === undefined ? undefined : [] };
  if (UID_PREFIX.test(target)) {
    const matches = (await graph.uids()).filter((uid) => uid.startsWith(target));
    const [only] = matches;
    if (matches.length === 1 && only !== undefined) return resolveRemoteTarget(graph, only, workflow);
    if (matches.length > 1)
      throw new RunGraphError(
        'E_UNKNOWN_NODE',
        `uid prefix '${target}' matches ${matches.length} stores at ${graph.url}`,
        { value: target, hint: 'give more digits' },
      );
  }
  const labels = workflow !== undefined ? [...workflow.byLabel.keys()] : (root?.nodes.map((n) => n.label) ?? []);
  throw new RunGraphError(
    'E_UNKNOWN_NODE',
    `'${target}' is neither a label of the ${workflow !== undefined ? 'workflow' : 'served workflow'} nor the uid of a store at ${graph.url}`,
    {
      ...(workflow?.file === undefined ? {} : { file: workflow.file }),
      value: target,
      hint:
        labels.length > 0
          ? `labels: ${labels.slice(0, 12).join(', ')}`
          : 'the server serves no workflow: name a uid (or a unique uid prefix)',
    },
  );
}

/** The ledger entries of a uid; none when the server has neither store nor entry for it. */
async function ledgerOf(node: RemoteNode): Promise<LedgerEntry[]> {
  try {
    return await node.ledger();
  } catch (error) {
    if (isUnknownNode(error)) return [];
    throw error;
  }
}

/** Everything a server tells of one node, in the shape of a local inspect. */
export async function inspectRemoteStore(graph: RemoteGraph, target: RemoteTarget): Promise<InspectReport> {
  const { uid } = target;
  const node = graph.node(uid);
  const storeDir = graph.transport.url(`/v1/nodes/${uid}`).href;
  let info: NodeInfo;
  try {
    info = await node.info();
  } catch (error) {
    if (!isUnknownNode(error)) throw error;
    if (target.planned === undefined) {
      throw new RunGraphError('E_UNKNOWN_NODE', `no store ${uid} at ${graph.url}`, {
        value: uid,
        hint: 'is this the right server?',
        cause: error,
      });
    }
    return {
      uid,
      labels: target.labels ?? [],
      storeDir,
      state: 'not-started',
      operation: target.planned.operation,
      ...(target.planned.record === undefined ? {} : { record: target.planned.record }),
      artifacts: [],
      ledger: await ledgerOf(node),
    };
  }
  const metadata = await node.meta();
  const artifacts: ArtifactReport[] = [];
  if (isCommitted(metadata)) {
    for (const [output, artifact] of Object.entries(metadata.artifacts)) {
      artifacts.push(
        await reportArtifact(output, artifact, async () => ({
          size: artifact.size,
          read: (maxBytes) =>
            node.bytes(
              output,
              maxBytes === undefined ? undefined : { start: 0, end: Math.min(maxBytes, artifact.size) },
            ),
        })),
      );
    }
  }
  // The metadata was read after the info: the later word on whether the store is committed.
  const state = isCommitted(metadata) ? 'committed' : info.state === 'running' ? 'running' : 'incomplete';
  return {
    uid,
    labels: target.labels ?? info.labels,
    storeDir,
    state,
    operation: metadata.operation,
    createdAt: metadata.createdAt,
    ...(isCommitted(metadata) ? { committedAt: metadata.committedAt, durationMs: metadata.durationMs } : {}),
    ...(info.state === 'running' && state === 'running'
      ? { owner: { pid: info.owner.pid, host: info.owner.host, alive: true } }
      : {}),
    record: metadata.record,
    artifacts,
    ledger: await ledgerOf(node),
  };
}
