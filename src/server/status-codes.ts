/**
 * Every error the HTTP API can answer, in one table: the stable `status`
 * string a client switches on, the HTTP status that carries it, and what it
 * means. Every error response has the body `{"status": STATUS, "message": "..."}`;
 * docs/http-api.md lists this table for users.
 */
import { RunGraphError, assertNever } from '../errors.js';

export const API_STATUS = {
  BAD_REQUEST: { http: 400, meaning: 'a query parameter or header is malformed' },
  INVALID_KEY: {
    http: 400,
    meaning:
      'a uid in the path is not 64 lowercase hexadecimal digits, or an output name is not one plain path segment',
  },
  INVALID_JSON: { http: 400, meaning: 'the request body is not valid JSON' },
  UNAUTHORIZED: { http: 401, meaning: 'the bearer token is missing or wrong' },
  FORBIDDEN: {
    http: 403,
    meaning: 'not allowed: submitting to a read-only server, or an artifact that resolves outside its store',
  },
  NOT_FOUND: { http: 404, meaning: 'no such route' },
  UNKNOWN_NODE: { http: 404, meaning: 'no store with this uid in the working directory' },
  UNKNOWN_LABEL: { http: 404, meaning: 'the served workflow has no node with this label' },
  UNKNOWN_ARTIFACT: { http: 404, meaning: 'the node has no output with this name' },
  NO_LOGS: { http: 404, meaning: 'the node has no attempt with logs: it has not run' },
  NO_WORKFLOW: { http: 404, meaning: 'the server was started without a workflow file, so it has no root' },
  METHOD_NOT_ALLOWED: { http: 405, meaning: 'the route exists, the method does not' },
  NOT_COMMITTED: { http: 409, meaning: 'the store exists but is not committed, so its artifacts cannot be read' },
  STREAM_NOT_STARTED: {
    http: 409,
    meaning: 'the store is not committed and no chunk of this streamed output is under way (yet); ask again',
  },
  REQUEST_TIMEOUT: {
    http: 408,
    meaning: 'the request body stopped arriving for longer than the idle limit, or took longer than the request limit',
  },
  PAYLOAD_TOO_LARGE: { http: 413, meaning: 'the request body exceeds the server limit (--max-body)' },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, meaning: 'a request body must be application/json' },
  INVALID_RANGE: { http: 416, meaning: 'a byte range or chunk index is malformed or outside the artifact' },
  INVALID_HOST: {
    http: 421,
    meaning: 'a token-less loopback server only answers requests addressed to a loopback host name',
  },
  INVALID_RECORD: {
    http: 422,
    meaning: 'the submitted record is malformed, not self-contained, or its input fails the operation check',
  },
  INVALID_OPERATION: {
    http: 422,
    meaning: 'the submitted operation is unknown, of another version, or not allowed to be submitted',
  },
  UID_MISMATCH: { http: 422, meaning: 'the uid the client sent is not the uid of the record it sent' },
  CORRUPT_STORE: { http: 500, meaning: 'a committed artifact does not have the size its metadata records' },
  INTERNAL: { http: 500, meaning: 'a bug in run-graph' },
  SERVER_BUSY: { http: 503, meaning: 'too many submitted builds are waiting; try again later' },
  TOO_MANY_CONNECTIONS: {
    http: 503,
    meaning: 'the server has as many connections open as it allows (--max-connections); try again later',
  },
  QUOTA_EXCEEDED: {
    http: 507,
    meaning: 'submitted records fill the disk quota of this server (--submit-quota); nothing was written',
  },
} as const satisfies { [status: string]: { http: number; meaning: string } };

/** The stable error code of an API error response. */
export type ApiStatus = keyof typeof API_STATUS;

/** The body of every error response. */
export interface ApiErrorBody {
  status: ApiStatus;
  message: string;
}

/** An expected request failure: thrown inside a handler, answered as `{status, message}` with its HTTP status. */
export class ApiError extends Error {
  readonly status: ApiStatus;
  /** Extra response headers (`WWW-Authenticate`, `Content-Range`). */
  readonly headers: { [name: string]: string };

  constructor(status: ApiStatus, message: string, headers: { [name: string]: string } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.headers = headers;
  }

  get httpStatus(): number {
    return API_STATUS[this.status].http;
  }

  toBody(): ApiErrorBody {
    return { status: this.status, message: this.message };
  }
}

/** Whether a string names one of the API statuses (for clients reading an error body). */
export function isApiStatus(text: unknown): text is ApiStatus {
  return typeof text === 'string' && Object.hasOwn(API_STATUS, text);
}

/**
 * The API error for anything a handler threw: an ApiError as it is, an
 * engine error by its code, anything else as INTERNAL (a bug).
 */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (!(error instanceof RunGraphError)) {
    return new ApiError(
      'INTERNAL',
      `internal error (a bug in run-graph): ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const message = error.describe();
  switch (error.code) {
    case 'E_UNKNOWN_NODE':
      return new ApiError('UNKNOWN_NODE', message);
    case 'E_UNKNOWN_ARTIFACT':
      return new ApiError('UNKNOWN_ARTIFACT', message);
    case 'E_NOT_COMMITTED':
      return new ApiError('NOT_COMMITTED', message);
    case 'E_CORRUPT_STORE':
      return new ApiError('CORRUPT_STORE', message);
    // The only working-directory error a request can meet: an artifact resolving outside its store.
    case 'E_WORKDIR':
      return new ApiError('FORBIDDEN', message);
    case 'E_UNKNOWN_OPERATION':
      return new ApiError('INVALID_OPERATION', message);
    case 'E_USAGE':
      return new ApiError('BAD_REQUEST', message);
    case 'E_WORKFLOW_READ':
    case 'E_WORKFLOW_JSON':
    case 'E_WORKFLOW_SCHEMA':
    case 'E_DUPLICATE_LABEL':
    case 'E_UNKNOWN_REFERENCE':
    case 'E_UNKNOWN_OUTPUT':
    case 'E_CYCLE':
    case 'E_INPUT_TYPE':
    case 'E_INPUT_SHAPE':
    case 'E_NOT_CANONICAL':
    case 'E_TOO_LARGE':
    case 'E_NPY_FORMAT':
    case 'E_FILE_INPUT':
    case 'E_RESOURCES':
    case 'E_UNSATISFIABLE':
      return new ApiError('INVALID_RECORD', message);
    case 'E_UID_MISMATCH':
      return new ApiError('UID_MISMATCH', message);
    // Operation definitions are checked when the server starts; a request never meets these.
    case 'E_OPERATION_DEFINITION':
    case 'E_OPERATION_MODULE':
    case 'E_DUPLICATE_OPERATION':
    case 'E_LOCKED':
    case 'E_LOCK_COMPROMISED':
    case 'E_NODE_FAILED':
    case 'E_RUN_FAILED':
    case 'E_INTERRUPTED':
    case 'E_TIMEOUT':
    case 'E_REMOTE':
    case 'E_SLURM':
    case 'E_SLURM_JOB':
    case 'E_PUBLISH_PATH':
    case 'E_PUBLISH_CONFLICT':
      return new ApiError('INTERNAL', message);
    default:
      return assertNever(error.code, 'error code');
  }
}
