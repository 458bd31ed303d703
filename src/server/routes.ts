/**
 * The versioned HTTP API, one table of routes. Paths are split into
 * segments and decoded one by one; a uid segment must be 64 lowercase hex
 * digits and an output name is only ever looked up among a committed
 * store's outputs (or, for a stream of a store being built, among the
 * directories under its `stream/`), so no request can name a path of its own.
 *
 *     GET  /v1                                           ServerInfo
 *     GET  /v1/graph                                     GraphRoot (the served workflow)
 *     GET  /v1/graph/labels/:label                       NodeInfo of a label
 *     GET  /v1/nodes                                     {uids, next?} (?limit=N&after=uid)
 *     GET  /v1/nodes/:uid                                NodeInfo
 *     GET  /v1/nodes/:uid/edges                          NodeEdges
 *     GET  /v1/nodes/:uid/metadata                       metadata.json
 *     GET  /v1/nodes/:uid/artifacts                      {artifacts: ArtifactInfo[]}
 *     GET  /v1/nodes/:uid/artifacts/:output              bytes (Range: one byte range, 206)
 *     GET  /v1/nodes/:uid/artifacts/:output/chunks       {artifact, layout} (?chunkBytes=N)
 *     GET  /v1/nodes/:uid/artifacts/:output/chunks/:i    chunk i (?chunkBytes=N)
 *     GET  /v1/nodes/:uid/ledger                         {entries: LedgerEntry[]}
 *     GET  /v1/nodes/:uid/streams                        {outputs} (streams.ts)
 *     GET  /v1/nodes/:uid/streams/:output                StreamListing (?from=N), also while building
 *     GET  /v1/nodes/:uid/streams/:output/chunks/:i      chunk i's .npy file, also while building
 *     GET  /v1/view                                      ViewSnapshot, and /v1/view/explain/:label (view-routes.ts)
 *     GET  /v1/events                                    server-sent events
 *     POST /v1/submit                                    BuildState (200 cached, 202 building)
 *     GET  /v1/builds/:uid                               BuildState (?waitMs=N long-polls)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OpenArtifact } from '../views/browse/local-graph.js';
import { isUid, type Uid } from '../identity/fingerprint.js';
import { requestedLayout, serveArtifactBytes, serveChunk } from './artifacts.js';
import { integerParam, readJsonBytes, sendJson } from './http-io.js';
import { ApiError } from './status-codes.js';
import type { Route, RouteContext } from './route.js';
import { streamRoutes } from './stream-routes.js';
import { viewRoutes } from './view-routes.js';

export type { Handler, Route, RouteContext } from './route.js';

/** Uids `GET /v1/nodes` answers at once unless asked (`?limit=N`), and at most. */
export const NODES_PAGE = 10_000;
export const MAX_NODES_PAGE = 100_000;

/** Longest long-poll of `GET /v1/builds/:uid`. */
export const MAX_WAIT_MS = 60_000;

/** A uid from a path segment, or INVALID_KEY. */
export function uidFromPath(segment: string): Uid {
  if (!isUid(segment)) {
    const shown = segment.length > 80 ? `${segment.slice(0, 77)}...` : segment;
    throw new ApiError('INVALID_KEY', `not a uid: ${JSON.stringify(shown)}; a uid is 64 lowercase hexadecimal digits`);
  }
  return segment;
}

/** Split a request target into decoded path segments and query parameters. */
function parseTarget(target: string): { segments: string[]; params: URLSearchParams } {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
  if (!path.startsWith('/')) throw new ApiError('BAD_REQUEST', 'the request target must be an absolute path');
  const raw = path.split('/').slice(1);
  if (raw.length > 1 && raw[raw.length - 1] === '') raw.pop();
  const segments = raw.map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      throw new ApiError('BAD_REQUEST', `bad percent-encoding in path segment ${JSON.stringify(segment)}`);
    }
  });
  return { segments, params };
}

function nodeRoutes(uid: Uid, rest: string[]): Route | undefined {
  const [what, output, chunks, index, ...more] = rest;
  if (more.length > 0) return undefined;
  if (what === 'streams') return streamRoutes(uid, [output, chunks, index]);
  if (what === undefined) return { GET: async (ctx, _req, res) => sendJson(res, 200, await ctx.graph.info(uid)) };
  if (output === undefined) {
    switch (what) {
      case 'edges':
        return { GET: async (ctx, _req, res) => sendJson(res, 200, await ctx.graph.edges(uid)) };
      case 'metadata':
        return { GET: async (ctx, _req, res) => sendJson(res, 200, await ctx.graph.metadata(uid)) };
      case 'artifacts':
        return { GET: async (ctx, _req, res) => sendJson(res, 200, { artifacts: await ctx.graph.artifacts(uid) }) };
      case 'ledger':
        return {
          GET: async (ctx, _req, res) => {
            // A uid with neither store nor ledger entry is unknown, like every other node route.
            const entries = await ctx.graph.ledger(uid);
            if (entries.length === 0) await ctx.graph.metadata(uid);
            sendJson(res, 200, { entries });
          },
        };
      default:
        return undefined;
    }
  }
  if (what !== 'artifacts') return undefined;
  if (chunks === undefined)
    return {
      GET: (ctx, req, res) => withArtifact(ctx, uid, output, (artifact) => serveArtifactBytes(req, res, artifact)),
    };
  if (chunks !== 'chunks') return undefined;
  if (index === undefined) {
    return {
      GET: async (ctx, _req, res, params) => {
        const { info } = await ctx.graph.artifact(uid, output);
        sendJson(res, 200, { artifact: info, layout: requestedLayout(info, params, ctx.info.chunkBytes) });
      },
    };
  }
  return {
    GET: (ctx, req, res, params) =>
      withArtifact(ctx, uid, output, (artifact) =>
        serveChunk(req, res, artifact, requestedLayout(artifact.info, params, ctx.info.chunkBytes), index),
      ),
  };
}

