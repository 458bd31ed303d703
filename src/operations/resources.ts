/**
 * What one execution of a node needs: cores, memory, a wall-time limit,
 * GPUs, and options for a batch scheduler. Execution policy, not identity:
 * nothing here enters a record or a uid, so giving a node more memory re-runs
 * nothing.
 *
 * Resources are written in several places (a node, the subgraph, map or loop
 * around it, its operation's definition, the workflow's `defaults`, a profile
 * file, `--default-resources`), each as a partial `ResourcesSpec`. Each is
 * parsed here into a `ResourceLayer` (numbers in bytes and seconds, checked,
 * the error naming where it was written), and `resolveResources` stacks the
 * layers, the more specific one winning field by field, into the one
 * `Resources` object a graph node carries.
 */
import { RunGraphError, describeValue, type ErrorLocation } from '../errors.js';

/** Scheduler options, passed through to Slurm as written. */
export interface SlurmSpec {
  readonly partition?: string;
  readonly account?: string;
  readonly qos?: string;
  readonly constraint?: string;
  /** Further `sbatch` options, one argument each (`"--exclusive"`, `"--mail-type=END"`). */
  readonly options?: readonly string[];
}

/** Resources as a workflow, a profile or an operation definition writes them. Every field optional. */
export interface ResourcesSpec {
  /** Cores of one execution: a positive integer. Default 1. */
  readonly cpus?: number;
  /** Memory of one execution: `"512M"`, `"4G"`, `"1.5T"` (K, M, G, T are powers of 1024, as in Slurm). Default: no limit. */
  readonly memory?: string;
  /**
   * Wall-time limit of one attempt: seconds (a number), a duration
   * (`"90s"`, `"45m"`, `"1h30m"`, `"2d"`), or Slurm's forms (`"30:00"`,
   * `"01:30:00"`, `"2-00:00:00"`, `"2-12"`). Default: no limit.
   */
  readonly time?: number | string;
  /** GPUs of one execution: a non-negative integer. Default 0. */
  readonly gpus?: number;
  readonly slurm?: SlurmSpec;
}

/** One parsed source of resources: only the fields it sets. */
export interface ResourceLayer {
  readonly cpus?: number;
  readonly memoryBytes?: number;
  readonly timeSeconds?: number;
  readonly gpus?: number;
  readonly slurm?: SlurmSpec;
}

/** What one execution of a node needs, every source applied. */
export interface Resources {
  /** Cores: the scheduler slots the node takes. At least 1. */
  readonly cpus: number;
  /** Memory in bytes; undefined: not declared, no limit. */
  readonly memoryBytes: number | undefined;
  /** Wall-time limit of one attempt in seconds; undefined: none. */
  readonly timeSeconds: number | undefined;
  readonly gpus: number;
  /** Scheduler options, each field from the most specific source that sets it. */
  readonly slurm: SlurmSpec;
}

/** What a node needs when nothing says otherwise. */
export const DEFAULT_RESOURCES: Resources = {
  cpus: 1,
  memoryBytes: undefined,
  timeSeconds: undefined,
  gpus: 0,
  slurm: {},
};

const RESOURCE_KEYS = ['cpus', 'memory', 'time', 'gpus', 'slurm'] as const;
const SLURM_STRING_KEYS = ['partition', 'account', 'qos', 'constraint'] as const;
const SLURM_KEYS: readonly string[] = [...SLURM_STRING_KEYS, 'options'];

