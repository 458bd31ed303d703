/**
 * The Slurm controller: one process that holds the graph and has Slurm run
 * it. Each ready node (every upstream node committed) goes into a Slurm job;
 * the job runs run-graph itself (`slurm-job`, see job.ts), which builds its
 * nodes' stores in the shared working directory by the ordinary store
 * protocol. The controller never takes a lock: it learns what happened from
 * the stores, and why from Slurm.
 *
 *     ready nodes -> grouped by resource class -> record intent -> sbatch
 *     poll squeue (backing off) -> job ended -> each node: committed store?
 *        yes: done, its dependents may become ready
 *        no : a failure naming Slurm's verdict, retried per the node's policy
 *
 * Every submission is recorded in `<workdir>/slurm/` before and after sbatch
 * (submissions.ts), so a controller killed at any moment re-attaches to its
 * jobs when started again and never submits a node whose job is pending or
 * running. An interrupt (the signal) cancels this run's jobs.
 */
import { resolve } from 'node:path';
import type { Uid } from '../../identity/fingerprint.js';
import { qualifiedName } from '../../operations/operation.js';
import { backoffSeconds } from '../../operations/retry-policy.js';
import type { CommittedMetadata } from '../../store/metadata.js';
import { currentOwner } from '../../store/owner.js';
import { Stores, type VerifyMode } from '../../store/store.js';
import { listStoreUids, openWorkdir } from '../../store/workdir.js';
import type { ConcreteGraph, GraphNode } from '../../workflow/graph.js';
import type { EventError, EventListener, RunCounts } from '../events.js';
import type { NodeFailure, RunSummary } from '../run.js';
import { jobRequestOf, requestKey, sbatchOptions, type JobRequest } from './job-request.js';
import {
  accountedJob,
  hasAccounting,
  isActiveState,
  listJobs,
  sbatch,
  scancel,
  scancelByName,
  showJob,
  type SlurmJobState,
} from './slurm-commands.js';
import {
  jobNamePrefix,
  logPath,
  newJobName,
  readOutcome,
  readSubmissions,
  writeSubmission,
  type SubmissionRecord,
} from './submissions.js';

export interface SlurmControllerOptions {
  /** The workflow file each job loads (made absolute). */
  readonly workflow: string;
  readonly workdir: string;
  /** The program a job runs: node and run-graph's dist/cli/main.js, never a wrapper such as npx. */
  readonly command: readonly string[];
  /** Most of this run's jobs pending or running at once. Default 100. */
  readonly maxJobs?: number;
  /** Nodes per job. Default: the ready nodes of a class spread over the free job slots. */
  readonly groupSize?: number;
  /** Poll intervals in ms: the first after a change, growing by half each time nothing changes, up to the second. Default [1000, 15000]. */
  readonly pollMs?: readonly [number, number];
  /** Extra sbatch options for every job (`--sbatch-option`). */
  readonly sbatchOptions?: readonly string[];
  readonly verify?: VerifyMode;
  readonly staleMs?: number;
  readonly onEvent?: EventListener;
  /** A line about Slurm itself (a submission, a re-attached job), for the user. */
  readonly onNotice?: (text: string) => void;
  readonly signal?: AbortSignal;
  /** After the first node that fails for good, submit nothing more; the jobs submitted run to their end. */
  readonly failFast?: boolean;
}

/** What the controller did, besides the run's summary. */
export interface SlurmRunSummary extends RunSummary {
  /** Jobs this controller submitted. */
  readonly submitted: number;
  /** Milliseconds each sbatch took. */
  readonly submitMs: readonly number[];
  /** Jobs cancelled on interrupt. */
  readonly cancelled: number;
}

/** A record without a job id is given this long to show up in squeue (its sbatch may still be under way). */
const UNSEEN_GRACE_MS = 15_000;
const DEFAULT_MAX_JOBS = 100;

type NodeState = 'waiting' | 'ready' | 'submitted' | 'done' | 'failed' | 'skipped';

