/**
 * `run-graph run`: load and check the workflow (nothing is written if it is
 * wrong), open the working directory, run, report. The first SIGINT or
 * SIGTERM stops new nodes from starting and lets running ones stop at a safe
 * point, releasing their locks; a second one exits at once. Either way the
 * same command resumes.
 */
import { isNotWritable, runReadOnly } from '../../engine/read-only-run.js';
import { availableGpus, checkNodesFit, runCapacity } from '../../engine/capacity.js';
import { abandonedOperations } from '../../engine/time-limit.js';
import { WorkerContext } from '../../engine/worker-context.js';
import { RunGraphError } from '../../errors.js';
import { checkRetries } from '../../operations/retry-policy.js';
import { killRunningSubprocesses } from '../../operations/subprocess.js';
import type { Uid } from '../../identity/fingerprint.js';
import { describePlan, planRun } from '../../views/dry-run.js';
import type { ConcreteGraph } from '../../workflow/graph.js';
import { loadGraph } from '../../workflow/load-graph.js';
import { knownRecordsIn } from '../../store/store.js';
import { forcedUids, selectTargets } from '../../workflow/select-targets.js';
import { EXIT } from '../exit-codes.js';
import { publishRoot, publishTargets } from '../publish-option.js';
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
  /** Build these labels again even if committed. */
  force?: string[];
  /** Build these labels and everything downstream of them again. */
  forceDownstream?: string[];
  /** Print what would run and why; write nothing. */
  dryRun?: boolean;
  /** Start no node after the first failure. */
  failFast?: boolean;
  /** `--retries`, as typed: the run's default retries. */
  retries?: string;
  /** `--gpus`, as typed: a count or a list of device ids. */
  gpus?: string;
  /** Root of the published paths (default: the workflow file's directory). */
  publishDir?: string;
}

/** `--retries N`: a whole number of extra attempts, checked as a workflow's `retries` is. */
function retriesFlag(text: string): number {
  const problem = (_field: string, message: string): RunGraphError =>
    new RunGraphError('E_USAGE', message, { field: '--retries', value: text });
  if (!/^\d+$/.test(text))
    throw problem('--retries', `--retries: expected a whole number of extra attempts, got '${text}'`);
  return checkRetries(Number(text), '--retries', problem);
}

function reporterKind(options: RunCommandOptions): ReporterKind {
  if (options.json === true) return 'json';
  return process.stderr.isTTY && process.env['CI'] === undefined ? 'tty' : 'plain';
}