const MEMORY_UNITS: { readonly [unit: string]: number } = { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
const MEMORY = /^\s*(\d+(?:\.\d+)?)\s*([KMGT])(?:i?B)?\s*$/i;
/** `1h30m`, `90s`, `2d12h`: each unit at most once, largest first. */
const DURATION = /^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/;
/** Slurm's `--time` forms with a colon or a dash: `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`. */
const SLURM_TIME = /^(?:(\d+)-(\d+)(?::(\d+)(?::(\d+))?)?|(\d+):(\d+)(?::(\d+))?)$/;

function problem(where: ErrorLocation, field: string, message: string, value: unknown, hint?: string): RunGraphError {
  return new RunGraphError('E_RESOURCES', message, {
    ...where,
    field,
    value,
    ...(hint === undefined ? {} : { hint }),
  });
}

/** `"4G"` -> 4294967296. Throws E_RESOURCES naming `field`. */
export function parseMemory(value: unknown, where: ErrorLocation, field: string): number {
  const match = typeof value === 'string' ? MEMORY.exec(value) : null;
  if (match === null)
    throw problem(
      where,
      field,
      `memory: expected an amount with a unit such as "512M" or "4G", got ${describeValue(value)}`,
      value,
      'units K, M, G, T are powers of 1024, as in Slurm',
    );
  const bytes = Math.ceil(Number(match[1]) * (MEMORY_UNITS[(match[2] as string).toUpperCase()] as number));
  if (!(bytes > 0)) throw problem(where, field, `memory: must be more than zero, got ${describeValue(value)}`, value);
  return bytes;
}

/** `"1h30m"`, `"01:30:00"`, `"2-00:00:00"` or 5400 -> 5400 (seconds). Throws E_RESOURCES naming `field`. */
export function parseTime(value: unknown, where: ErrorLocation, field: string): number {
  let seconds: number | undefined;
  if (typeof value === 'number') seconds = value;
  else if (typeof value === 'string') {
    const text = value.trim();
    const slurm = SLURM_TIME.exec(text);
    const duration = text === '' ? null : DURATION.exec(text);
    if (slurm !== null) {
      const n = (i: number): number => Number(slurm[i] ?? 0);
      seconds =
        slurm[1] !== undefined
          ? n(1) * 86400 + n(2) * 3600 + n(3) * 60 + n(4)
          : slurm[7] !== undefined
            ? n(5) * 3600 + n(6) * 60 + n(7)
            : n(5) * 60 + n(6);
    } else if (duration !== null) {
      const n = (i: number): number => Number(duration[i] ?? 0);
      seconds = n(1) * 86400 + n(2) * 3600 + n(3) * 60 + n(4);
    }
  }
  if (seconds === undefined || !Number.isFinite(seconds) || seconds <= 0)
    throw problem(
      where,
      field,
      `time: expected a positive duration such as 90 (seconds), "90s", "1h30m", "01:30:00" or "2-00:00:00", got ${describeValue(value)}`,
      value,
      typeof value === 'string' && /^\d+$/.test(value.trim())
        ? `a bare number in a string is ambiguous (Slurm reads minutes): write "${value.trim()}m" or ${value.trim()} for seconds`
        : undefined,
    );
  return seconds;
}

function parseCount(value: unknown, where: ErrorLocation, field: string, name: string, minimum: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < minimum)
    throw problem(
      where,
      field,
      `${name}: expected ${minimum > 0 ? 'a positive' : 'a non-negative'} integer, got ${describeValue(value)}`,
      value,
    );
  return value;
}

function parseSlurm(value: unknown, where: ErrorLocation, field: string): SlurmSpec {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw problem(where, field, `slurm: expected an object, got ${describeValue(value)}`, value);
  const given = value as { [key: string]: unknown };
  const out: { -readonly [K in keyof SlurmSpec]: SlurmSpec[K] } = {};
  for (const key of Object.keys(given))
    if (!SLURM_KEYS.includes(key))
      throw problem(where, `${field}.${key}`, `slurm: unknown option '${key}'`, key, `known: ${SLURM_KEYS.join(', ')}`);
  for (const key of SLURM_STRING_KEYS) {
    const option = given[key];
    if (option === undefined) continue;
    if (typeof option !== 'string' || option.trim() === '')
      throw problem(
        where,
        `${field}.${key}`,
        `slurm.${key}: expected a non-empty string, got ${describeValue(option)}`,
        option,
      );
    out[key] = option;
  }
  const options = given['options'];
  if (options !== undefined) {
    if (!Array.isArray(options) || options.some((o) => typeof o !== 'string' || o.trim() === ''))
      throw problem(
        where,
        `${field}.options`,
        `slurm.options: expected a list of non-empty strings, got ${describeValue(options)}`,
        options,
        'one sbatch argument per element: ["--exclusive", "--mail-type=END"]',
      );
    out.options = [...(options as string[])];
  }
  return out;
}

/**
 * Check resources as written and turn them into a layer. `where` says
 * where they were written (file, node); `field` is their path there
 * (`resources`, `defaults.resources`).
 */
export function parseResources(value: unknown, where: ErrorLocation, field: string): ResourceLayer {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw problem(where, field, `resources: expected an object, got ${describeValue(value)}`, value);
  const given = value as { [key: string]: unknown };
  for (const key of Object.keys(given))
    if (!(RESOURCE_KEYS as readonly string[]).includes(key))
      throw problem(
        where,
        `${field}.${key}`,
        `resources: unknown field '${key}'`,
        key,
        `known: ${RESOURCE_KEYS.join(', ')}`,
      );
  const layer: { -readonly [K in keyof ResourceLayer]: ResourceLayer[K] } = {};
  if (given['cpus'] !== undefined) layer.cpus = parseCount(given['cpus'], where, `${field}.cpus`, 'cpus', 1);
  if (given['gpus'] !== undefined) layer.gpus = parseCount(given['gpus'], where, `${field}.gpus`, 'gpus', 0);
  if (given['memory'] !== undefined) layer.memoryBytes = parseMemory(given['memory'], where, `${field}.memory`);
  if (given['time'] !== undefined) layer.timeSeconds = parseTime(given['time'], where, `${field}.time`);
  if (given['slurm'] !== undefined) layer.slurm = parseSlurm(given['slurm'], where, `${field}.slurm`);
  return layer;
}