export class SlurmController {
  readonly #graph: ConcreteGraph;
  readonly #options: SlurmControllerOptions;
  readonly #workdir: string;
  readonly #prefix: string;
  readonly #emit: EventListener;
  readonly #notice: (text: string) => void;
  readonly #state: NodeState[];
  readonly #waitingOn: Int32Array;
  readonly #downstream: number[][];
  readonly #index = new Map<Uid, number>();
  readonly #attempts = new Map<number, number>();
  /** A node to be retried is not submitted before this time (ms since the epoch). */
  readonly #notBefore = new Map<number, number>();
  /** Submissions whose job may still run, by job name. */
  readonly #active = new Map<string, SubmissionRecord>();
  readonly #failures: NodeFailure[] = [];
  readonly #results = new Map<string, CommittedMetadata>();
  readonly #counts: RunCounts;
  /** Set at the first failure of a run that fails fast: nothing more is submitted. */
  #halted = false;
  readonly #submitMs: number[] = [];
  #stores: Stores | undefined;
  #accounting: boolean | undefined;
  #cancelled = 0;

  constructor(graph: ConcreteGraph, options: SlurmControllerOptions) {
    this.#graph = graph;
    this.#options = options;
    this.#workdir = resolve(options.workdir);
    this.#prefix = jobNamePrefix(this.#workdir);
    this.#emit = options.onEvent ?? (() => undefined);
    this.#notice = options.onNotice ?? (() => undefined);
    const n = graph.nodes.length;
    this.#state = Array.from({ length: n }, () => 'waiting');
    this.#waitingOn = new Int32Array(n);
    this.#downstream = Array.from({ length: n }, () => []);
    graph.nodes.forEach((node, i) => {
      this.#index.set(node.uid, i);
      this.#waitingOn[i] = node.upstream.length;
      for (const u of node.upstream) this.#downstream[u]?.push(i);
    });
    this.#counts = { total: n, reused: 0, committed: 0, failed: 0, skipped: 0, notRun: 0 };
  }

