/**
 * Per node, its latest Slurm job and that job's state, for `status`: from
 * the submission records of the working directory, and from `squeue` for
 * jobs not yet settled (one call; a Slurm that does not answer leaves them
 * as last recorded).
 */
import { resolve } from 'node:path';
import type { Uid } from '../../identity/fingerprint.js';
import { isActiveState, listJobs } from './slurm-commands.js';
import { jobNamePrefix, readSubmissions } from './submissions.js';

/** A node's latest Slurm job. */
export interface NodeJob {
  readonly jobId: string | null;
  readonly name: string;
  /** Slurm's state (PENDING, RUNNING, COMPLETED, TIMEOUT, ...), or SUBMITTED when squeue did not say. */
  readonly state: string;
  readonly log: string;
}

export async function nodeJobs(workdir: string): Promise<Map<Uid, NodeJob>> {
  const root = resolve(workdir);
  const records = await readSubmissions(root);
  const latest = new Map<Uid, NodeJob>();
  if (records.length === 0) return latest;
  const live = records.some((r) => r.ended === undefined) ? await listJobs(jobNamePrefix(root)).catch(() => []) : [];
  const liveByName = new Map(live.map((job) => [job.name, job]));
  for (const record of records) {
    const job = liveByName.get(record.name);
    const state =
      record.ended?.state ?? (job !== undefined && isActiveState(job.state) ? job.state : (job?.state ?? 'SUBMITTED'));
    for (const node of record.nodes)
      latest.set(node.uid, { jobId: record.jobId ?? job?.jobId ?? null, name: record.name, state, log: record.log });
  }
  return latest;
}
