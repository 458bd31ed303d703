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

/**
 * The JSON body of a request, read under `maxBytes`: a declared length over
 * the limit is refused before a byte is read, a chunked body as soon as it
 * passes it. Either way the connection is closed after the answer, so the
 * rest of an oversized body is never read.
 */
export async function readJsonBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): Promise<unknown> {
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/json\s*(;|$)/i.test(type)) {
    throw new ApiError('UNSUPPORTED_MEDIA_TYPE', `expected Content-Type application/json, got ${JSON.stringify(type)}`);
  }
  const tooLarge = (): ApiError => {
    res.setHeader('Connection', 'close');
    return new ApiError('PAYLOAD_TOO_LARGE', `request body exceeds the limit of ${maxBytes} bytes`);
  };
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge();
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const bytes = chunk as Buffer;
    size += bytes.length;
    if (size > maxBytes) throw tooLarge();
    parts.push(bytes);
  }
  const text = Buffer.concat(parts).toString('utf8');
  try {
    return parseJsonExactly(text);
  } catch (error) {
    throw new ApiError(
      'INVALID_JSON',
      `request body is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
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
