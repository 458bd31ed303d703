/**
 * The controller's memory in the working directory: one small file per
 * Slurm submission under `<workdir>/slurm/`, so that a controller killed at
 * any moment and started again knows which jobs are this run's and which
 * nodes they were given.
 *
 *     1. <name>.json written (durably) with the nodes, before sbatch: the intent
 *     2. sbatch --job-name=<name>; <name>.json rewritten with the job id
 *     3. the job ends; <name>.json rewritten with Slurm's verdict
 *
 * A crash between 1 and 2 leaves a record without a job id; the job, if
 * sbatch got that far, carries the record's unique name, and the restarted
 * controller finds it by name in `squeue`. The job writes what became of
 * its nodes to `<name>.outcome.json` and its output to `<name>.log`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrnoException } from '../../errors.js';
import type { Uid } from '../../identity/fingerprint.js';
import { writeFileDurable } from '../../store/durable.js';
import type { EventError } from '../events.js';

/** The folder of a working directory where submissions are recorded. */
export const SLURM_DIR = 'slurm';

/** One submission: a Slurm job given some nodes to build. */
export interface SubmissionRecord {
  readonly version: 1;
  /** The job's name, unique to this submission: `rg-<workdir tag>-<random>`. */
  readonly name: string;
  /** The workflow file the job loads (absolute). */
  readonly workflow: string;
  readonly nodes: readonly { readonly uid: Uid; readonly label: string }[];
  /** 1 for a node's first submission, 2 for its first retry, ... (the highest of its nodes). */
  readonly attempt: number;
  /** The job's output (absolute). */
  readonly log: string;
  readonly createdAt: string;
  /** The sbatch options the job was submitted with. */
  readonly options: readonly string[];
  jobId?: string;
  /** Milliseconds sbatch took. */
  submitMs?: number;
  /** Slurm's last word on the job, once the controller has settled its nodes. */
  ended?: { state: string; reason: string; at: string };
}

/** What the job says became of each of its nodes. */
export interface SubmissionOutcome {
  readonly jobId: string | null;
  readonly nodes: {
    readonly [uid: string]: { state: 'committed' | 'reused' | 'failed' | 'not-run'; error?: EventError };
  };
}

export function slurmDir(workdir: string): string {
  return join(workdir, SLURM_DIR);
}

/** The prefix of every job name of one working directory: what the controller filters `squeue` by. */
export function jobNamePrefix(workdir: string): string {
  return `rg-${createHash('sha256').update(workdir).digest('hex').slice(0, 8)}-`;
}

export function newJobName(workdir: string): string {
  return `${jobNamePrefix(workdir)}${randomBytes(6).toString('hex')}`;
}

export function logPath(workdir: string, name: string): string {
  return join(slurmDir(workdir), `${name}.log`);
}

/** Write (or rewrite) a submission record durably: temporary name, fsync, rename, directory fsync. */
export async function writeSubmission(workdir: string, record: SubmissionRecord): Promise<void> {
  await mkdir(slurmDir(workdir), { recursive: true });
  await writeFileDurable(join(slurmDir(workdir), `${record.name}.json`), `${JSON.stringify(record, null, 2)}\n`);
}

export async function readSubmission(workdir: string, name: string): Promise<SubmissionRecord> {
  return JSON.parse(await readFile(join(slurmDir(workdir), `${name}.json`), 'utf8')) as SubmissionRecord;
}

/** Every submission recorded in the working directory, oldest first. */
export async function readSubmissions(workdir: string): Promise<SubmissionRecord[]> {
  let names: string[];
  try {
    names = await readdir(slurmDir(workdir));
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') return [];
    throw error;
  }
  const records: SubmissionRecord[] = [];
  for (const file of names) {
    if (!file.endsWith('.json') || file.endsWith('.outcome.json')) continue;
    try {
      records.push(JSON.parse(await readFile(join(slurmDir(workdir), file), 'utf8')) as SubmissionRecord);
    } catch {
      // A temporary file of a write in progress, or a record cut short by a crash before its rename: not a submission.
    }
  }
  return records.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

export async function writeOutcome(workdir: string, name: string, outcome: SubmissionOutcome): Promise<void> {
  await writeFileDurable(join(slurmDir(workdir), `${name}.outcome.json`), `${JSON.stringify(outcome, null, 2)}\n`);
}

export async function readOutcome(workdir: string, name: string): Promise<SubmissionOutcome | undefined> {
  try {
    return JSON.parse(await readFile(join(slurmDir(workdir), `${name}.outcome.json`), 'utf8')) as SubmissionOutcome;
  } catch {
    return undefined;
  }
}
