/**
 * HTTP under the client: a keep-alive agent holding up to `connections`
 * sockets (so chunk fetches run over several connections at once), the
 * bearer token on every request, and every error answer turned into a
 * RemoteError carrying the server's stable status code.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { RunGraphError } from '../errors.js';
import { formatJson, parseJsonExactly } from '../identity/json-text.js';
import { isApiStatus, type ApiStatus } from '../server/status-codes.js';

/** Why a remote call failed: the server's status code, or what went wrong on the way. */
export type RemoteStatus = ApiStatus | 'NETWORK' | 'PROTOCOL' | 'TIMEOUT';

/** An error of a remote call: `status` is the server's code (`UNKNOWN_NODE`, ...) or NETWORK, PROTOCOL, TIMEOUT. */
export class RemoteError extends RunGraphError {
  readonly status: RemoteStatus;
  /** The HTTP status the server answered, when it answered. */
  readonly httpStatus: number | undefined;

  constructor(status: RemoteStatus, message: string, httpStatus?: number, cause?: unknown) {
    super(
      'E_REMOTE',
      `${status}${httpStatus === undefined ? '' : ` (HTTP ${httpStatus})`}: ${message}`,
      cause === undefined ? {} : { cause },
    );
    this.name = 'RemoteError';
    this.status = status;
    this.httpStatus = httpStatus;
  }
}

export interface TransportOptions {
  token: string | undefined;
  connections: number;
  timeoutMs: number;
}

export interface RequestOptions {
  method?: 'GET' | 'POST';
  headers?: OutgoingHttpHeaders;
  body?: unknown;
  signal?: AbortSignal;
  /** Socket idle time before the request fails. Default: the transport's timeout. */
  timeoutMs?: number;
  /** Use a connection of its own, outside the pool (long-lived event streams). */
  dedicated?: boolean;
}

async function readText(res: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of res) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

export class Transport {
  readonly base: URL;
  readonly #options: TransportOptions;
  readonly #agent: HttpAgent;
  readonly #seen = new WeakSet<object>();
  #requests = 0;
  #connections = 0;

  constructor(base: URL, options: TransportOptions) {
    this.base = base;
    this.#options = options;
    const agentOptions = { keepAlive: true, maxSockets: options.connections, maxFreeSockets: options.connections };
    this.#agent = base.protocol === 'https:' ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
  }

  /** Requests sent so far (tests use it to check what is fetched once). */
  get requests(): number {
    return this.#requests;
  }

  /** Connections opened so far (pooled ones are reused, so this shows how many ran at once). */
  get connectionsOpened(): number {
    return this.#connections;
  }

  /** The URL of an API path (`/v1/...`) under the base, which may carry a prefix of its own. */
  url(path: string): URL {
    return new URL(`${this.base.pathname.replace(/\/$/, '')}${path}`, this.base);
  }

  /** Send a request; resolve with a 2xx response whose body is unread, or reject with a RemoteError. */
  send(path: string, options: RequestOptions = {}): Promise<IncomingMessage> {
    const url = this.url(path);
    const body = options.body === undefined ? undefined : Buffer.from(formatJson(options.body));
    const headers: OutgoingHttpHeaders = { Accept: 'application/json', ...options.headers };
    if (this.#options.token !== undefined) headers['Authorization'] = `Bearer ${this.#options.token}`;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = body.length;
    }
    this.#requests++;
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(url, {
        method: options.method ?? 'GET',
        headers,
        agent: options.dedicated === true ? false : this.#agent,
        timeout: options.timeoutMs ?? this.#options.timeoutMs,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      req.once('socket', (socket) => {
        if (this.#seen.has(socket)) return;
        this.#seen.add(socket);
        this.#connections++;
      });
      req.once('timeout', () =>
        req.destroy(
          new RemoteError(
            'TIMEOUT',
            `no answer from ${url.origin} within ${options.timeoutMs ?? this.#options.timeoutMs} ms`,
          ),
        ),
      );
      req.once('error', (error) =>
        reject(
          error instanceof RemoteError
            ? error
            : new RemoteError('NETWORK', `${url.origin}: ${error.message}`, undefined, error),
        ),
      );
      req.once('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          resolve(res);
          return;
        }
        readText(res).then(
          (text) => reject(errorFromAnswer(status, text, path)),
          (error: unknown) => reject(new RemoteError('NETWORK', `${url.origin}: ${String(error)}`, status, error)),
        );
      });
      req.end(body);
    });
  }

  /** A JSON request: the parsed body and the HTTP status of a 2xx answer. */
  async json<T>(path: string, options: RequestOptions = {}): Promise<{ httpStatus: number; body: T }> {
    const res = await this.send(path, options);
    const text = await readText(res);
    try {
      return { httpStatus: res.statusCode ?? 0, body: parseJsonExactly(text) as T };
    } catch (error) {
      throw new RemoteError('PROTOCOL', `${path} answered with a body that is not JSON`, res.statusCode, error);
    }
  }

  /** Close every pooled connection. */
  close(): void {
    this.#agent.destroy();
  }
}

function errorFromAnswer(httpStatus: number, text: string, path: string): RemoteError {
  try {
    const body = JSON.parse(text) as { status?: unknown; message?: unknown };
    if (isApiStatus(body.status))
      return new RemoteError(body.status, typeof body.message === 'string' ? body.message : path, httpStatus);
  } catch {
    // Not one of ours (a proxy's error page): reported as a protocol error below.
  }
  return new RemoteError('PROTOCOL', `${path}: unexpected answer ${JSON.stringify(text.slice(0, 200))}`, httpStatus);
}

/** Read a response body into `target`, which it must fill exactly. */
export async function receiveInto(res: IncomingMessage, target: Uint8Array, what: string): Promise<void> {
  let offset = 0;
  for await (const chunk of res) {
    const bytes = chunk as Buffer;
    if (offset + bytes.length > target.length) {
      res.destroy();
      throw new RemoteError('PROTOCOL', `${what}: more than the ${target.length} bytes expected`);
    }
    target.set(bytes, offset);
    offset += bytes.length;
  }
  if (offset !== target.length)
    throw new RemoteError('PROTOCOL', `${what}: ${offset} bytes received, ${target.length} expected`);
}
