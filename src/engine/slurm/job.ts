/**
 * The job side of the Slurm executor: what `run-graph slurm-job` does inside
 * a Slurm job. It reads its submission record, takes the nodes it was given
 * (with their upstream nodes, already committed, which it reuses) out of the
 * graph, and builds them in the shared working directory through an
 * ordinary WorkerContext: claim, execute through the local executor, commit.
 * Then it writes what became of each node beside the record, for the
 * controller.
 */
import { RunGraphError } from '../../errors.js';
import type { Uid } from '../../identity/fingerprint.js';
import type { ConcreteGraph, GraphNode } from '../../workflow/graph.js';
import type { EventListener } from '../events.js';
import { WorkerContext, type RunSummary } from '../worker-context.js';
import { readSubmission, writeOutcome, type SubmissionOutcome } from './submissions.js';

export interface SlurmJobOptions {
  readonly workdir: string;
  /** The submission's name (its job name). */
  readonly submission: string;
  /** Operations at once in this job. Default: the worker context's (what this process may use). */
  readonly jobs?: number;
  readonly staleMs?: number;
  readonly executionLog?: string;
  readonly onEvent?: EventListener;
  readonly signal?: AbortSignal;
}

/**
 * The given nodes and the nodes they read from, as a graph of their own
 * (indices renumbered, order kept). The controller submits a node only once
 * every upstream node is committed, so those are reused as they are: they
 * come without their own upstream nodes, and a job's cost does not grow with
 * the depth of the graph above its nodes. The nodes' time limit is left to
 * Slurm, which was given it (times the nodes of the job) and reports its
 * end as TIMEOUT.
 */
export function subgraphOf(graph: ConcreteGraph, uids: ReadonlySet<Uid>): ConcreteGraph {
  const targets = new Set<number>();
  const keep = new Set<number>();
  graph.nodes.forEach((node, i) => {
    if (!uids.has(node.uid)) return;
    targets.add(i);
    keep.add(i);
    for (const u of node.upstream) keep.add(u);
  });
  const order = [...keep].sort((a, b) => a - b);
  const renumber = new Map(order.map((old, fresh) => [old, fresh]));
  const nodes: GraphNode[] = order.map((old) => {
    const node = graph.nodes[old] as GraphNode;
    if (!targets.has(old)) return { ...node, upstream: [] };
    // Slurm holds the job to its nodes' time (sbatch --time), and says TIMEOUT when it is up: no second clock here.
    // The controller retries a failed node with a new job, so the job tries each node once: no retries twice over.
    return {
      ...node,
      upstream: node.upstream.map((u) => renumber.get(u) as number),
      resources: { ...node.resources, timeSeconds: undefined },
      retry: { ...node.retry, retries: 0 },
    };
  });
  return {
    nodes,
    byLabel: new Map(nodes.map((n) => [n.label, n])),
    file: graph.file,
    ...(graph.assembler === undefined ? {} : { assembler: graph.assembler }),
  };
}

/** Build the nodes of one submission; write its outcome file. */
export async function runSlurmJob(graph: ConcreteGraph, options: SlurmJobOptions): Promise<RunSummary> {
  const record = await readSubmission(options.workdir, options.submission);
  const uids = new Set(record.nodes.map((n) => n.uid));
  const missing = record.nodes.filter((n) => !graph.nodes.some((g) => g.uid === n.uid));
  if (missing.length > 0)
    throw new RunGraphError(
      'E_UNKNOWN_NODE',
      `submission ${record.name} names nodes this workflow does not have: ${missing.map((n) => n.label).join(', ')}`,
      {
        file: record.workflow,
        hint: 'the workflow file changed since the controller submitted the job; run the controller again',
      },
    );
  const context = await WorkerContext.open({
    workdir: options.workdir,
    ...(options.jobs === undefined ? {} : { jobs: options.jobs }),
    ...(options.staleMs === undefined ? {} : { staleMs: options.staleMs }),
    ...(options.executionLog === undefined ? {} : { executionLog: options.executionLog }),
    ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
  });
  // The controller keeps forced nodes' old stores aside while this job builds them, and settles them itself.
  const summary = await context.run(subgraphOf(graph, uids), {
    settleSuperseded: false,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const byUid = new Map(summary.failures.map((f) => [f.uid, f.error]));
  const nodes: { [uid: string]: SubmissionOutcome['nodes'][string] } = {};
  for (const { uid, label } of record.nodes) {
    const error = byUid.get(uid);
    if (error !== undefined) nodes[uid] = { state: 'failed', error };
    else nodes[uid] = { state: summary.results.has(label) ? 'committed' : 'not-run' };
  }
  await writeOutcome(options.workdir, record.name, { jobId: process.env['SLURM_JOB_ID'] ?? null, nodes });
  return summary;
}
