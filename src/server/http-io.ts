/** Small pieces of HTTP every route uses: JSON answers, error answers, and request bodies read under a size limit. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { formatJson, parseJsonExactly } from '../identity/json-text.js';
import { ApiError } from './status-codes.js';

/** Answer with a JSON body. */
export function sendJson(
  res: ServerResponse,
  httpStatus: number,
  body: unknown,
  headers: { [name: string]: string } = {},
): void {
  // Exact: a record in an answer keeps its integers past 2^53 (JSON.stringify cannot write a bigint) and its floats.
  const text = formatJson(body);
  res.writeHead(httpStatus, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** Answer an error as `{status, message}`; a response already under way can only be cut off. */
export function sendApiError(res: ServerResponse, error: ApiError): void {
  if (res.headersSent) {
    res.destroy(error);
    return;
  }
  sendJson(res, error.httpStatus, error.toBody(), error.headers);
}

/** Limits on reading one request body. */
export interface BodyLimits {
  maxBytes: number;
  /** Longest pause between two pieces of the body before it is given up as REQUEST_TIMEOUT. */
  idleMs: number;
}

/**
 * The bytes of a request body that must be JSON, read under `limits`: a
 * body without `Content-Type: application/json` is refused before a byte
 * is read, and so is a declared length over the limit; a chunked body as
 * soon as it passes it, and a body that stops arriving after `idleMs`.
 * After any of these the connection is closed (see `answerError` in
 * server.ts), so the rest of the body is never read.
 */
export async function readJsonBytes(req: IncomingMessage, res: ServerResponse, limits: BodyLimits): Promise<Buffer> {
  const type = req.headers['content-type'];
  if (type === undefined || !/^application\/json\s*(;|$)/i.test(type)) {
    throw new ApiError(
      'UNSUPPORTED_MEDIA_TYPE',
      type === undefined
        ? 'a request body needs Content-Type: application/json, and this one has no Content-Type'
        : `expected Content-Type application/json, got ${JSON.stringify(type)}`,
    );
  }
  const { maxBytes } = limits;
  const tooLarge = (): ApiError => {
    res.setHeader('Connection', 'close');
    return new ApiError('PAYLOAD_TOO_LARGE', `request body exceeds the limit of ${maxBytes} bytes`);
  };
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge();
  return new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    let timer: NodeJS.Timeout | undefined;
    const stop = (error: unknown): void => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', stop);
      req.off('close', onClose);
      req.pause();
      reject(error);
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(
        () =>
          stop(
            new ApiError(
              'REQUEST_TIMEOUT',
              `the request body stopped arriving for ${limits.idleMs} ms after ${size} bytes`,
            ),
          ),
        limits.idleMs,
      );
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        stop(tooLarge());
        return;
      }
      parts.push(chunk);
      arm();
    };
    const onEnd = (): void => {
      clearTimeout(timer);
      req.off('close', onClose);
      resolve(Buffer.concat(parts, size));
    };
    const onClose = (): void => {
      if (!req.complete) stop(Object.assign(new Error('the client closed the connection'), { code: 'ECONNRESET' }));
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', stop);
    req.once('close', onClose);
    arm();
  });
}

/** Parse a request body as exact JSON (integers past 2^53 kept), or INVALID_JSON. */
export function parseJsonBody(bytes: Buffer): unknown {
  try {
    return parseJsonExactly(bytes.toString('utf8'));
  } catch (error) {
    throw new ApiError(
      'INVALID_JSON',
      `request body is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/** The JSON body of a request, read under `limits` (see readJsonBytes) and parsed. */
export async function readJsonBody(req: IncomingMessage, res: ServerResponse, limits: BodyLimits): Promise<unknown> {
  return parseJsonBody(await readJsonBytes(req, res, limits));
}

/** A non-negative integer query parameter, or `fallback` when absent. */
export function integerParam(params: URLSearchParams, name: string, fallback: number): number {
  const text = params.get(name);
  if (text === null) return fallback;
  if (!/^\d{1,15}$/.test(text))
    throw new ApiError(
      'BAD_REQUEST',
      `query parameter ${name} must be a non-negative integer, got ${JSON.stringify(text)}`,
    );
  return Number(text);
}
