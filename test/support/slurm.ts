/**
 * The real Slurm cluster the Slurm tests run against (.ci/slurm.sh starts a
 * single-node one in CI): whether it answers, and the jobs it has on record,
 * counted from Slurm's own books (sacct where the cluster keeps accounting,
 * else the job-completion log), never from run-graph's.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { beforeAll, describe } from 'vitest';

const exec = promisify(execFile);

/** A Slurm command's standard output. */
export async function slurmCommand(command: string, args: readonly string[]): Promise<string> {
  return (await exec(command, args, { timeout: 30_000 })).stdout;
}

async function reachable(): Promise<string | undefined> {
  try {
    const out = await slurmCommand('sinfo', ['-h', '-o', '%t']);
    if (!/idle|mix|alloc/.test(out)) return `sinfo answers, but no node is up (${out.trim() || 'no nodes'})`;
    return undefined;
  } catch (error) {
    return `Slurm is not reachable (sinfo: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}); start it with \`bash .ci/slurm.sh start\``;
  }
}

const unreachable = await reachable();
const mustRun = process.env['CI'] === 'true';
if (unreachable !== undefined && !mustRun) process.stdout.write(`skipping the Slurm tests: ${unreachable}\n`);

/**
 * `describe` for tests that need Slurm: skipped, with a line saying why, when
 * it does not answer; failed when it does not answer and CI=true.
 */
export function describeWithSlurm(name: string, body: () => void): void {
  describe.skipIf(unreachable !== undefined && !mustRun)(name, () => {
    beforeAll(() => {
      if (unreachable !== undefined) throw new Error(`CI=true and ${unreachable}`);
    });
    body();
  });
}

/** A job as Slurm's records have it. */
export interface RecordedJob {
  readonly jobId: string;
  readonly name: string;
  readonly state: string;
  readonly exitCode: string;
}

async function config(): Promise<Map<string, string>> {
  const out = await slurmCommand('scontrol', ['show', 'config']);
  const entries = new Map<string, string>();
  for (const line of out.split('\n')) {
    const match = /^(\w+)\s*=\s*(.*)$/.exec(line.trim());
    if (match?.[1] !== undefined) entries.set(match[1], (match[2] ?? '').trim());
  }
  return entries;
}

/**
 * Why this Slurm does not hold a job to its --mem, or undefined if it does:
 * memory must be a consumable resource, enforced by task/cgroup (what
 * .ci/slurm.sh sets up where a memory cgroup can be made).
 */
export async function memoryNotEnforced(): Promise<string | undefined> {
  const settings = await config();
  const task = settings.get('TaskPlugin') ?? '';
  const select = settings.get('SelectTypeParameters') ?? '';
  if (!task.includes('task/cgroup') || !/MEMORY/i.test(select))
    return `this Slurm does not hold jobs to their --mem (TaskPlugin=${task}, SelectTypeParameters=${select}); .ci/slurm.sh sets task/cgroup where it can make a memory cgroup`;
  return undefined;
}

/** Every finished job Slurm has on record whose name starts with `prefix`. */
export async function recordedJobs(prefix: string): Promise<RecordedJob[]> {
  const settings = await config();
  let jobs: RecordedJob[];
  if ((settings.get('AccountingStorageType') ?? 'accounting_storage/none') !== 'accounting_storage/none') {
    const out = await slurmCommand('sacct', [
      '-X',
      '-n',
      '-P',
      '-S',
      'now-1days',
      '-o',
      'JobID,JobName,State,ExitCode',
    ]);
    jobs = out
      .split('\n')
      .map((line) => line.split('|'))
      .filter((f) => f.length >= 4)
      .map(([jobId, name, state, exitCode]) => ({
        jobId: jobId ?? '',
        name: name ?? '',
        state: (state ?? '').split(' ')[0] ?? '',
        exitCode: exitCode ?? '',
      }));
  } else if (settings.get('JobCompType') === 'jobcomp/filetxt') {
    const text = await readFile(settings.get('JobCompLoc') ?? '', 'utf8').catch(() => '');
    jobs = text
      .split('\n')
      .filter((line) => line.startsWith('JobId='))
      .map((line) => {
        const field = (key: string): string => new RegExp(`(?:^| )${key}=(\\S*)`).exec(line)?.[1] ?? '';
        return { jobId: field('JobId'), name: field('Name'), state: field('JobState'), exitCode: field('ExitCode') };
      });
  } else {
    throw new Error('this Slurm keeps no record of finished jobs (no accounting, no jobcomp/filetxt)');
  }
  return jobs.filter((job) => job.name.startsWith(prefix));
}