/**
 * `cpus=2,mem=4G,time=1h` (the form of Snakemake's `--default-resources`)
 * as a layer. `mem` and `mem_mb` (megabytes) are accepted for `memory`,
 * `runtime` (minutes, as Snakemake) for `time`, and Slurm's `partition`,
 * `account`, `qos`, `constraint` for the scheduler options.
 */
export function parseResourceFlags(text: string, flag = '--default-resources'): ResourceLayer {
  const where: ErrorLocation = {};
  const spec: { [key: string]: unknown } = {};
  const slurm: { [key: string]: unknown } = {};
  for (const part of text.split(',').map((p) => p.trim())) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq).trim();
    const raw = eq < 0 ? '' : part.slice(eq + 1).trim();
    const field = `${flag} ${key}`;
    if (eq < 0 || raw === '')
      throw problem(where, field, `expected key=value, got ${describeValue(part)}`, part, 'e.g. cpus=2,mem=4G,time=1h');
    const integer = (): number => (/^\d+$/.test(raw) ? Number(raw) : Number.NaN);
    switch (key) {
      case 'cpus':
      case 'threads':
        spec['cpus'] = integer();
        break;
      case 'gpus':
        spec['gpus'] = integer();
        break;
      case 'mem':
      case 'memory':
        spec['memory'] = raw;
        break;
      case 'mem_mb':
        spec['memory'] = `${raw}M`;
        break;
      case 'time':
        spec['time'] = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
        break;
      case 'runtime':
        spec['time'] = /^\d+$/.test(raw) ? `${raw}m` : raw;
        break;
      case 'partition':
      case 'account':
      case 'qos':
      case 'constraint':
        slurm[key] = raw;
        break;
      default:
        throw problem(
          where,
          field,
          `unknown resource '${key}'`,
          key,
          'known: cpus, mem (or mem_mb), time (or runtime, minutes), gpus, partition, account, qos, constraint',
        );
    }
  }
  if (Object.keys(slurm).length > 0) spec['slurm'] = slurm;
  return parseResources(spec, where, flag);
}

/** Stack layers, least specific first: each field comes from the last layer that sets it (Slurm options field by field). */
export function resolveResources(layers: readonly (ResourceLayer | undefined)[]): Resources {
  let cpus = DEFAULT_RESOURCES.cpus;
  let gpus = DEFAULT_RESOURCES.gpus;
  let memoryBytes: number | undefined;
  let timeSeconds: number | undefined;
  let slurm: SlurmSpec = {};
  for (const layer of layers) {
    if (layer === undefined) continue;
    cpus = layer.cpus ?? cpus;
    gpus = layer.gpus ?? gpus;
    memoryBytes = layer.memoryBytes ?? memoryBytes;
    timeSeconds = layer.timeSeconds ?? timeSeconds;
    if (layer.slurm !== undefined) slurm = { ...slurm, ...layer.slurm };
  }
  return { cpus, memoryBytes, timeSeconds, gpus, slurm };
}

/** 5400 -> `1h30m`, 90 -> `1m30s`: a time limit for messages. */
export function formatDuration(seconds: number): string {
  const whole = Math.round(seconds);
  if (whole < 60) return `${seconds < 10 && seconds !== whole ? seconds.toFixed(1) : whole}s`;
  const parts: [number, string][] = [
    [Math.floor(whole / 86400), 'd'],
    [Math.floor((whole % 86400) / 3600), 'h'],
    [Math.floor((whole % 3600) / 60), 'm'],
    [whole % 60, 's'],
  ];
  return parts
    .filter(([n]) => n > 0)
    .map(([n, unit]) => `${n}${unit}`)
    .join('');
}

/** 4294967296 -> `4G`: an amount of memory for messages. */
export function formatMemory(bytes: number): string {
  for (const unit of ['T', 'G', 'M', 'K'] as const) {
    const size = MEMORY_UNITS[unit] as number;
    if (bytes >= size) {
      const amount = bytes / size;
      return `${Number.isInteger(amount) ? amount : amount.toFixed(1)}${unit}`;
    }
  }
  return `${bytes}B`;
}

/** Seconds as Slurm's `--time` wants them: `D-HH:MM:SS`, rounded up to whole seconds. */
export function slurmTimeLimit(seconds: number): string {
  const whole = Math.ceil(seconds);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${Math.floor(whole / 86400)}-${pad(Math.floor((whole % 86400) / 3600))}:${pad(Math.floor((whole % 3600) / 60))}:${pad(whole % 60)}`;
}

/** Bytes as Slurm's `--mem` wants them: whole megabytes, rounded up (`4096M`). */
export function slurmMemory(bytes: number): string {
  return `${Math.ceil(bytes / 1024 ** 2)}M`;
}
