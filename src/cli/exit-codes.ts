/**
 * Exit codes of the `run-graph` command, one per class of outcome, so that
 * scripts and schedulers can tell a bad workflow from a failed node from an
 * unusable working directory.
 */
import { assertNever, type ErrorCode } from '../errors.js';

export const EXIT = {
  ok: 0,
  /** The run finished, and some node failed. */
  nodeFailed: 1,
  /** The workflow or the command line is wrong; nothing was run or written. */
  badInput: 2,
  /** The working directory, local or served, cannot be used (permissions, full disk, not a directory, locks, a server's error). */
  workdir: 3,
  /** A bug in run-graph. */
  internal: 70,
  /** Interrupted by a signal; run the same command again to resume. */
  interrupted: 130,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'E_USAGE':
    case 'E_WORKFLOW_READ':
    case 'E_WORKFLOW_JSON':
    case 'E_WORKFLOW_SCHEMA':
    case 'E_DUPLICATE_LABEL':
    case 'E_UNKNOWN_OPERATION':
    case 'E_UNKNOWN_REFERENCE':
    case 'E_UNKNOWN_OUTPUT':
    case 'E_CYCLE':
    case 'E_INPUT_TYPE':
    case 'E_INPUT_SHAPE':
    case 'E_NOT_CANONICAL':
    case 'E_TOO_LARGE':
    case 'E_NPY_FORMAT':
    case 'E_FILE_INPUT':
    case 'E_UNKNOWN_NODE':
    case 'E_OPERATION_DEFINITION':
    case 'E_OPERATION_MODULE':
    case 'E_DUPLICATE_OPERATION':
    case 'E_UID_MISMATCH':
    case 'E_UNKNOWN_ARTIFACT':
    case 'E_NOT_COMMITTED':
    case 'E_RESOURCES':
    case 'E_UNSATISFIABLE':
    case 'E_PUBLISH_PATH':
    case 'E_PUBLISH_CONFLICT':
      return EXIT.badInput;
    case 'E_WORKDIR':
    case 'E_LOCKED':
    case 'E_LOCK_COMPROMISED':
    case 'E_CORRUPT_STORE':
    case 'E_REMOTE':
    case 'E_SLURM':
      return EXIT.workdir;
    case 'E_NODE_FAILED':
    case 'E_RUN_FAILED':
    case 'E_SLURM_JOB':
    case 'E_TIMEOUT':
      return EXIT.nodeFailed;
    case 'E_INTERRUPTED':
      return EXIT.interrupted;
    default:
      return assertNever(code, 'error code');
  }
}
