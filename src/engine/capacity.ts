/**
 * What a run may use on this machine: its cores and its memory, and the
 * check, made before anything runs, that every node fits in them.
 *
 * The cores default to what this process may use, not what the machine has:
 * inside a Slurm job, the job's allocation (SLURM_CPUS_PER_TASK when a task
 * asked for cores, else SLURM_CPUS_ON_NODE, else the first count of
 * SLURM_JOB_CPUS_PER_NODE), because without a task plugin that confines it
 * a job step sees every core of the node; elsewhere the CPU affinity of the
 * process (`os.availableParallelism()`, which on Linux counts the cores
 * `sched_getaffinity` allows, so `taskset -c 0` means one). The memory
 * defaults to Slurm's `SLURM_MEM_PER_NODE` or `SLURM_MEM_PER_CPU` x cores
 * inside a job, else the smaller of the machine's memory and the cgroup's
 * limit.
 */
import { availableParallelism, totalmem } from 'node:os';
import { RunGraphError } from '../errors.js';
import { formatMemory } from '../operations/resources.js';
import type { GraphNode } from '../workflow/graph.js';

/** The cores and memory of a run. */
export interface Capacity {
  /** Cores: the sum of the `cpus` of the nodes running at once never exceeds it. */
  readonly cores: number;
  /** Most operations running at once, whatever their cpus. */
  readonly jobs: number;
  /** Memory in bytes: the sum of the declared `memory` of the nodes running at once never exceeds it. */
  readonly memoryBytes: number;
  /** Where the cores came from, for messages: `--cores`, `SLURM_CPUS_PER_TASK`, `CPU affinity`. */
  readonly coresFrom: string;
}

/** What a caller may fix; everything left out is found out. */
export interface CapacityOptions {
  readonly cores?: number;
  readonly jobs?: number;
  readonly memoryBytes?: number;
}

const MiB = 1024 ** 2;

/** A positive integer environment variable, or undefined. `4(x2),2` reads as 4 (SLURM_JOB_CPUS_PER_NODE's form). */
function countIn(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const match = /^\s*(\d+)/.exec(env[name] ?? '');
  const value = match === null ? 0 : Number(match[1]);
  return value > 0 ? value : undefined;
}

/** The cores this process may use, and where that number came from. */
export function availableCores(env: NodeJS.ProcessEnv = process.env): { cores: number; from: string } {
  if (env['SLURM_JOB_ID'] !== undefined) {
    for (const name of ['SLURM_CPUS_PER_TASK', 'SLURM_CPUS_ON_NODE', 'SLURM_JOB_CPUS_PER_NODE']) {
      const cores = countIn(env, name);
      if (cores !== undefined) return { cores, from: name };
    }
  }
  return { cores: availableParallelism(), from: 'CPU affinity' };
}

/** The memory this process may use, in bytes. */
export function availableMemory(cores: number, env: NodeJS.ProcessEnv = process.env): number {
  if (env['SLURM_JOB_ID'] !== undefined) {
    const perNode = countIn(env, 'SLURM_MEM_PER_NODE');
    if (perNode !== undefined) return perNode * MiB;
    const perCpu = countIn(env, 'SLURM_MEM_PER_CPU');
    if (perCpu !== undefined) return perCpu * MiB * cores;
  }
  const machine = totalmem();
  // Node 20 answers the cgroup's limit, or a huge number when there is none.
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.() ?? 0;
  return constrained > 0 && constrained < machine ? constrained : machine;
}

/**
 * The run's capacity. Cores: `cores`, else `jobs` (locally `--jobs` is the
 * core count, as in Snakemake), else what the process may use. Jobs:
 * `jobs`, else the cores.
 */
export function runCapacity(options: CapacityOptions = {}, env: NodeJS.ProcessEnv = process.env): Capacity {
  const found = options.cores ?? options.jobs;
  const { cores, from } =
    found === undefined
      ? availableCores(env)
      : { cores: found, from: options.cores === undefined ? '--jobs' : '--cores' };
  return {
    cores,
    jobs: options.jobs ?? cores,
    memoryBytes: options.memoryBytes ?? availableMemory(cores, env),
    coresFrom: from,
  };
}

/**
 * Fail, naming the first node that can never run here: one that needs more
 * cores or more memory than the run has. Called before anything runs, and
 * for the nodes a loop makes before they run.
 */
export function checkNodesFit(nodes: readonly GraphNode[], capacity: Capacity, file?: string): void {
  for (const node of nodes) {
    const { cpus, memoryBytes } = node.resources;
    const where = { ...(file === undefined ? {} : { file }), node: node.label };
    if (cpus > capacity.cores)
      throw new RunGraphError(
        'E_UNSATISFIABLE',
        `needs ${cpus} cpus, and this run has ${capacity.cores} core${capacity.cores === 1 ? '' : 's'} (from ${capacity.coresFrom})`,
        {
          ...where,
          field: 'resources.cpus',
          value: cpus,
          hint: `run with --cores ${cpus} or more, or lower the node's resources.cpus`,
        },
      );
    if (memoryBytes !== undefined && memoryBytes > capacity.memoryBytes)
      throw new RunGraphError(
        'E_UNSATISFIABLE',
        `needs ${formatMemory(memoryBytes)} of memory, and this run has ${formatMemory(capacity.memoryBytes)}`,
        { ...where, field: 'resources.memory', value: memoryBytes, hint: "lower the node's resources.memory" },
      );
  }
}

/** A node's memory in the units the run's memory slots count: whole MiB, rounded up. */
export function memorySlots(bytes: number | undefined): number {
  return bytes === undefined ? 0 : Math.ceil(bytes / MiB);
}