  /** Run the graph on Slurm to its end (or the signal). Never throws for a node failure: see the summary. */
  async run(): Promise<SlurmRunSummary> {
    const started = performance.now();
    const signal = this.#options.signal ?? new AbortController().signal;
    const layout = await openWorkdir(this.#workdir);
    this.#stores = new Stores(layout, currentOwner(), {
      verify: this.#options.verify ?? 'size',
      staleMs: this.#options.staleMs ?? 30_000,
    });
    this.#emit({ type: 'run-started', total: this.#graph.nodes.length, workdir: this.#workdir, jobs: this.#maxJobs });
    await this.#findCommitted();
    await this.#reattach();
    const [fastest, slowest] = this.#options.pollMs ?? [1000, 15_000];
    let interval = fastest;
    while (!signal.aborted) {
      const changed = (await this.#poll()) + (await this.#submitReady());
      if (this.#active.size === 0 && (this.#halted || !this.#anyReady())) break;
      interval = changed > 0 ? fastest : Math.min(slowest, Math.round(interval * 1.5));
      await sleep(this.#nextWake(interval), signal);
    }
    if (signal.aborted) await this.#cancelActive();
    for (const state of this.#state)
      if (state === 'waiting' || state === 'ready' || state === 'submitted') this.#counts.notRun++;
    const counts = this.#counts;
    const interrupted = signal.aborted;
    const ok = !interrupted && counts.failed === 0 && counts.reused + counts.committed === counts.total;
    const durationMs = Math.round(performance.now() - started);
    this.#emit({ type: 'run-finished', ok, interrupted, counts: { ...counts }, durationMs });
    return {
      ok,
      interrupted,
      counts,
      failures: this.#failures,
      // The controller publishes nothing: `run` puts published outputs in place once the jobs are done.
      publishFailures: 0,
      durationMs,
      results: this.#results,
      submitted: this.#submitMs.length,
      submitMs: this.#submitMs,
      cancelled: this.#cancelled,
    };
  }

  get #maxJobs(): number {
    return this.#options.maxJobs ?? DEFAULT_MAX_JOBS;
  }

  get #storesOrThrow(): Stores {
    if (this.#stores === undefined) throw new Error('the controller has not opened its working directory');
    return this.#stores;
  }

  // --- what is there already

  /** Nodes committed before this run: reused, like a local run reuses them. */
  async #findCommitted(): Promise<void> {
    const existing = await listStoreUids(this.#storesOrThrow.layout);
    for (const [i, node] of this.#graph.nodes.entries()) {
      if (!existing.has(node.uid)) continue;
      const metadata = await this.#storesOrThrow.verified(node.uid, node.record);
      if (metadata === undefined) continue;
      this.#counts.reused++;
      this.#emit({ type: 'node-reused', label: node.label, uid: node.uid });
      this.#done(i, metadata);
    }
    for (let i = 0; i < this.#state.length; i++)
      if (this.#state[i] === 'waiting' && this.#waitingOn[i] === 0) this.#state[i] = 'ready';
  }

  /** Take over the submissions an earlier controller left unsettled: their nodes are not submitted again while they may run. */
  async #reattach(): Promise<void> {
    for (const record of await readSubmissions(this.#workdir)) {
      if (record.ended !== undefined) continue;
      const nodes = record.nodes.map((n) => this.#index.get(n.uid)).filter((i): i is number => i !== undefined);
      const open = nodes.filter((i) => this.#state[i] === 'ready' || this.#state[i] === 'waiting');
      if (open.length === 0 && nodes.length > 0) {
        // Everything it was given is committed: nothing to wait for.
        await this.#settleRecord(record, 'COMPLETED', '');
        continue;
      }
      for (const i of open) {
        this.#state[i] = 'submitted';
        this.#attempts.set(i, Math.max(this.#attempts.get(i) ?? 0, record.attempt));
      }
      this.#active.set(record.name, record);
      this.#notice(
        `re-attached to Slurm job ${record.jobId ?? '(id not recorded)'} (${record.name}) for ${labelsOf(record)}`,
      );
    }
  }

  // --- polling

  /** Ask Slurm about this run's jobs (one squeue call) and settle those that ended. Returns how many did. */
  async #poll(): Promise<number> {
    if (this.#active.size === 0) return 0;
    const jobs = await listJobs(this.#prefix);
    const byName = new Map<string, SlurmJobState>();
    for (const job of jobs) {
      const seen = byName.get(job.name);
      // The same name twice: the newer job (higher id) speaks for the submission.
      if (seen === undefined || Number(job.jobId) > Number(seen.jobId)) byName.set(job.name, job);
    }
    let settled = 0;
    for (const record of [...this.#active.values()]) {
      let job = byName.get(record.name);
      if (job !== undefined && record.jobId === undefined) {
        record.jobId = job.jobId;
        await writeSubmission(this.#workdir, record);
      }
      if (job !== undefined && isActiveState(job.state)) continue;
      if (job === undefined && record.jobId !== undefined) job = await this.#forgottenJob(record.jobId);
      if (
        job === undefined &&
        record.jobId === undefined &&
        Date.now() - Date.parse(record.createdAt) < UNSEEN_GRACE_MS
      )
        continue;
      if (job !== undefined && isActiveState(job.state)) continue;
      await this.#settleRecord(record, job?.state ?? 'UNKNOWN', job?.reason ?? '');
      settled++;
    }
    return settled;
  }

  /** A job squeue no longer lists: sacct where the cluster keeps accounting, else scontrol while slurmctld remembers it. */
  async #forgottenJob(jobId: string): Promise<SlurmJobState | undefined> {
    this.#accounting ??= await hasAccounting();
    if (this.#accounting) {
      const accounted = await accountedJob(jobId);
      if (accounted !== undefined) return accounted;
    }
    return showJob(jobId);
  }

  /** A job has ended: each of its nodes is committed, or failed with what Slurm and the job say. */
  async #settleRecord(record: SubmissionRecord, state: string, reason: string): Promise<void> {
    this.#active.delete(record.name);
    const outcome = await readOutcome(this.#workdir, record.name);
    for (const { uid } of record.nodes) {
      const i = this.#index.get(uid);
      const node = i === undefined ? undefined : this.#graph.nodes[i];
      if (i === undefined || node === undefined || this.#state[i] !== 'submitted') continue;
      const metadata = await this.#storesOrThrow.verified(node.uid, node.record);
      if (metadata !== undefined) {
        this.#counts.committed++;
        this.#emit({ type: 'node-committed', label: node.label, uid: node.uid, durationMs: metadata.durationMs });
        this.#done(i, metadata);
        continue;
      }
      this.#nodeFailed(i, verdictError(record, state, reason, outcome?.nodes[uid]?.error));
    }
    record.ended = { state, reason, at: new Date().toISOString() };
    await writeSubmission(this.#workdir, record);
  }

  // --- node outcomes

  #done(i: number, metadata: CommittedMetadata): void {
    const node = this.#graph.nodes[i];
    if (node === undefined) return;
    this.#state[i] = 'done';
    this.#results.set(node.label, metadata);
    for (const d of this.#downstream[i] ?? []) {
      this.#waitingOn[d] = (this.#waitingOn[d] ?? 0) - 1;
      if (this.#waitingOn[d] === 0 && this.#state[d] === 'waiting') this.#state[d] = 'ready';
    }
  }

  #nodeFailed(i: number, error: EventError): void {
    const node = this.#graph.nodes[i];
    if (node === undefined) return;
    const attempts = this.#attempts.get(i) ?? 1;
    const policy = node.retry;
    if (attempts <= policy.retries) {
      this.#state[i] = 'ready';
      this.#notBefore.set(i, Date.now() + backoffSeconds(policy.backoff, attempts) * 1000);
      this.#notice(`${node.label}: ${error.message}; retrying (attempt ${attempts + 1} of ${policy.retries + 1})`);
      return;
    }
    this.#state[i] = 'failed';
    this.#counts.failed++;
    if (this.#options.failFast === true) this.#halted = true;
    this.#failures.push({ label: node.label, uid: node.uid, error });
    this.#emit({ type: 'node-failed', label: node.label, uid: node.uid, error });
    const stack = [...(this.#downstream[i] ?? [])];
    while (stack.length > 0) {
      const d = stack.pop() as number;
      const below = this.#graph.nodes[d];
      if (below === undefined || this.#state[d] === 'skipped' || this.#state[d] === 'failed') continue;
      this.#state[d] = 'skipped';
      this.#counts.skipped++;
      this.#emit({
        type: 'node-skipped',
        label: below.label,
        uid: below.uid,
        reason: 'upstream-failed',
        upstream: node.label,
      });
      stack.push(...(this.#downstream[d] ?? []));
    }
  }

  // --- submitting

  #anyReady(): boolean {
    return this.#state.includes('ready');
  }

  /** When to poll next: after `interval`, or sooner if a retry falls due before. */
  #nextWake(interval: number): number {
    let wake = interval;
    const now = Date.now();
    for (const [i, at] of this.#notBefore) if (this.#state[i] === 'ready') wake = Math.min(wake, Math.max(0, at - now));
    return wake;
  }

  /** Submit the ready nodes, grouped by resource class, while job slots are free. Returns the jobs submitted. */
  async #submitReady(): Promise<number> {
    if (this.#halted) return 0;
    const now = Date.now();
    const classes = new Map<string, { request: JobRequest; nodes: number[] }>();
    for (const [i, state] of this.#state.entries()) {
      if (state !== 'ready' || (this.#notBefore.get(i) ?? 0) > now) continue;
      const node = this.#graph.nodes[i];
      if (node === undefined) continue;
      const request = jobRequestOf(node);
      const key = requestKey(request);
      const found = classes.get(key);
      if (found === undefined) classes.set(key, { request, nodes: [i] });
      else found.nodes.push(i);
    }
    let submitted = 0;
    let waiting = [...classes.values()].reduce((sum, c) => sum + c.nodes.length, 0);
    for (const { request, nodes } of classes.values()) {
      while (nodes.length > 0 && this.#active.size < this.#maxJobs) {
        const free = this.#maxJobs - this.#active.size;
        // Spread what waits over the free slots, so that 1,000 small nodes make at most maxJobs jobs.
        const size = this.#options.groupSize ?? Math.max(1, Math.ceil(waiting / free));
        const group = nodes.splice(0, size);
        waiting -= group.length;
        await this.#submit(request, group);
        submitted++;
      }
    }
    return submitted;
  }

  async #submit(request: JobRequest, group: readonly number[]): Promise<void> {
    const nodes = group.map((i) => this.#graph.nodes[i]).filter((n): n is GraphNode => n !== undefined);
    const name = newJobName(this.#workdir);
    const attempt = Math.max(...group.map((i) => (this.#attempts.get(i) ?? 0) + 1));
    const options = [
      `--job-name=${name}`,
      `--output=${logPath(this.#workdir, name)}`,
      `--chdir=${this.#workdir}`,
      ...sbatchOptions(request, nodes.length),
      ...(this.#options.sbatchOptions ?? []),
    ];
    const record: SubmissionRecord = {
      version: 1,
      name,
      workflow: resolve(this.#options.workflow),
      nodes: nodes.map((n) => ({ uid: n.uid, label: n.label })),
      attempt,
      log: logPath(this.#workdir, name),
      createdAt: new Date().toISOString(),
      options,
    };
    // The intent first: a crash from here on leaves a record the next controller finds the job by.
    await writeSubmission(this.#workdir, record);
    for (const i of group) {
      this.#state[i] = 'submitted';
      this.#attempts.set(i, attempt);
      this.#notBefore.delete(i);
    }
    this.#active.set(name, record);
    const started = performance.now();
    try {
      record.jobId = await sbatch(
        options,
        jobScript(this.#options.command, record, this.#workdir, this.#options.staleMs),
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await this.#settleRecord(record, 'SUBMIT_FAILED', message);
      return;
    }
    record.submitMs = Math.round(performance.now() - started);
    this.#submitMs.push(record.submitMs);
    await writeSubmission(this.#workdir, record);
    for (const node of nodes)
      this.#emit({ type: 'node-started', label: node.label, uid: node.uid, operation: qualifiedName(node.operation) });
    this.#notice(`submitted Slurm job ${record.jobId} (${name}) for ${labelsOf(record)}`);
  }

  /** Cancel this run's jobs (an interrupt); their records say so, and the next run submits their nodes anew. */
  async #cancelActive(): Promise<void> {
    const records = [...this.#active.values()];
    const ids = records.flatMap((r) => (r.jobId === undefined ? [] : [r.jobId]));
    await scancel(ids).catch((error: unknown) => this.#notice(`scancel failed: ${String(error)}`));
    for (const record of records.filter((r) => r.jobId === undefined))
      await scancelByName(record.name).catch(() => undefined);
    for (const record of records) {
      record.ended = { state: 'CANCELLED', reason: 'the run was interrupted', at: new Date().toISOString() };
      await writeSubmission(this.#workdir, record);
    }
    this.#cancelled = records.length;
    this.#active.clear();
  }
}

/** The error a node of an ended job fails with: Slurm's verdict where it has one, else what the job said. */
function verdictError(
  record: SubmissionRecord,
  state: string,
  reason: string,
  jobSaid: EventError | undefined,
): EventError {
  const job = `Slurm job ${record.jobId ?? '(no id)'} (${record.name})`;
  const log = `log: ${record.log}`;
  if (state === 'SUBMIT_FAILED')
    return withHint(
      { code: 'E_SLURM', message: `sbatch failed: ${reason}` },
      "check the node's resources and the sbatch options",
    );
  if (state !== 'COMPLETED' && state !== 'FAILED' && state !== 'UNKNOWN')
    return withHint(
      {
        code: state === 'TIMEOUT' ? 'E_TIMEOUT' : 'E_SLURM_JOB',
        message: `${state}: ${job} ended ${state}${reason !== '' && reason !== 'None' ? ` (${reason})` : ''}; ${log}`,
      },
      state === 'TIMEOUT'
        ? "raise the node's resources.time"
        : state === 'OUT_OF_MEMORY'
          ? "raise the node's resources.memory"
          : undefined,
    );
  if (jobSaid !== undefined) return { ...jobSaid, message: `${jobSaid.message} (${job}; ${log})` };
  return {
    code: 'E_SLURM_JOB',
    message: `${job} ended ${state} without committing the node; ${log}`,
  };
}

/** An error with its hint, in its message too, as every other error's (RunGraphError.describe): what a user reads. */
function withHint(error: EventError, hint: string | undefined): EventError {
  return hint === undefined ? error : { ...error, message: `${error.message} (hint: ${hint})`, hint };
}

function labelsOf(record: SubmissionRecord): string {
  const labels = record.nodes.map((n) => n.label);
  return labels.length <= 4 ? labels.join(', ') : `${labels.slice(0, 3).join(', ')} and ${labels.length - 3} more`;
}

/** Quote for /bin/sh. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The batch script: exec run-graph directly, so scancel's signals reach it (no shell, no npx in between). */
function jobScript(
  command: readonly string[],
  record: SubmissionRecord,
  workdir: string,
  staleMs: number | undefined,
): string {
  const argv = [...command, 'slurm-job', record.workflow, '--workdir', workdir, '--submission', record.name];
  // The controller's stale limit, so that a job judges other hosts' locks as every worker of the directory does.
  if (staleMs !== undefined) argv.push('--stale', String(Math.max(1, Math.round(staleMs / 1000))));
  return `#!/bin/sh\nexec ${argv.map(shellWord).join(' ')}\n`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolveSleep) => {
    if (signal.aborted) return resolveSleep();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolveSleep();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
