/**
 * How a failed attempt reads to people, the same in `status`, `explain`,
 * `logs` and the server: `exit 3`, `killed by SIGKILL`, or the error code.
 */
import type { FailedAttempt } from '../store/metadata.js';

/** What ended the attempt, in a few words: `exit 3`, `killed by SIGTERM`, `E_TIMEOUT`. */
export function failureCause(failure: FailedAttempt): string {
  if (failure.exit?.signal !== undefined && failure.exit.signal !== null) return `killed by ${failure.exit.signal}`;
  if (failure.exit?.code !== undefined && failure.exit.code !== null) return `exit ${failure.exit.code}`;
  return failure.error.code;
}

/**
 * The first line of a failure's message, without the "; stderr ends with:"
 * that introduces a Subprocess's stderr tail on the next lines: for text that
 * shows the tail itself, or none.
 */
export function failureHeadline(failure: FailedAttempt): string {
  return (failure.error.message.split('\n')[0] ?? '').replace(/; stderr ends with:$/, '');
}

/** `failed (exit 3, attempt 2 of 3)`: what `status` shows of a failed store's last attempt. */
export function describeFailedState(failure: FailedAttempt): string {
  return `failed (${failureCause(failure)}, attempt ${failure.attempt} of ${failure.lastAttempt})`;
}
