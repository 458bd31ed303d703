/**
 * Artifact data over HTTP, streamed from disk and never held whole in
 * memory: a whole file or one byte range (`Range: bytes=a-b`, answered 206),
 * or one chunk by index (`.../chunks/:index?chunkBytes=N`): for an array,
 * whole rows that decode on their own, with dtype, shape and byte order in
 * the response headers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { checkChunkBytes, chunkLayout, chunkSpan } from '../views/browse/chunk-layout.js';
import type { OpenArtifact } from '../views/browse/local-graph.js';
import type { ArtifactInfo, ChunkLayout } from '../views/browse/types.js';
import { integerParam } from './http-io.js';
import { ApiError } from './status-codes.js';

/** Response headers naming a chunk's place and type, so a client decodes it without asking again. */
export const CHUNK_HEADERS = {
  index: 'x-chunk-index',
  rows: 'x-chunk-rows',
  shape: 'x-chunk-shape',
  dtype: 'x-chunk-dtype',
  byteOrder: 'x-chunk-byte-order',
} as const;

/** Inclusive byte range, as HTTP counts. */
interface ByteRange {
  start: number;
  end: number;
}

/**
 * Parse a `Range` header against a file of `size` bytes. Only one range of
 * unit `bytes` is served; a malformed, multiple or unsatisfiable range is an
 * INVALID_RANGE error (416) with `Content-Range: bytes * /size`.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const invalid = (why: string): ApiError =>
    new ApiError('INVALID_RANGE', `${why}: ${JSON.stringify(header)} (the artifact has ${size} bytes)`, {
      'Content-Range': `bytes */${size}`,
    });
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (match === null)
    throw invalid(header.includes(',') ? 'only one byte range per request is served' : 'malformed Range header');
  const [, from = '', to = ''] = match;
  if (from === '' && to === '') throw invalid('malformed Range header');
  let start: number;
  let end: number;
  if (from === '') {
    // A suffix range: the last N bytes.
    const length = Number(to);
    if (length === 0) throw invalid('empty suffix range');
    start = Math.max(0, size - length);
    end = size - 1;
  } else {
    start = Number(from);
    end = to === '' ? size - 1 : Math.min(Number(to), size - 1);
    if (to !== '' && Number(to) < start) throw invalid('range ends before it starts');
  }
  if (!Number.isSafeInteger(start) || start >= size) throw invalid('range starts past the end');
  return { start, end };
}

function contentType(info: ArtifactInfo): string {
  return info.kind === 'json' ? 'application/json' : 'application/octet-stream';
}

/** Stream bytes [start, end] of an open artifact (the caller closes it); a HEAD request gets the headers alone. */
async function streamRange(
  req: IncomingMessage,
  res: ServerResponse,
  artifact: OpenArtifact,
  range: ByteRange,
): Promise<void> {
  if (range.end < range.start || req.method === 'HEAD') {
    res.end();
    return;
  }
  await pipeline(
    artifact.handle.createReadStream({ start: range.start, end: range.end, highWaterMark: 1 << 20, autoClose: false }),
    res,
  );
}

/** `GET .../artifacts/:output`: the whole file, or one byte range of it. */
export async function serveArtifactBytes(
  req: IncomingMessage,
  res: ServerResponse,
  artifact: OpenArtifact,
): Promise<void> {
  const size = artifact.info.size;
  const range = parseRange(req.headers.range, size);
  const common = {
    'Content-Type': contentType(artifact.info),
    'Accept-Ranges': 'bytes',
    ETag: `"${artifact.info.sha256}"`,
    'Cache-Control': 'no-cache',
  };
  if (range === undefined) {
    res.writeHead(200, { ...common, 'Content-Length': size });
    await streamRange(req, res, artifact, { start: 0, end: size - 1 });
    return;
  }
  res.writeHead(206, {
    ...common,
    'Content-Length': range.end - range.start + 1,
    'Content-Range': `bytes ${range.start}-${range.end}/${size}`,
  });
  await streamRange(req, res, artifact, range);
}

/** The chunk size a request asks for, checked. */
export function requestedLayout(info: ArtifactInfo, params: URLSearchParams, defaultChunkBytes: number): ChunkLayout {
  const requested = integerParam(params, 'chunkBytes', defaultChunkBytes);
  try {
    return chunkLayout(info, checkChunkBytes(requested));
  } catch (error) {
    throw new ApiError('BAD_REQUEST', error instanceof Error ? error.message : String(error));
  }
}

/** `GET .../artifacts/:output/chunks/:index`: one chunk, streamed, described by its headers. */
export async function serveChunk(
  req: IncomingMessage,
  res: ServerResponse,
  artifact: OpenArtifact,
  layout: ChunkLayout,
  indexText: string,
): Promise<void> {
  const index = /^\d{1,15}$/.test(indexText) ? Number(indexText) : Number.NaN;
  const span = chunkSpan(artifact.info, layout, index);
  if (span === undefined) {
    throw new ApiError(
      'INVALID_RANGE',
      `no chunk ${JSON.stringify(indexText)}: output '${artifact.info.output}' has ${layout.count} chunks of ${layout.chunkBytes} bytes (indices 0 to ${layout.count - 1})`,
    );
  }
  const headers: { [name: string]: string | number } = {
    'Content-Type': 'application/octet-stream',
    'Content-Length': span.end - span.start,
    'Cache-Control': 'no-cache',
    [CHUNK_HEADERS.index]: span.index,
  };
  const array = artifact.info.array;
  if (array !== undefined && span.rows !== undefined && span.shape !== undefined && artifact.info.dtype !== undefined) {
    headers[CHUNK_HEADERS.rows] = `${span.rows[0]}-${span.rows[1]}`;
    headers[CHUNK_HEADERS.shape] = span.shape.join(',');
    headers[CHUNK_HEADERS.dtype] = artifact.info.dtype;
    headers[CHUNK_HEADERS.byteOrder] = array.littleEndian ? 'little' : 'big';
  }
  res.writeHead(200, headers);
  await streamRange(req, res, artifact, { start: span.start, end: span.end - 1 });
}
