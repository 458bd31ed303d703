/**
 * Who may talk to a server. A server bound to a loopback address may run
 * without a token (only local users reach it); any other address needs one,
 * and then every request must carry `Authorization: Bearer <token>`. A
 * token-less server also refuses requests whose Host header is not a
 * loopback name, so a web page cannot reach it through DNS rebinding.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { RunGraphError } from '../errors.js';
import { ApiError } from './status-codes.js';

/** Environment variable a token may come from instead of `--token`. */
export const TOKEN_ENV = 'RUN_GRAPH_TOKEN';
/** Shorter tokens are refused: a token guards a server reachable from the network. */
export const MIN_TOKEN_LENGTH = 16;

/** Whether a host name or address is a loopback one (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === 'localhost' || bare === '::1' || bare === '0:0:0:0:0:0:0:1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

/** Refuse a configuration that would expose the working directory: a non-loopback address or submissions without a token. */
export function checkAccessPolicy(host: string, token: string | undefined, allowSubmit: boolean): void {
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new RunGraphError(
      'E_USAGE',
      `the token must be at least ${MIN_TOKEN_LENGTH} characters, got ${token.length}`,
      {
        hint: 'make one with `openssl rand -hex 24`',
      },
    );
  }
  if (token === undefined && !isLoopbackHost(host)) {
    throw new RunGraphError(
      'E_USAGE',
      `serving on ${JSON.stringify(host)}, which is not a loopback address, needs a token`,
      {
        value: host,
        hint: `pass --token or set ${TOKEN_ENV}; clients then send it as a bearer token`,
      },
    );
  }
  if (allowSubmit && token === undefined) {
    throw new RunGraphError('E_USAGE', '--allow-submit needs a token: submissions write to the working directory', {
      hint: `pass --token or set ${TOKEN_ENV}`,
    });
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Checks each request against the server's token (if any). */
export class RequestGuard {
  readonly #expected: Buffer | undefined;

  constructor(token: string | undefined) {
    this.#expected = token === undefined ? undefined : digest(token);
  }

  /** Throw UNAUTHORIZED or INVALID_HOST unless the request may be answered. */
  check(req: IncomingMessage): void {
    if (this.#expected === undefined) {
      const host = req.headers.host;
      const name = host === undefined ? undefined : host.replace(/:\d+$/, '');
      if (name === undefined || !isLoopbackHost(name)) {
        throw new ApiError(
          'INVALID_HOST',
          `this server answers only requests addressed to a loopback host, not ${JSON.stringify(host ?? '')}`,
        );
      }
      return;
    }
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    // Compare digests in constant time, so neither the token nor its length leaks through timing.
    if (match === null || !timingSafeEqual(digest(match[1] ?? ''), this.#expected)) {
      throw new ApiError('UNAUTHORIZED', match === null ? 'this server needs a bearer token' : 'wrong bearer token', {
        'WWW-Authenticate': 'Bearer realm="run-graph"',
      });
    }
  }
}
