/**
 * What one Slurm job asks for: a node's resources as sbatch options. Nodes
 * whose requests are equal form one resource class and may share a job.
 */
import { durationSeconds } from '../../operations/retry-policy.js';
import type { GraphNode } from '../../workflow/graph.js';

/** One node's needs, as Slurm is asked for them. */
export interface JobRequest {
  readonly cpus: number;
  /** As sbatch --mem takes it: "4G", "512M". */
  readonly memory?: string;
  /** The wall-time limit of one node, in seconds. */
  readonly timeSeconds?: number;
  readonly gpus?: number;
  readonly partition?: string;
  readonly account?: string;
  readonly qos?: string;
  readonly constraint?: string;
  /** Further sbatch options, as written. */
  readonly options: readonly string[];
}

/** The resources of a node as the workflow declares them (the shape agreed for `resources`). */
interface DeclaredResources {
  cpus?: number;
  memory?: string | number;
  time?: string | number;
  gpus?: number;
  slurm?: { partition?: string; account?: string; qos?: string; constraint?: string; options?: string[] };
}

function declaredResources(node: GraphNode): DeclaredResources {
  return (node as { resources?: DeclaredResources }).resources ?? {};
}

/** sbatch's --mem: megabytes for a number, "4G" for "4G", "4GB" or "4GiB". */
function slurmMemory(memory: string | number): string {
  if (typeof memory === 'number') return `${Math.ceil(memory)}M`;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$/i.exec(memory);
  if (match === null) return memory;
  const [, amount, unit] = match;
  const value = Number(amount);
  if (Number.isInteger(value)) return `${value}${(unit ?? '').toUpperCase() || 'M'}`;
  // sbatch takes whole numbers only: 1.5G is 1536M.
  const toMb: Record<string, number> = { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024, '': 1 };
  return `${Math.ceil(value * (toMb[(unit ?? '').toUpperCase()] ?? 1))}M`;
}

export function jobRequestOf(node: GraphNode): JobRequest {
  const declared = declaredResources(node);
  const slurm = declared.slurm ?? {};
  return {
    cpus: declared.cpus ?? 1,
    ...(declared.memory === undefined ? {} : { memory: slurmMemory(declared.memory) }),
    ...(declared.time === undefined ? {} : { timeSeconds: durationSeconds(declared.time) ?? 0 }),
    ...(declared.gpus === undefined ? {} : { gpus: declared.gpus }),
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
 * after another: each node's cpus, memory and gpus, and its time limit once
 * per node.
 */
export function sbatchOptions(request: JobRequest, nodes: number): string[] {
  const options = ['--ntasks=1', `--cpus-per-task=${request.cpus}`];
  if (request.memory !== undefined) options.push(`--mem=${request.memory}`);
  if (request.timeSeconds !== undefined) options.push(`--time=${slurmTime(request.timeSeconds * nodes)}`);
  if (request.gpus !== undefined && request.gpus > 0) options.push(`--gres=gpu:${request.gpus}`);
  if (request.partition !== undefined) options.push(`--partition=${request.partition}`);
  if (request.account !== undefined) options.push(`--account=${request.account}`);
  if (request.qos !== undefined) options.push(`--qos=${request.qos}`);
  if (request.constraint !== undefined) options.push(`--constraint=${request.constraint}`);
  options.push(...request.options);
  return options;
}
