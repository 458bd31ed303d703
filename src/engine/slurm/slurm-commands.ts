/**
 * Slurm through its own command-line tools: `sbatch`, `squeue`, `scontrol`,
 * `sacct` and `scancel`, each run as a child process with a bounded wait.
 * Nothing here knows about run-graph's graphs; the controller
 * (controller.ts) decides what to submit and reads the answers.
 */
import { execFile, spawn } from 'node:child_process';
import { userInfo } from 'node:os';
import { RunGraphError } from '../../errors.js';

/** How long one Slurm command may take before it counts as failed. */
const COMMAND_TIMEOUT_MS = 60_000;

/** The states a job ends in that say why its nodes did not commit. */
export const SLURM_VERDICTS = ['OUT_OF_MEMORY', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED', 'CANCELLED', 'FAILED'] as const;

/** A job as `squeue` or `scontrol` reports it. */
export interface SlurmJobState {
  readonly jobId: string;
  readonly name: string;
  /** PENDING, RUNNING, COMPLETING, COMPLETED, TIMEOUT, CANCELLED, OUT_OF_MEMORY, ... */
  readonly state: string;
  /** Why it is pending, or why it ended (squeue's %r). */
  readonly reason: string;
}

/** States in which a job may still run the nodes it was given. */
export function isActiveState(state: string): boolean {
  return [
    'PENDING',
    'CONFIGURING',
    'RUNNING',
    'COMPLETING',
    'REQUEUED',
    'RESIZING',
    'SUSPENDED',
    'STOPPED',
    'SIGNALING',
  ].includes(state);
}

/** Run a Slurm command; resolve to its standard output, reject with E_SLURM saying what failed. */
function slurm(command: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const fail = (detail: string, cause?: unknown): void =>
      reject(
        new RunGraphError('E_SLURM', `${command} ${args.join(' ')}: ${detail}`, {
          cause,
          hint: 'check that the Slurm commands are on PATH and that `sinfo` answers',
        }),
      );
    if (input === undefined) {
      execFile(command, args, { timeout: COMMAND_TIMEOUT_MS, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
        if (error !== null) fail(stderr.trim() || error.message, error);
        else resolve(stdout);
      });
      return;
    }
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error) => {
      clearTimeout(timer);
      fail(error.message, error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else fail(stderr.trim() || `exited with ${signal ?? String(code)}`);
    });
    child.stdin.end(input);
  });
}

/** Submit a batch script given on standard input; resolves to the job id (`sbatch --parsable`). */
export async function sbatch(args: readonly string[], script: string): Promise<string> {
  const out = await slurm('sbatch', ['--parsable', ...args], script);
  // --parsable prints "jobid" or "jobid;cluster".
  const jobId = out.trim().split(';')[0] ?? '';
  if (!/^\d+$/.test(jobId)) throw new RunGraphError('E_SLURM', `sbatch answered '${out.trim()}', not a job id`);
  return jobId;
}

/**
 * This user's jobs whose name starts with `prefix`, in every state squeue
 * still knows (finished ones stay for MinJobAge, 300 s by default): one call
 * however many jobs the run has.
 */
export async function listJobs(prefix: string): Promise<SlurmJobState[]> {
  const out = await slurm('squeue', ['-h', '-t', 'all', '-u', userInfo().username, '-o', '%i|%j|%T|%r']);
  const jobs: SlurmJobState[] = [];
  for (const line of out.split('\n')) {
    const [jobId, name, state, reason] = line.trim().split('|');
    if (jobId === undefined || name === undefined || state === undefined || !name.startsWith(prefix)) continue;
    jobs.push({ jobId, name, state, reason: reason ?? '' });
  }
  return jobs;
}

/** One job's state from `scontrol show job`, or undefined once slurmctld has forgotten it. */
export async function showJob(jobId: string): Promise<SlurmJobState | undefined> {
  let out: string;
  try {
    out = await slurm('scontrol', ['show', 'job', '-o', jobId]);
  } catch {
    return undefined;
  }
  const field = (key: string): string => new RegExp(`(?:^|\\s)${key}=(\\S*)`).exec(out)?.[1] ?? '';
  const state = field('JobState');
  if (state === '') return undefined;
  return { jobId, name: field('JobName'), state, reason: field('Reason') };
}

/** Whether this cluster keeps accounting, so that `sacct` knows jobs slurmctld has forgotten. */
export async function hasAccounting(): Promise<boolean> {
  try {
    const out = await slurm('scontrol', ['show', 'config']);
    const type = /AccountingStorageType\s*=\s*(\S+)/.exec(out)?.[1] ?? 'accounting_storage/none';
    return type !== 'accounting_storage/none';
  } catch {
    return false;
  }
}

/** A finished job's state from `sacct` (clusters with accounting), or undefined. */
export async function accountedJob(jobId: string): Promise<SlurmJobState | undefined> {
  try {
    const out = await slurm('sacct', ['-X', '-n', '-P', '-j', jobId, '-o', 'JobIDRaw,JobName,State,Reason']);
    const [id, name, state, reason] = (out.split('\n')[0] ?? '').split('|');
    if (id === undefined || state === undefined || state === '') return undefined;
    // sacct writes "CANCELLED by 0".
    return { jobId: id, name: name ?? '', state: state.split(' ')[0] ?? state, reason: reason ?? '' };
  } catch {
    return undefined;
  }
}

/** Cancel jobs by id. */
export async function scancel(jobIds: readonly string[]): Promise<void> {
  if (jobIds.length > 0) await slurm('scancel', [...jobIds]);
}

/** Cancel jobs by name (a submission whose id was never recorded). */
export async function scancelByName(name: string): Promise<void> {
  await slurm('scancel', ['-u', userInfo().username, '-n', name]);
}

/** Whether the Slurm commands are here and slurmctld answers: `sinfo`'s first line, or why not. */
export async function slurmReachable(): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    await slurm('sinfo', ['-h', '-o', '%P %a']);
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}
