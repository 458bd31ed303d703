/**
 * What one Slurm job asks for: a node's resources (GraphNode.resources,
 * resolved from node, operation, profile and workflow defaults) as sbatch
 * options. Nodes whose requests are equal form one resource class and may
 * share a job.
 */
import type { GraphNode } from '../../workflow/graph.js';

/** One node's needs, as Slurm is asked for them. */
export interface JobRequest {
  readonly cpus: number;
  /** sbatch --mem in megabytes (Slurm's default unit), rounded up. */
  readonly memoryMb?: number;
  /** The wall-time limit of one node, in seconds. */
  readonly timeSeconds?: number;
  readonly gpus: number;
  readonly partition?: string;
  readonly account?: string;
  readonly qos?: string;
  readonly constraint?: string;
  /** Further sbatch options, as written. */
  readonly options: readonly string[];
}

export function jobRequestOf(node: GraphNode): JobRequest {
  const { cpus, memoryBytes, timeSeconds, gpus, slurm } = node.resources;
  return {
    cpus,
    ...(memoryBytes === undefined ? {} : { memoryMb: Math.ceil(memoryBytes / 1024 ** 2) }),
    ...(timeSeconds === undefined ? {} : { timeSeconds }),
    gpus,
    ...(slurm.partition === undefined ? {} : { partition: slurm.partition }),
    ...(slurm.account === undefined ? {} : { account: slurm.account }),
    ...(slurm.qos === undefined ? {} : { qos: slurm.qos }),
    ...(slurm.constraint === undefined ? {} : { constraint: slurm.constraint }),
    options: slurm.options ?? [],
  };
}

/** Equal for nodes that may share a job. */
export function requestKey(request: JobRequest): string {
  return JSON.stringify(request);
}

/** "H:MM:SS", one of the forms sbatch --time takes (Slurm counts whole minutes, rounding up). */
function slurmTime(seconds: number): string {
  const whole = Math.max(1, Math.ceil(seconds));
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${Math.floor(whole / 3600)}:${pad(Math.floor(whole / 60) % 60)}:${pad(whole % 60)}`;
}

/**
 * The sbatch options of a job building `nodes` nodes of this class one
 * after another: one node's cpus, memory and gpus, and its time limit once
 * per node.
 */
export function sbatchOptions(request: JobRequest, nodes: number): string[] {
  const options = ['--ntasks=1', `--cpus-per-task=${request.cpus}`];
  if (request.memoryMb !== undefined) options.push(`--mem=${request.memoryMb}M`);
  if (request.timeSeconds !== undefined) options.push(`--time=${slurmTime(request.timeSeconds * nodes)}`);
  if (request.gpus > 0) options.push(`--gres=gpu:${request.gpus}`);
  if (request.partition !== undefined) options.push(`--partition=${request.partition}`);
  if (request.account !== undefined) options.push(`--account=${request.account}`);
  if (request.qos !== undefined) options.push(`--qos=${request.qos}`);
  if (request.constraint !== undefined) options.push(`--constraint=${request.constraint}`);
  options.push(...request.options);
  return options;
}