/** Open an artifact for one answer and close it whatever happens. */
async function withArtifact(
  ctx: RouteContext,
  uid: Uid,
  output: string,
  answer: (artifact: OpenArtifact) => Promise<void>,
): Promise<void> {
  const artifact = await ctx.graph.openArtifact(uid, output);
  try {
    await answer(artifact);
  } finally {
    await artifact.handle.close();
  }
}

function findRoute(segments: readonly string[]): Route | undefined {
  const [version, resource, key, ...rest] = segments;
  if (version !== 'v1') return undefined;
  switch (resource) {
    case undefined:
      return { GET: (ctx, _req, res) => sendJson(res, 200, ctx.info) };
    case 'graph': {
      if (key === undefined) {
        return {
          GET: (ctx, _req, res) => {
            const root = ctx.graph.root();
            if (root === undefined)
              throw new ApiError(
                'NO_WORKFLOW',
                'this server serves a working directory without a workflow; browse it by uid (GET /v1/nodes)',
              );
            sendJson(res, 200, root);
          },
        };
      }
      const [label, ...more] = rest;
      if (key !== 'labels' || label === undefined || more.length > 0) return undefined;
      return {
        GET: async (ctx, _req, res) => {
          if (ctx.graph.graph === undefined)
            throw new ApiError('NO_WORKFLOW', 'this server serves no workflow, so it has no labels');
          const node = ctx.graph.graph.byLabel.get(label);
          if (node === undefined)
            throw new ApiError('UNKNOWN_LABEL', `the served workflow has no node labelled ${JSON.stringify(label)}`);
          sendJson(res, 200, await ctx.graph.info(node.uid));
        },
      };
    }
    case 'nodes':
      if (key === undefined)
        return {
          GET: async (ctx, _req, res, params) => {
            const limit = integerParam(params, 'limit', NODES_PAGE);
            if (limit < 1 || limit > MAX_NODES_PAGE)
              throw new ApiError('BAD_REQUEST', `limit must be from 1 to ${MAX_NODES_PAGE}, got ${limit}`);
            const after = params.get('after') ?? undefined;
            if (after !== undefined) uidFromPath(after);
            const page = await ctx.graph.uidPage(limit, after);
            const last = page.uids[page.uids.length - 1];
            sendJson(res, 200, page.more && last !== undefined ? { uids: page.uids, next: last } : { uids: page.uids });
          },
        };
      return nodeRoutes(uidFromPath(key), rest);
    case 'view':
      return viewRoutes([key, ...rest]);
    case 'events':
      return key === undefined ? { GET: (ctx, req, res) => ctx.events.stream(req, res) } : undefined;
    case 'submit':
      if (key !== undefined) return undefined;
      return {
        POST: async (ctx, req, res) => {
          if (ctx.builds === undefined) {
            res.setHeader('Connection', 'close');
            throw new ApiError(
              'FORBIDDEN',
              'this server is read-only; start it with --allow-submit and a token to accept records',
            );
          }
          const answer = await ctx.builds.submit(await readJsonBytes(req, res, ctx.body));
          sendJson(
            res,
            answer.httpStatus,
            answer.state,
            answer.httpStatus === 202 ? { Location: `/v1/builds/${answer.state.uid}` } : {},
          );
        },
      };
    case 'builds': {
      if (key === undefined || rest.length > 0) return undefined;
      const uid = uidFromPath(key);
      return {
        GET: async (ctx, _req, res, params) => {
          if (ctx.builds === undefined) throw new ApiError('FORBIDDEN', 'this server is read-only and builds nothing');
          const waitMs = Math.min(integerParam(params, 'waitMs', 0), MAX_WAIT_MS);
          const state = await ctx.builds.state(uid, waitMs);
          sendJson(res, 200, state);
        },
      };
    }
    default:
      return undefined;
  }
}

/** Answer one request; throws ApiError (or an engine error) for the caller to turn into an error response. */
export async function routeRequest(ctx: RouteContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { segments, params } = parseTarget(req.url ?? '/');
  const route = findRoute(segments);
  if (route === undefined)
    throw new ApiError('NOT_FOUND', `no route ${JSON.stringify(`/${segments.join('/')}`)}; the API lives under /v1`);
  // HEAD is answered as GET; node:http sends the headers without the body.
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  const handler = method === 'GET' ? route.GET : method === 'POST' ? route.POST : undefined;
  if (handler === undefined) {
    const allowed = [route.GET === undefined ? [] : ['GET', 'HEAD'], route.POST === undefined ? [] : ['POST']].flat();
    throw new ApiError('METHOD_NOT_ALLOWED', `${String(req.method)} is not allowed here; use ${allowed.join(' or ')}`, {
      Allow: allowed.join(', '),
    });
  }
  await handler(ctx, req, res, params);
}
