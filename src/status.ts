/**
 * What the working directory holds for each node of a graph, read without
 * taking any lock or writing anything: committed, not started, incomplete
 * (a store exists but was never committed), or running (its lock is held by
 * a live owner).
 */
import type { Uid } from './fingerprint.js';
import { isLocked } from './store/lock.js';
import { isCommitted, readStoreMetadata } from './store/metadata.js';
import { isOwnerDead, readOwner } from './store/owner.js';
import { listStoreUids, workdirLayout } from './store/workdir.js';
import type { ConcreteGraph } from './workflow/graph.js';

export type NodeState =
  | { state: 'committed'; committedAt: string; durationMs: number }
  | { state: 'not-started' }
  | { state: 'incomplete' }
  | { state: 'running'; owner: { pid: number; host: string } };

export type NodeStatus = { label: string; uid: Uid; operation: string } & NodeState;

export interface StatusReport {
  nodes: NodeStatus[];
  counts: { [S in NodeState['state']]: number } & { total: number };
}

/** The state of every node of `graph` in the working directory `workdir` (which need not exist). */
export async function readStatus(graph: ConcreteGraph, workdir: string): Promise<StatusReport> {
  const layout = workdirLayout(workdir);
  const existing = await listStoreUids(layout);
  const counts = { committed: 0, 'not-started': 0, incomplete: 0, running: 0, total: graph.nodes.length };
  const nodes: NodeStatus[] = [];
  for (const node of graph.nodes) {
    const base = { label: node.label, uid: node.uid, operation: `${node.operation.namespace}.${node.operation.name}` };
    let state: NodeState = { state: 'not-started' };
    if (existing.has(node.uid)) {
      const storeDir = layout.storeDir(node.uid);
      const metadata = await readStoreMetadata(storeDir);
      if (isCommitted(metadata)) {
        state = { state: 'committed', committedAt: metadata.committedAt, durationMs: metadata.durationMs };
      } else {
        state = { state: 'incomplete' };
        if (await isLocked(storeDir)) {
          const owner = await readOwner(storeDir);
          if (owner !== undefined && !isOwnerDead(owner)) state = { state: 'running', owner: { pid: owner.pid, host: owner.host } };
        }
      }
    }
    counts[state.state]++;
    nodes.push({ ...base, ...state });
  }
  return { nodes, counts };
}
