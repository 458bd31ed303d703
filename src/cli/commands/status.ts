/** `run-graph status`: per node, label, short uid and state, then the counts. Reads only. */
import { nodeJobs, type NodeJob } from '../../engine/slurm/node-jobs.js';
import { assertNever } from '../../errors.js';
import { describePriorStore } from '../../views/explain/prior-versions.js';
import { shortUid } from '../../identity/fingerprint.js';
import { readStatus, type NodeStatus } from '../../views/status.js';
import { loadGraph } from '../../workflow/load-graph.js';
import { EXIT } from '../exit-codes.js';
import { chosenWorkdir } from '../workdir-option.js';

export interface StatusCommandOptions {
  workdir?: string;
  json?: boolean;
}

/** A node's state in the words `status` prints, locally or from a served directory. */
export function describeState(
  node: {
    state: NodeStatus['state'];
    owner?: { pid: number; host: string };
    retry?: { attempt: number; lastAttempt: number };
  } & Partial<Pick<Extract<NodeStatus, { state: 'failed' }>, 'cause' | 'attempt' | 'lastAttempt'>>,
  notStartedDetail?: string,
): string {
  switch (node.state) {
    case 'committed':
      return 'committed';
    case 'not-started':
      return notStartedDetail === undefined ? 'not started' : `not started (${notStartedDetail})`;
    case 'incomplete':
      return 'incomplete';
    case 'failed':
      return `failed (${node.cause ?? '?'}, attempt ${node.attempt ?? '?'} of ${node.lastAttempt ?? '?'})`;
    case 'running':
      return `running (${node.retry === undefined ? '' : `attempt ${node.retry.attempt} of ${node.retry.lastAttempt}, `}pid ${node.owner?.pid ?? '?'} on ${node.owner?.host ?? '?'})`;
    default:
      return assertNever(node.state, 'node state');
  }
}

function stateText(node: NodeStatus): string {
  const text = describeState(
    node,
    node.state === 'not-started' && node.prior !== undefined ? describePriorStore(node.prior) : undefined,
  );
  const forced = node.forcedFailure;
  return forced === undefined ? text : `${text} (a forced rerun failed: ${forced.cause}; run-graph logs ${node.label})`;
}

/** A node's latest Slurm job, after its state: "  [slurm job 42 RUNNING]". */
function slurmText(job: NodeJob): string {
  return `  [slurm job ${job.jobId ?? '?'} ${job.state}]`;
}

export async function statusCommand(workflow: string, options: StatusCommandOptions): Promise<number> {
  const graph = await loadGraph(workflow);
  const workdir = chosenWorkdir(workflow, options.workdir);
  const report = await readStatus(graph, workdir);
  const jobs = await nodeJobs(workdir);
  if (options.json === true) {
    const nodes = report.nodes.map((node) => {
      const job = jobs.get(node.uid);
      return job === undefined ? node : { ...node, slurm: job };
    });
    process.stdout.write(`${JSON.stringify({ workdir, ...report, nodes }, null, 2)}\n`);
    return EXIT.ok;
  }
  const width = Math.max(5, ...report.nodes.map((n) => n.label.length));
  process.stdout.write(`${'LABEL'.padEnd(width)}  UID           STATE\n`);
  for (const node of report.nodes) {
    const progress = node.progress === undefined ? '' : `, ${node.progress}`;
    const job = jobs.get(node.uid);
    process.stdout.write(
      `${node.label.padEnd(width)}  ${shortUid(node.uid)}  ${stateText(node)}${progress}${job === undefined ? '' : slurmText(job)}\n`,
    );
  }
  const c = report.counts;
  process.stdout.write(
    `\n${c.total} nodes: ${c.committed} committed, ${c['not-started']} not started, ${c.failed} failed, ${c.incomplete} incomplete, ${c.running} running\n`,
  );
  return EXIT.ok;
}
