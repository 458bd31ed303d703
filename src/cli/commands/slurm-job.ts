/**
 * `run-graph slurm-job` (hidden): what a Slurm job of `run --executor slurm`
 * runs. Builds the nodes of one submission (engine/slurm/job.ts); SIGTERM
 * (scancel, the time limit) stops it at a safe point, releasing its locks.
 */
import { runSlurmJob } from '../../engine/slurm/job.js';
import { killRunningSubprocesses } from '../../operations/subprocess.js';
import { loadGraph } from '../../workflow/load-graph.js';
import { EXIT } from '../exit-codes.js';
import { createReporter } from '../reporter.js';

export interface SlurmJobCommandOptions {
  workdir: string;
  submission: string;
  jobs?: number;
  stale: number;
}

export async function slurmJobCommand(workflow: string, options: SlurmJobCommandOptions): Promise<number> {
  const graph = await loadGraph(workflow);
  const reporter = createReporter('plain', { out: process.stdout, err: process.stderr });
  const interrupt = new AbortController();
  const onSignal = (): void => {
    interrupt.abort();
    killRunningSubprocesses();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const executionLog = process.env['RUN_GRAPH_EXECUTION_LOG'];
    const summary = await runSlurmJob(graph, {
      workdir: options.workdir,
      submission: options.submission,
      ...(options.jobs === undefined ? {} : { jobs: options.jobs }),
      staleMs: options.stale * 1000,
      ...(executionLog ? { executionLog } : {}),
      onEvent: (event) => reporter.onEvent(event),
      signal: interrupt.signal,
    });
    if (summary.interrupted) return EXIT.interrupted;
    return summary.ok ? EXIT.ok : EXIT.nodeFailed;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
