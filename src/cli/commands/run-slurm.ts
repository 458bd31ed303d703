/**
 * `run-graph run --executor slurm`: this process becomes the controller
 * (engine/slurm/controller.ts) and Slurm runs the nodes. The first SIGINT or
 * SIGTERM cancels this run's jobs and says how to resume; SIGKILL leaves
 * them running, and the same command re-attaches to them. Forced nodes'
 * committed stores are kept aside while their jobs build them again, as in
 * a local run (store/superseded.ts): settled before anything is submitted
 * (after a kill) and once the jobs are done.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SlurmController } from '../../engine/slurm/controller.js';
import type { Uid } from '../../identity/fingerprint.js';
import { currentOwner } from '../../store/owner.js';
import type { RunEvent } from '../../engine/events.js';
import { settleForced, supersedeForced } from '../../engine/forced-stores.js';
import { openWorkdir } from '../../store/workdir.js';
import type { ConcreteGraph } from '../../workflow/graph.js';
import { EXIT } from '../exit-codes.js';
import type { Reporter } from '../reporter.js';

export interface SlurmCliOptions {
  maxJobs?: number;
  groupSize?: number;
  /** Extra sbatch options, each as one word (`--sbatch-option=--exclusive`). */
  sbatchOption?: string[];
  /** Longest poll interval, seconds. */
  poll?: number;
}

/** The run-graph a job runs: this very node binary and this very main.js, never npx. */
function runGraphCommand(): string[] {
  return [process.execPath, fileURLToPath(new URL('../main.js', import.meta.url))];
}

export async function runOnSlurm(
  graph: ConcreteGraph,
  workflow: string,
  workdir: string,
  options: SlurmCliOptions & { verify?: boolean; stale: number; resumeCommand: string; failFast?: boolean },
  reporter: Reporter,
  forced: ReadonlySet<Uid> = new Set(),
): Promise<number> {
  const layout = await openWorkdir(workdir);
  const owner = currentOwner();
  const emit = (event: RunEvent): void => reporter.onEvent(event);
  const settle = (): Promise<void> => settleForced(layout, owner, graph.nodes, emit);
  await settle();
  await supersedeForced(layout, graph.nodes, forced, emit);
  const interrupt = new AbortController();
  const onSignal = (): void => interrupt.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const summary = await new SlurmController(graph, {
      workflow: resolve(workflow),
      workdir: resolve(workdir),
      command: runGraphCommand(),
      ...(options.maxJobs === undefined ? {} : { maxJobs: options.maxJobs }),
      ...(options.groupSize === undefined ? {} : { groupSize: options.groupSize }),
      ...(options.poll === undefined ? {} : { pollMs: [Math.min(1000, options.poll * 1000), options.poll * 1000] }),
      sbatchOptions: options.sbatchOption ?? [],
      verify: options.verify === true ? 'checksum' : 'size',
      staleMs: options.stale * 1000,
      onEvent: (event) => reporter.onEvent(event),
      onNotice: (text) => reporter.notice(text),
      signal: interrupt.signal,
      failFast: options.failFast === true,
    }).run();
    await settle();
    reporter.close();
    if (summary.interrupted) {
      reporter.notice(
        `interrupted: cancelled ${summary.cancelled} Slurm job(s) of this run; run \`${options.resumeCommand}\` again to resume`,
      );
      return EXIT.interrupted;
    }
    if (!summary.ok) {
      for (const failure of summary.failures) reporter.notice(`  ${failure.label}: ${failure.error.message}`);
      return EXIT.nodeFailed;
    }
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
