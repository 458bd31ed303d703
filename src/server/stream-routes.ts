/**
 * Streamed outputs over HTTP, readable while the store is being built:
 *
 *     GET /v1/nodes/:uid/streams                       {outputs}
 *     GET /v1/nodes/:uid/streams/:output               StreamListing (?from=N)
 *     GET /v1/nodes/:uid/streams/:output/chunks/:i     chunk i's .npy file
 *
 * A chunk file exists only once complete and never changes, so serving one
 * of a store still being built is safe. The output name must be one plain
 * path segment (else INVALID_KEY) and one of the store's streamed outputs:
 * for a store being built, a directory under its `stream/`, else
 * STREAM_NOT_STARTED; for a committed one, a `stream` artifact of its
 * metadata, else UNKNOWN_ARTIFACT.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import {
  isPlainName,
  openStreamChunk,
  streamOutputs,
  streamProgress,
  type StreamProgress,
} from '../views/browse/stream-view.js';
import type { StreamListing } from '../views/browse/types.js';
import type { Uid } from '../identity/fingerprint.js';
import { CHUNK_HEADERS } from './artifacts.js';
import { integerParam, sendJson } from './http-io.js';
import type { Route, RouteContext } from './route.js';
import { ApiError } from './status-codes.js';

/** An output name from a path segment, or INVALID_KEY. */
function outputFromPath(segment: string): string {
  if (!isPlainName(segment)) {
    const shown = segment.length > 80 ? `${segment.slice(0, 77)}...` : segment;
    throw new ApiError(
      'INVALID_KEY',
      `not an output name: ${JSON.stringify(shown)}; an output name is one plain path segment (no '/' or '\\', not '.' or '..')`,
    );
  }
  return segment;
}

function notStarted(uid: Uid, output: string): ApiError {
  return new ApiError(
    'STREAM_NOT_STARTED',
    `store ${uid} is not committed and has no chunk of a streamed output '${output}' under way; if it streams '${output}', ask again`,
  );
}

/** A stream that has begun, or STREAM_NOT_STARTED. */
function begun(progress: StreamProgress): StreamListing {
  if (progress.state === 'not-started') throw notStarted(progress.uid, progress.output);
  return progress;
}

async function serveStreamChunk(
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  uid: Uid,
  output: string,
  indexText: string,
): Promise<void> {
  const index = /^\d{1,15}$/.test(indexText) ? Number(indexText) : Number.NaN;
  const chunk = Number.isNaN(index) ? undefined : await openStreamChunk(ctx.graph, uid, output, index);
  if (chunk === undefined) {
    const listing = begun(await streamProgress(ctx.graph, uid, output, Number.MAX_SAFE_INTEGER));
    const known =
      listing.state === 'complete'
        ? `it has ${listing.durable} chunks`
        : `${listing.durable} chunks are durable so far`;
    throw new ApiError(
      'INVALID_RANGE',
      `no chunk ${JSON.stringify(indexText)} of stream '${output}' of ${uid}: ${known} (indices from 0)`,
    );
  }
  try {
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': chunk.size,
      // Every chunk present is final; once committed, its sha256 is known too.
      'Cache-Control': 'no-cache',
      ...(chunk.sha256 === undefined ? {} : { ETag: `"${chunk.sha256}"` }),
      [CHUNK_HEADERS.index]: chunk.index,
    });
    if (req.method === 'HEAD' || chunk.size === 0) {
      res.end();
      return;
    }
    await pipeline(
      chunk.handle.createReadStream({ start: 0, end: chunk.size - 1, highWaterMark: 1 << 20, autoClose: false }),
      res,
    );
  } finally {
    await chunk.handle.close();
  }
}

/** The routes under `/v1/nodes/:uid/streams`, or undefined for a path that is none of them. */
export function streamRoutes(uid: Uid, rest: readonly (string | undefined)[]): Route | undefined {
  const [outputSegment, chunks, index, ...more] = rest;
  if (more.length > 0) return undefined;
  if (outputSegment === undefined)
    return { GET: async (ctx, _req, res) => sendJson(res, 200, { outputs: await streamOutputs(ctx.graph, uid) }) };
  const output = outputFromPath(outputSegment);
  if (chunks === undefined) {
    return {
      GET: async (ctx, _req, res, params) =>
        sendJson(res, 200, begun(await streamProgress(ctx.graph, uid, output, integerParam(params, 'from', 0)))),
    };
  }
  if (chunks !== 'chunks' || index === undefined) return undefined;
  return { GET: (ctx, req, res) => serveStreamChunk(ctx, req, res, uid, output, index) };
}
