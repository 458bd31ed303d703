/**
 * Errors a user can hit. Every one carries a stable `code` that scripts and
 * the CLI can rely on, the offending value, where it happened (file, node
 * label, field), and a hint saying what to do about it. Anything thrown that
 * is not a RunGraphError is a bug in run-graph.
 */

/** Stable error codes; the CLI maps each to an exit code. */
export type ErrorCode =
  | 'E_USAGE'
  | 'E_WORKFLOW_READ'
  | 'E_WORKFLOW_JSON'
  | 'E_WORKFLOW_SCHEMA'
  | 'E_DUPLICATE_LABEL'
  | 'E_UNKNOWN_OPERATION'
  | 'E_UNKNOWN_REFERENCE'
  | 'E_UNKNOWN_OUTPUT'
  | 'E_CYCLE'
  | 'E_INPUT_TYPE'
  | 'E_INPUT_SHAPE'
  | 'E_NOT_CANONICAL'
  | 'E_TOO_LARGE'
  | 'E_NPY_FORMAT'
  | 'E_FILE_INPUT'
  | 'E_WORKDIR'
  | 'E_LOCKED'
  | 'E_LOCK_COMPROMISED'
  | 'E_CORRUPT_STORE'
  | 'E_NODE_FAILED'
  | 'E_RUN_FAILED'
  | 'E_INTERRUPTED'
  | 'E_UNKNOWN_NODE'
  | 'E_OPERATION_DEFINITION'
  | 'E_OPERATION_MODULE'
  | 'E_DUPLICATE_OPERATION'
  | 'E_UID_MISMATCH'
  | 'E_UNKNOWN_ARTIFACT'
  | 'E_NOT_COMMITTED'
  | 'E_REMOTE'
  | 'E_SLURM'
  | 'E_SLURM_JOB'
  | 'E_RESOURCES'
  | 'E_UNSATISFIABLE'
  | 'E_TIMEOUT'
  | 'E_PUBLISH_PATH'
  | 'E_PUBLISH_CONFLICT';

/** Where in the user's input a problem was found. All parts are optional. */
export interface ErrorLocation {
  /** Path of the workflow (or other) file, as the user gave it. */
  file?: string;
  /** Node label in the workflow. */
  node?: string;
  /** Field inside the node, as a dotted path (`input.data[1]`). */
  field?: string;
}

export interface RunGraphErrorOptions extends ErrorLocation {
  /** The value that was rejected, shown to the user in short form. */
  value?: unknown;
  /** What the user can do about it. */
  hint?: string;
  cause?: unknown;
}

/** Base class of every error a user can cause or meet. */
export class RunGraphError extends Error {
  readonly code: ErrorCode;
  readonly location: ErrorLocation;
  readonly value: unknown;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: RunGraphErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RunGraphError';
    this.code = code;
    const location: ErrorLocation = {};
    if (options.file !== undefined) location.file = options.file;
    if (options.node !== undefined) location.node = options.node;
    if (options.field !== undefined) location.field = options.field;
    this.location = location;
    this.value = options.value;
    this.hint = options.hint;
  }

  /** One readable line: `file: node 'x', field 'y': message (hint)`. */
  describe(): string {
    const where: string[] = [];
    if (this.location.file !== undefined) where.push(this.location.file);
    if (this.location.node !== undefined) where.push(`node '${this.location.node}'`);
    if (this.location.field !== undefined) where.push(`field '${this.location.field}'`);
    const prefix = where.length > 0 ? `${where.join(', ')}: ` : '';
    const hint = this.hint === undefined ? '' : ` (hint: ${this.hint})`;
    return `${prefix}${this.message}${hint}`;
  }

  /** Plain-object form for `--json` output and logs. */
  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...this.location,
      ...(this.hint === undefined ? {} : { hint: this.hint }),
    };
  }
}

/** Short, type-tagged rendering of a rejected value: `-3 (number)`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value} (bigint)`;
  if (typeof value === 'function') return 'a function';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${String(value)} (${typeof value})`;
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return `${JSON.stringify(shown)} (string)`;
  }
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return 'an object';
}

/** Narrow an unknown caught value to a Node.js system error with a code. */
export function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string';
}

/** Exhaustiveness check for switches over discriminated unions. */
export function assertNever(value: never, what: string): never {
  throw new Error(`unhandled ${what}: ${JSON.stringify(value)}`);
}
