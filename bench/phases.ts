/**
 * One measured phase of a workflow benchmark (cold run, no-op resume, partial
 * resume), run through the library exactly as `run-graph run` does: parse and
 * check the workflow, build the concrete graph, open a WorkerContext, run.
 *
 * Each phase runs in a child process of its own (`build/bench/phase.js`) so
 * that its peak RSS is that phase's alone: a no-op resume measured after a
 * cold run in the same process would report the cold run's peak. The peak is
 * the child's VmHWM, not getrusage's maxRSS: on Linux a child's maxRSS
 * starts at its parent's RSS when it was forked and survives the exec, so
 * after the benchmark's own process removed a 100,000-store working
 * directory, every later phase reported that process's peak instead of its
 * own. The child's figures are taken
 * inside it, so node's own start-up is not counted against the engine.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkerContext } from '#dist/engine/worker-context.js';
import type { RunCounts } from '#dist/engine/events.js';
import { builtinRegistry } from '#dist/operations/registry.js';
import { buildGraph } from '#dist/workflow/graph.js';
import { checkWorkflowDocument } from '#dist/workflow/load.js';
import { pooled, timed } from './stats.js';
import { workflowFor, type Shape } from './workflows.js';

export type PhaseName = 'cold' | 'noop' | 'partial';

export const PHASES: readonly PhaseName[] = ['cold', 'noop', 'partial'];

/** Share of the nodes (the last ones in graph order) whose stores a partial resume deletes first. */
export const PARTIAL_SHARE = 0.1;

export interface PhaseRequest {
  shape: Shape;
  n: number;
  phase: PhaseName;
  workdir: string;
  jobs: number;
}

export interface PhaseResult {
  /** Nodes in the graph (n plus the source and reduce nodes of the shape). */
  nodes: number;
  /** Parse, schema check and concrete graph construction (types, uids), in ms. */
  buildMs: number;
  /** WorkerContext.open plus run, in ms. */
  runMs: number;
  counts: RunCounts;
  /** Peak resident set of the phase's process, KiB. */
  maxRssKiB: number;
  /** Set when the run did not do what the phase means (a node failed, or the counts are off): its times measure nothing. */
  error?: string;
}

function expectedCounts(phase: PhaseName, total: number, deleted: number): Pick<RunCounts, 'committed' | 'reused'> {
  switch (phase) {
    case 'cold':
      return { committed: total, reused: 0 };
    case 'noop':
      return { committed: 0, reused: total };
    case 'partial':
      return { committed: deleted, reused: total - deleted };
    default: {
      const never: never = phase;
      throw new Error(`unknown phase ${String(never)}`);
    }
  }
}

/** This process's own peak resident set, KiB: VmHWM where /proc has it (Linux), getrusage's maxRSS elsewhere. */
function peakRssKiB(): number {
  let status = '';
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    // No /proc: getrusage below.
  }
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  return match === null ? process.resourceUsage().maxRSS : Number(match[1]);
}

/** Run one phase in this process. A run that did not do what the phase means is reported in `error`, with what was measured up to then. */
export async function executePhase(request: PhaseRequest): Promise<PhaseResult> {
  // The workflow file's text: generating it is not part of what is measured, parsing it is.
  const text = JSON.stringify(workflowFor(request.shape, request.n));
  const built = await timed(async () => {
    const spec = checkWorkflowDocument(JSON.parse(text) as unknown);
    return buildGraph(spec, { registry: builtinRegistry(), baseDir: request.workdir });
  });
  const graph = built.value;
  let deleted = 0;
  if (request.phase === 'partial') {
    deleted = Math.max(1, Math.round(graph.nodes.length * PARTIAL_SHARE));
    const victims = graph.nodes.slice(graph.nodes.length - deleted);
    await pooled(victims.length, 32, async (i) => {
      const node = victims[i];
      if (node !== undefined) await rm(join(request.workdir, node.uid), { recursive: true, force: true });
    });
  }
  const run = await timed(async () => {
    const context = await WorkerContext.open({ workdir: request.workdir, jobs: request.jobs });
    return context.run(graph);
  });
  const summary = run.value;
  const expected = expectedCounts(request.phase, graph.nodes.length, deleted);
  const result: PhaseResult = {
    nodes: graph.nodes.length,
    buildMs: built.ms,
    runMs: run.ms,
    counts: summary.counts,
    maxRssKiB: peakRssKiB(),
  };
  if (!summary.ok || summary.counts.committed !== expected.committed || summary.counts.reused !== expected.reused) {
    const failure = summary.failures[0];
    const counts = Object.entries(summary.counts)
      .filter(([, count]) => count > 0)
      .map(([name, count]) => `${name} ${count}`)
      .join(', ');
    result.error = `${request.shape} ${request.n} ${request.phase}: ${counts}${failure === undefined ? '' : `; ${failure.label}: ${failure.error.message.split('\n')[0]}`}`;
  }
  return result;
}

/** Extra node flags for every phase child, e.g. `--cpu-prof --cpu-prof-dir DIR`. */
export interface ChildOptions {
  nodeFlags?: readonly string[];
}

const PHASE_SCRIPT = fileURLToPath(new URL('./phase.js', import.meta.url));

/** Run one phase in a fresh child process (`node build/bench/phase.js REQUEST`) and return what it measured. */
export function runPhaseInChild(request: PhaseRequest, options: ChildOptions = {}): Promise<PhaseResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeFlags ?? []), PHASE_SCRIPT, JSON.stringify(request)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0) {
        reject(
          new Error(
            `phase ${request.shape} n=${request.n} ${request.phase} exited with ${code ?? signal}: ${stderr.trim().slice(-2000)}`,
          ),
        );
        return;
      }
      try {
        resolve(JSON.parse(line) as PhaseResult);
      } catch (error) {
        reject(
          new Error(
            `phase ${request.shape} n=${request.n} ${request.phase} printed no result: ${String(error)}; stdout ${JSON.stringify(stdout.slice(-500))}`,
          ),
        );
      }
    });
  });
}
