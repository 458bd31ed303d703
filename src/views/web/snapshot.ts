/**
 * The web page's view of a working directory: every node of the workflow
 * with its state and timings, read as `status` reads them (no lock taken,
 * nothing written), plus where each committed node ran, from the ledger.
 * Both `GET /v1/view` and `run-graph report` answer from here.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { RunGraphError } from '../../errors.js';
import { readLedger } from '../../store/ledger.js';
import { workdirLayout } from '../../store/workdir.js';
import type { ConcreteGraph } from '../../workflow/graph.js';
import { describePriorStore } from '../explain/prior-versions.js';
import { describeExplanation, explainNode } from '../explain/explain.js';
import { readStatus, type NodeStatus } from '../status.js';
import { describeAttempt, readAttemptLogs, type AttemptLogs } from '../logs.js';
import {
  VIEW_LOG_BYTES,
  type ViewExplanation,
  type ViewLogs,
  type ViewLogText,
  type ViewNode,
  type ViewSnapshot,
} from './types.js';

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
/**
 * The latest attempt's logs of node `label`, or undefined when it has none
 * (it never ran). Each file is opened without following a symbolic link (a
 * command could put one in place of its own log) and only its end is read.
 */
export async function viewLogs(graph: ConcreteGraph, label: string, workdir: string): Promise<ViewLogs | undefined> {
  let logs: AttemptLogs;
  try {
    logs = await readAttemptLogs(graph, label, workdir, undefined);
  } catch (error) {
    if (error instanceof RunGraphError && error.code === 'E_USAGE') return undefined;
    throw error;
  }
  const stdout = logs.stdout === undefined ? undefined : await logTail(logs.stdout);
  const stderr = logs.stderr === undefined ? undefined : await logTail(logs.stderr);
  return {
    label,
    attempt: logs.attempt,
    heading: describeAttempt(logs),
    ...(logs.outcome.state === 'failed' ? { error: logs.outcome.failure.error.message } : {}),
    ...(stdout === undefined ? {} : { stdout }),
    ...(stderr === undefined ? {} : { stderr }),
  };
}

async function logTail(path: string): Promise<ViewLogText | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, VIEW_LOG_BYTES);
    const bytes = Buffer.alloc(length);
    const { bytesRead } = await handle.read(bytes, 0, length, size - length);
    return { text: bytes.subarray(0, bytesRead).toString('utf8'), size };
  } finally {
    await handle.close();
  }
}

export async function viewExplanation(graph: ConcreteGraph, label: string, workdir: string): Promise<ViewExplanation> {
  const explanation = await explainNode(graph, label, workdir);
  return { label, verdict: explanation.verdict, lines: describeExplanation(explanation, workdir) };
}
