/**
 * What `run-graph logs` reads: the stdout and stderr of one attempt of a
 * node, found without taking any lock. The latest attempt by default: the
 * committed one (its `stdout.txt` and `stderr.txt` artifacts), the one
 * running now (its attempt directory, written as the command runs), or the
 * last failed one (`attempts/<n>/`, kept until the node commits), or that
 * of a forced rerun that failed after the node committed (its store is kept
 * in forced-failures/). Earlier attempts by number, while their files are
 * kept.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RunGraphError } from '../errors.js';
import type { Uid } from '../identity/fingerprint.js';
import { attemptDir } from '../store/data-store.js';
import { failedAttempts, type FailedAttempt } from '../store/metadata.js';
import { readStoreStatus } from '../store/store-status.js';
import { readForcedFailure } from '../store/superseded.js';
import { workdirLayout } from '../store/workdir.js';
import type { ConcreteGraph } from '../workflow/graph.js';
import { nodeByLabel } from './explain/explain.js';
import { failureCause } from './failure-text.js';

/** One attempt's output files, each undefined when the attempt wrote none (an operation other than a Subprocess). */
export interface AttemptLogs {
  label: string;
  uid: Uid;
  attempt: number;
  /**
   * `committed`, `running`, or `failed` with its record; `keptCommitted` is
   * set for the failed attempt of a forced rerun, after which the node's
   * committed store (committed at that time) was put back.
   */
  outcome:
    { state: 'committed' } | { state: 'running' } | { state: 'failed'; failure: FailedAttempt; keptCommitted?: string };
  stdout: string | undefined;
  stderr: string | undefined;
  /** Every attempt whose files can be read, for messages. */
  available: number[];
}

/** The line that heads an attempt's logs: `== fit, attempt 2: failed (exit 3) after 120 ms, started ...`. */
export function describeAttempt(logs: AttemptLogs): string {
  const { outcome } = logs;
  const what =
    outcome.state === 'failed'
      ? `failed (${failureCause(outcome.failure)}) after ${outcome.failure.durationMs} ms, started ${outcome.failure.startedAt}`
      : outcome.state;
  const which = outcome.state === 'failed' && outcome.keptCommitted !== undefined ? ' of a forced rerun' : '';
  return `== ${logs.label}, attempt ${logs.attempt}${which}: ${what}`;
}

function present(path: string): string | undefined {
  return existsSync(path) ? path : undefined;
}

/** The logs of attempt `attempt` of node `label` (the latest when undefined); E_USAGE naming the attempts there are otherwise. */
export async function readAttemptLogs(
  graph: ConcreteGraph,
  label: string,
  workdir: string,
  attempt: number | undefined,
): Promise<AttemptLogs> {
  const node = nodeByLabel(graph, label);
  const layout = workdirLayout(workdir);
  const storeDir = layout.storeDir(node.uid);
  const status = await readStoreStatus(storeDir);
  if (status.state === 'not-started')
    throw new RunGraphError('E_USAGE', `node '${label}' has not run in ${workdir}: it has no logs`, {
      node: label,
      hint: 'run the workflow first',
    });
  const failures = failedAttempts(status.metadata);
  const files = (dir: string): Pick<AttemptLogs, 'stdout' | 'stderr'> => ({
    stdout: present(join(dir, 'stdout.txt')),
    stderr: present(join(dir, 'stderr.txt')),
  });
  // A forced rerun failed since the commit: by default, its last attempt is the latest one.
  const forced =
    status.state === 'committed' && attempt === undefined
      ? await readForcedFailure(layout, node.uid, status.metadata.committedAt)
      : undefined;
  if (forced !== undefined && status.state === 'committed') {
    const { committedAt } = status.metadata;
    return {
      label: node.label,
      uid: node.uid,
      available: [status.metadata.attempt ?? 1],
      attempt: forced.last.attempt,
      outcome: { state: 'failed', failure: forced.last, keptCommitted: committedAt },
      ...files(attemptDir(forced.dir, forced.last.attempt)),
    };
  }
  // The attempt not among the failed ones: the committed one, or the one running now.
  const latest:
    { number: number; logs: Pick<AttemptLogs, 'stdout' | 'stderr'>; state: 'committed' | 'running' } | undefined =
    status.state === 'committed'
      ? { number: status.metadata.attempt ?? 1, logs: files(storeDir), state: 'committed' }
      : status.state === 'running'
        ? {
            number: (failures.at(-1)?.attempt ?? 0) + 1,
            logs: files(attemptDir(storeDir, (failures.at(-1)?.attempt ?? 0) + 1)),
            state: 'running',
          }
        : undefined;
  const available = [
    ...(status.state === 'committed' ? [] : failures.map((f) => f.attempt)),
    ...(latest === undefined ? [] : [latest.number]),
  ];
  const wanted = attempt ?? available.at(-1);
  const base = { label: node.label, uid: node.uid, available };
  if (latest !== undefined && wanted === latest.number)
    return { ...base, attempt: wanted, outcome: { state: latest.state }, ...latest.logs };
  const failure = status.state === 'committed' ? undefined : failures.find((f) => f.attempt === wanted);
  if (failure !== undefined && wanted !== undefined)
    return { ...base, attempt: wanted, outcome: { state: 'failed', failure }, ...files(attemptDir(storeDir, wanted)) };
  const committedNote =
    status.state === 'committed' && wanted !== undefined && wanted < (status.metadata.attempt ?? 1)
      ? `; the files of failed attempts are removed when the node commits`
      : '';
  throw new RunGraphError(
    'E_USAGE',
    wanted === undefined
      ? `node '${label}' has no attempt with logs (its store is ${status.state})`
      : `node '${label}' has no attempt ${wanted} with logs${committedNote}`,
    {
      node: label,
      field: '--attempt',
      value: attempt,
      hint: available.length === 0 ? 'run the workflow' : `attempts with logs: ${available.join(', ')}`,
    },
  );
}
