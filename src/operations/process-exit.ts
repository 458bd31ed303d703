/**
 * The failure of a process an operation ran: a RunGraphError that also says
 * how the process ended (its exit code, or the signal that killed it), which
 * the engine records in the store's failure record and `status` shows.
 */
import { RunGraphError, type ErrorCode, type RunGraphErrorOptions } from '../errors.js';

/** How a process ended: an exit code, or the name of the signal that ended it. */
export interface ProcessExit {
  code: number | null;
  signal: string | null;
}

export class ProcessExitError extends RunGraphError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly exit: ProcessExit,
    options: RunGraphErrorOptions = {},
  ) {
    super(code, message, options);
  }
}