/** `run-graph run <workflow> [targets...]`: run what the targets need (default: everything). */
export async function runCommand(workflow: string, targets: string[], options: RunCommandOptions): Promise<number> {
  const resources = await runResourceSettings(options);
  const runRetry = options.retries === undefined ? undefined : { retries: retriesFlag(options.retries) };
  const workdir = chosenWorkdir(workflow, options.workdir);
  const whole = await loadGraph(workflow, undefined, {
    runResources: resources.layers,
    knownRecord: knownRecordsIn(workdir),
    ...(runRetry === undefined ? {} : { runRetry }),
  });
  const graph = selectTargets(whole, targets);
  const forced = forcedUids(whole, options.force ?? [], options.forceDownstream ?? []);
  const cores = options.cores ?? resources.profileCores;
  // Counted locally when named, or when a node asks for a GPU; inside a Slurm job they are Slurm's to hand out.
  const gpus =
    options.executor !== 'slurm' &&
    (options.gpus !== undefined ||
      (process.env['SLURM_JOB_ID'] === undefined && graph.nodes.some((node) => node.resources.gpus > 0)))
      ? availableGpus(options.gpus)
      : undefined;
  const capacity = runCapacity({
    ...(options.jobs === undefined ? {} : { jobs: options.jobs }),
    ...(cores === undefined ? {} : { cores }),
    ...(gpus === undefined ? {} : { gpus }),
  });
  // Before the working directory is opened: a node that can never run writes nothing.
  if (options.executor !== 'slurm') checkNodesFit(graph.nodes, capacity, graph.file);
  if (options.dryRun === true) return dryRun(graph, workdir, forced, options.json === true);
  const publish = await publishTargets(whole, graph, publishRoot(workflow, options.publishDir), workdir);
  const reporter = createReporter(reporterKind(options), {
    out: process.stdout,
    err: process.stderr,
    columns: process.stderr.columns,
  });
  if (options.executor === 'slurm') {
    const resume = `run-graph run ${workflow}${options.workdir === undefined ? '' : ` --workdir ${options.workdir}`} --executor slurm`;
    const { runOnSlurm } = await import('./run-slurm.js');
    const code = await runOnSlurm(graph, workflow, workdir, { ...options, resumeCommand: resume }, reporter, forced);
    if (code !== EXIT.ok || publish.length === 0) return code;
    // The jobs committed the stores; their published outputs are put in place from them.
    const { publishCommand } = await import('./publish.js');
    return publishCommand(workflow, {
      ...(options.workdir === undefined ? {} : { workdir: options.workdir }),
      ...(options.publishDir === undefined ? {} : { publishDir: options.publishDir }),
    });
  }
  let served: Awaited<ReturnType<typeof startRunServer>> | undefined;
  const running = new Set<string>();
  const verify = options.verify === true ? 'checksum' : 'size';
  let context: WorkerContext;
  try {
    context = await WorkerContext.open({
      workdir,
      jobs: capacity.jobs,
      cores: capacity.cores,
      memoryBytes: capacity.memoryBytes,
      ...(gpus === undefined ? {} : { gpus: gpus.ids, gpusFrom: gpus.from }),
      verify,
      staleMs: options.stale * 1000,
      ...(process.env['RUN_GRAPH_EXECUTION_LOG'] ? { executionLog: process.env['RUN_GRAPH_EXECUTION_LOG'] } : {}),
      onEvent: (event) => {
        if (event.type === 'node-started') running.add(event.label);
        else if (event.type === 'node-committing' || event.type === 'node-failed' || event.type === 'node-skipped')
          running.delete(event.label);
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
  // Node exits when nothing is left to wait for, even with the run unfinished: an operation whose promise never
  // settles, and holds nothing open, would otherwise end the command with exit 0 and the node unbuilt.
  const stalled = (): void => {
    reporter.close();
    const which = running.size === 0 ? 'the run' : [...running].map((label) => `'${label}'`).join(', ');
    process.stderr.write(
      `run-graph: E_INTERNAL: nothing is left to wait for, yet ${which} did not finish: its operation returned a promise that never settled (a bug in the operation, or in run-graph)\n` +
        `  (hint: fix that operation, or give its node a time limit: "resources": {"time": ...}; the next run resumes)\n`,
    );
    process.exitCode = EXIT.internal;
  };
  process.once('beforeExit', stalled);
  try {
    const summary = await context.run(graph, {
      signal: controller.signal,
      forced,
      publish,
      failFast: options.failFast === true,
    });
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
    if (summary.publishFailures > 0) {
      reporter.notice(
        `${summary.publishFailures} published output${summary.publishFailures === 1 ? '' : 's'} could not be written; \`run-graph publish ${workflow}\` tries again`,
      );
      return EXIT.nodeFailed;
    }
    return EXIT.ok;
  } finally {
    process.off('beforeExit', stalled);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await served?.close();
    // An operation abandoned at its time limit may hold the event loop open: it must not keep the command alive.
    if (abandonedOperations() > 0) setTimeout(() => process.exit(), 100).unref();
  }
}

/** `--dry-run`: the plan, in words or as JSON; nothing is written, not even the working directory. */
async function dryRun(graph: ConcreteGraph, workdir: string, forced: ReadonlySet<Uid>, json: boolean): Promise<number> {
  const plan = await planRun(graph, workdir, forced);
  if (json) process.stdout.write(`${JSON.stringify({ dryRun: true, workdir, nodes: plan })}\n`);
  else process.stdout.write(`${describePlan(plan, workdir).join('\n')}\n`);
  return EXIT.ok;
}
