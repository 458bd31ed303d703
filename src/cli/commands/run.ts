/**
 * `run-graph run`: load and check the workflow (nothing is written if it is
 * wrong), open the working directory, run, report. The first SIGINT or
 * SIGTERM stops new nodes from starting and lets running ones stop at a safe
 * point, releasing their locks; a second one exits at once. Either way the
 * same command resumes.
 */
import { isNotWritable, runReadOnly } from '../../engine/read-only-run.js';
import { checkNodesFit, runCapacity } from '../../engine/capacity.js';
import { abandonedOperations } from '../../engine/time-limit.js';
import { WorkerContext } from '../../engine/worker-context.js';
import { RunGraphError } from '../../errors.js';
import { killRunningSubprocesses } from '../../operations/subprocess.js';
import { loadGraph } from '../../workflow/load-graph.js';
import { EXIT } from '../exit-codes.js';
import { createReporter, type ReporterKind } from '../reporter.js';
import { runResourceSettings, type ResourceCliOptions } from '../resource-options.js';
import { chosenWorkdir } from '../workdir-option.js';
import type { SlurmCliOptions } from './run-slurm.js';
import type { startRunServer, ServerCliOptions } from './serve.js';

export interface RunCommandOptions extends Partial<ServerCliOptions>, SlurmCliOptions, ResourceCliOptions {
  /** Where nodes run: `local` (default) or `slurm` (this process submits them as Slurm jobs). */
  executor?: 'local' | 'slurm';
  /** Serve the working directory and stream the run's events while it lasts. */
  serve?: boolean;
  workdir?: string;
  jobs?: number;
  cores?: number;
  json?: boolean;
  verify?: boolean;
  stale: number;
}

function reporterKind(options: RunCommandOptions): ReporterKind {
  if (options.json === true) return 'json';
  return process.stderr.isTTY && process.env['CI'] === undefined ? 'tty' : 'plain';
}

export async function runCommand(workflow: string, options: RunCommandOptions): Promise<number> {
  const resources = await runResourceSettings(options);
  const graph = await loadGraph(workflow, undefined, { runResources: resources.layers });
  const cores = options.cores ?? resources.profileCores;
  const capacity = runCapacity({
    ...(options.jobs === undefined ? {} : { jobs: options.jobs }),
    ...(cores === undefined ? {} : { cores }),
  });
  // Before the working directory is opened: a node that can never run writes nothing.
  checkNodesFit(graph.nodes, capacity, graph.file);
  const reporter = createReporter(reporterKind(options), {
    out: process.stdout,
    err: process.stderr,
    columns: process.stderr.columns,
  });
  const workdir = chosenWorkdir(workflow, options.workdir);
  if (options.executor === 'slurm') {
    const resume = `run-graph run ${workflow}${options.workdir === undefined ? '' : ` --workdir ${options.workdir}`} --executor slurm`;
    const { runOnSlurm } = await import('./run-slurm.js');
    return runOnSlurm(graph, workflow, workdir, { ...options, resumeCommand: resume }, reporter);
  }
  let served: Awaited<ReturnType<typeof startRunServer>> | undefined;
  const verify = options.verify === true ? 'checksum' : 'size';
  let context: WorkerContext;
  try {
    context = await WorkerContext.open({
      workdir,
      jobs: capacity.jobs,
      cores: capacity.cores,
      memoryBytes: capacity.memoryBytes,
      verify,
      staleMs: options.stale * 1000,
      ...(process.env['RUN_GRAPH_EXECUTION_LOG'] ? { executionLog: process.env['RUN_GRAPH_EXECUTION_LOG'] } : {}),
      onEvent: (event) => {
        reporter.onEvent(event);
        served?.publish(event);
      },
    });
  } catch (error) {
    // A directory that cannot be written is still usable when every node is committed in it (a read-only mount).
    if (options.serve === true || !isNotWritable(error) || !(error instanceof RunGraphError)) throw error;
    await runReadOnly(graph, { workdir, verify, onEvent: (event) => reporter.onEvent(event) }, error);
    reporter.close();
    return EXIT.ok;
  }
  // The server's modules are loaded only by a run that serves.
  if (options.serve === true) served = await (await import('./serve.js')).startRunServer(graph, workdir, options);

  const controller = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      controller.abort();
      return;
    }
    reporter.close();
    killRunningSubprocesses();
    process.stderr.write(`run-graph: ${signal} again, exiting at once; run the same command to resume\n`);
    process.exit(EXIT.interrupted);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const summary = await context.run(graph, { signal: controller.signal });
    reporter.close();
    if (summary.interrupted) {
      reporter.notice(
        `interrupted: run \`run-graph run ${workflow}${options.workdir === undefined ? '' : ` --workdir ${options.workdir}`}\` again to resume`,
      );
      return EXIT.interrupted;
    }
    if (!summary.ok) {
      if (options.json !== true) {
        for (const failure of summary.failures) reporter.notice(`  ${failure.label}: ${failure.error.message}`);
      }
      const environment = summary.failures.find((f) => f.error.code === 'E_WORKDIR');
      if (environment !== undefined) {
        process.stderr.write(
          `run-graph: E_WORKDIR: ${environment.error.message}${environment.error.hint === undefined ? '' : ` (hint: ${environment.error.hint})`}\n`,
        );
        return EXIT.workdir;
      }
      return EXIT.nodeFailed;
    }
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await served?.close();
    // An operation abandoned at its time limit may hold the event loop open: it must not keep the command alive.
    if (abandonedOperations() > 0) setTimeout(() => process.exit(), 100).unref();
  }
}
