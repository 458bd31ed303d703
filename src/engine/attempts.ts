/**
 * The attempts of one node in one run: their numbers, what a failure
 * records, and whether a failure is tried again and after what wait.
 *
 * Attempts are numbered per store, from 1, across runs: a node that failed
 * twice in one run starts the next run at attempt 3, and `logs --attempt N`
 * always names one attempt. Each run gives a node `retries + 1` attempts,
 * except a run resuming one that was killed while it still had retries left
 * (its last record is not `final`): that run continues the killed run's
 * budget, up to the same last attempt. An attempt cut short by a kill leaves
 * no record, does not count, and its number is used again.
 *
 * What is retried: the operation failing (a non-zero exit, an exception, a
 * declared output missing) and a time limit reached (E_TIMEOUT). Not
 * retried, and not recorded: an interrupt (E_INTERRUPTED), a lost lock, and
 * errors of the working directory itself, which are the run's, not the
 * node's. A loop's failure is recorded but not retried: it fails when a node
 * it made failed, and that node had its own retries.
 */
import { RunGraphError, isErrnoException } from '../errors.js';
import { ProcessExitError } from '../operations/process-exit.js';
import { backoffSeconds } from '../operations/retry-policy.js';
import { failedAttempts, type FailedAttempt, type StoreMetadata } from '../store/metadata.js';
import type { GraphNode } from '../workflow/graph.js';

/** Error codes of a failed attempt worth trying again: the operation failed, or ran out of time. */
const RETRIABLE: ReadonlySet<string> = new Set(['E_NODE_FAILED', 'E_EXIT', 'E_TIMEOUT']);

/** Error codes that are not the node's failure: nothing is recorded for them. */
const NOT_RECORDED: ReadonlySet<string> = new Set(['E_INTERRUPTED', 'E_LOCK_COMPROMISED', 'E_WORKDIR']);

/** A failed attempt: its record, and the wait before the next attempt, if there is one. */
export interface AttemptFailure {
  record: FailedAttempt;
  retryAfterMs: number | undefined;
}

export class Attempts {
  readonly #node: GraphNode;
  readonly #first: number;
  readonly #lastAttempt: number;
  #current = 0;

  constructor(node: GraphNode, metadata: StoreMetadata) {
    this.#node = node;
    const latest = failedAttempts(metadata).at(-1);
    this.#first = (latest?.attempt ?? 0) + 1;
    // A run killed with retries left is continued; one that gave the node up is followed by a fresh budget.
    this.#lastAttempt =
      latest !== undefined && !latest.final && latest.lastAttempt >= this.#first
        ? latest.lastAttempt
        : this.#first + node.retry.retries;
    this.#current = this.#first - 1;
  }

  /** The number of the attempt about to start. */
  next(): number {
    this.#current++;
    return this.#current;
  }

  /** The number of the latest attempt. */
  get last(): number {
    return this.#current;
  }

  /**
   * What a failure of attempt `attempt` records and whether it is retried;
   * undefined when it is not the node's failure (an interrupt, a lost lock,
   * the working directory failing), which is not recorded.
   */
  failure(error: unknown, signal: AbortSignal, attempt: number, startedAt: Date): AttemptFailure | undefined {
    if (signal.aborted) return undefined;
    if (isErrnoException(error) && error.syscall !== undefined) return undefined;
    const code = error instanceof RunGraphError ? error.code : 'E_NODE_FAILED';
    if (NOT_RECORDED.has(code)) return undefined;
    // A loop fails when a node it made failed, after that node's own retries: retrying the loop would multiply them.
    const retry = RETRIABLE.has(code) && this.#node.operation.control !== true && attempt < this.#lastAttempt;
    const record: FailedAttempt = {
      attempt,
      lastAttempt: this.#lastAttempt,
      final: !retry,
      startedAt: startedAt.toISOString(),
      durationMs: Math.max(0, Date.now() - startedAt.getTime()),
      error: { code, message: error instanceof Error ? error.message : String(error) },
      ...(error instanceof ProcessExitError ? { exit: error.exit } : {}),
    };
    const retryAfterMs = retry
      ? Math.round(backoffSeconds(this.#node.retry.backoff, attempt - this.#first + 1) * 1000)
      : undefined;
    return { record, retryAfterMs };
  }
}

/** Wait `ms`, or less if `signal` aborts; resolves to whether the wait ran its course. */
export function waitUnlessAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
