/**
 * The web page's view of a working directory: every node of the workflow
 * with its state and timings, read as `status` reads them (no lock taken,
 * nothing written), plus where each committed node ran, from the ledger.
 * Both `GET /v1/view` and `run-graph report` answer from here.
 */
import { basename } from 'node:path';
import { readLedger } from '../../store/ledger.js';
import { workdirLayout } from '../../store/workdir.js';
import type { ConcreteGraph } from '../../workflow/graph.js';
import { describePriorStore } from '../explain/prior-versions.js';
import { describeExplanation, explainNode } from '../explain/explain.js';
import { readStatus, type NodeStatus } from '../status.js';
import type { ViewExplanation, ViewNode, ViewSnapshot } from './types.js';

function viewNode(status: NodeStatus, upstream: number[], version: string | null): ViewNode {
  const base = { label: status.label, uid: status.uid, operation: status.operation, version, upstream };
  const progress = status.progress === undefined ? {} : { progress: status.progress };
  switch (status.state) {
    case 'committed':
      return {
        ...base,
        state: 'committed',
        committedAt: status.committedAt,
        durationMs: status.durationMs,
        startedAt: new Date(Date.parse(status.committedAt) - status.durationMs).toISOString(),
      };
    case 'running':
      return { ...base, state: 'running', host: status.owner.host, pid: status.owner.pid, ...progress };
    case 'incomplete':
      return { ...base, state: 'incomplete', ...progress };
    case 'failed':
      return {
        ...base,
        state: 'failed',
        failure: `failed (${status.cause}, attempt ${status.attempt} of ${status.lastAttempt}): ${status.message}`,
      };
    case 'not-started':
      return status.prior === undefined
        ? { ...base, state: 'not-started' }
        : { ...base, state: 'outdated', outdated: describePriorStore(status.prior) };
  }
}

/** Every node of `graph` with its state in `workdir` (which need not exist). */
export async function viewSnapshot(graph: ConcreteGraph, workdir: string): Promise<ViewSnapshot> {
  const report = await readStatus(graph, workdir);
  const nodes = report.nodes.map((status, i) => {
    const node = graph.nodes[i];
    return viewNode(status, [...(node?.upstream ?? [])], node?.operation.version ?? null);
  });
  if (nodes.some((n) => n.state === 'committed')) {
    // The ledger directory is read once; a uid committed more than once keeps its latest entry.
    const ranBy = new Map<string, { host: string; pid: number; committedAt: string }>();
    for (const entry of await readLedger(workdirLayout(workdir).root)) {
      const known = ranBy.get(entry.uid);
      if (known === undefined || known.committedAt < entry.committedAt)
        ranBy.set(entry.uid, { host: entry.ranBy.host, pid: entry.ranBy.pid, committedAt: entry.committedAt });
    }
    for (const node of nodes) {
      const ran = node.state === 'committed' ? ranBy.get(node.uid) : undefined;
      if (ran !== undefined) Object.assign(node, { host: ran.host, pid: ran.pid });
    }
  }
  return {
    file: graph.file === undefined ? null : basename(graph.file),
    generatedAt: new Date().toISOString(),
    nodes,
  };
}

/** `explain` of one node, as the page shows it. */
export async function viewExplanation(graph: ConcreteGraph, label: string, workdir: string): Promise<ViewExplanation> {
  const explanation = await explainNode(graph, label, workdir);
  return { label, verdict: explanation.verdict, lines: describeExplanation(explanation, workdir) };
}
