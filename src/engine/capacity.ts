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
 *
 * GPUs are counted when the caller names the run's devices (`run --gpus`,
 * else CUDA_VISIBLE_DEVICES, else what `nvidia-smi` lists, looked up only
 * when some node asks for a GPU): a node's `gpus` take that many of them
 * for each attempt, handed to it in CUDA_VISIBLE_DEVICES. Inside a Slurm
 * job the devices are Slurm's to give, and are not counted.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, totalmem } from 'node:os';
import { RunGraphError } from '../errors.js';
import { formatMemory } from '../operations/resources.js';
import { JobSlots } from './scheduler.js';
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
  /** The GPU devices the nodes' `gpus` take, by the ids CUDA_VISIBLE_DEVICES names them with; undefined: not counted. */
  readonly gpus?: readonly string[];
  /** Where the devices came from, for messages. */
  readonly gpusFrom?: string;
}

/** What a caller may fix; everything left out is found out. */
export interface CapacityOptions {
  readonly cores?: number;
  readonly jobs?: number;
  readonly memoryBytes?: number;
  readonly gpus?: { readonly ids: readonly string[]; readonly from: string };
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
    ...(options.gpus === undefined ? {} : { gpus: options.gpus.ids, gpusFrom: options.gpus.from }),
  };
}

/**
 * The GPU devices of a local run: `given` (`--gpus`: a count, or a list of
 * ids), else CUDA_VISIBLE_DEVICES when it is set, else the indices
 * `nvidia-smi` lists (none when it is missing or fails).
 */
export function availableGpus(
  given: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { ids: string[]; from: string } {
  if (given !== undefined) {
    const text = given.trim();
    if (/^\d+$/.test(text)) return { ids: Array.from({ length: Number(text) }, (_, i) => String(i)), from: '--gpus' };
    const ids = text.split(',').map((id) => id.trim());
    if (ids.some((id) => id === '') || new Set(ids).size !== ids.length)
      throw new RunGraphError(
        'E_USAGE',
        `--gpus expects a count or a list of distinct device ids (0,1,3), got '${given}'`,
        { field: '--gpus', value: given },
      );
    return { ids, from: '--gpus' };
  }
  const visible = env['CUDA_VISIBLE_DEVICES'];
  if (visible !== undefined) {
    // "" and "-1" hide every device from CUDA.
    const ids = visible.split(',').map((id) => id.trim());
    return { ids: ids.every((id) => id !== '' && id !== '-1') ? ids : [], from: 'CUDA_VISIBLE_DEVICES' };
  }
  const listed = spawnSync('nvidia-smi', ['--query-gpu=index', '--format=csv,noheader'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  const ids =
    listed.status === 0
      ? listed.stdout
          .split('\n')
          .map((line) => line.trim())
          .filter((line) => line !== '')
      : [];
  return { ids, from: 'nvidia-smi' };
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
    const gpus = node.resources.gpus;
    if (capacity.gpus !== undefined && gpus > capacity.gpus.length)
      throw new RunGraphError(
        'E_UNSATISFIABLE',
        `needs ${gpus} GPU${gpus === 1 ? '' : 's'}, and this run has ${capacity.gpus.length} (from ${capacity.gpusFrom ?? '?'})`,
        {
          ...where,
          field: 'resources.gpus',
          value: gpus,
          hint: `name the run's devices with --gpus (a count, or ids such as 0,1), or lower the node's resources.gpus`,
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

/**
 * The run's GPU devices, handed out by id: as many slots as devices, waited
 * for as the cores are (first come, first served), and the ids to go with
 * them. A node never asks for more than there are (checkNodesFit).
 */
export class DevicePool {
  readonly #slots: JobSlots;
  readonly #free: string[];

  constructor(ids: readonly string[]) {
    this.#slots = new JobSlots(ids.length);
    this.#free = [...ids];
  }

  /** `count` devices, once free; undefined if `signal` aborts first. */
  async take(signal: AbortSignal, count: number): Promise<string[] | undefined> {
    return (await this.#slots.take(signal, count)) ? this.#free.splice(0, count) : undefined;
  }

  give(ids: readonly string[]): void {
    this.#free.push(...ids);
    this.#slots.give(ids.length);
  }
}

/** A node's memory in the units the run's memory slots count: whole MiB, rounded up. */
export function memorySlots(bytes: number | undefined): number {
  return bytes === undefined ? 0 : Math.ceil(bytes / MiB);
}
