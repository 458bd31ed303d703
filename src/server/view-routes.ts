/**
 * What the web page reads beyond the node routes:
 *
 *     GET /v1/view                     ViewSnapshot: every node of the served workflow, its state and timings
 *     GET /v1/view/explain/:label      ViewExplanation: `explain` of one node
 *     GET /v1/view/logs/:label         ViewLogs: the stdout and stderr of its latest attempt (NO_LOGS if none)
 *
 * They need a served workflow (NO_WORKFLOW otherwise) and read the working
 * directory as `status` and `explain` do, without locks or writes.
 */
import { viewExplanation, viewLogs, viewSnapshot } from '../views/web/snapshot.js';
import type { ConcreteGraph } from '../workflow/graph.js';
import { sendJson } from './http-io.js';
import type { Route, RouteContext } from './route.js';
import { ApiError } from './status-codes.js';

function servedGraph(ctx: RouteContext): ConcreteGraph {
  const graph = ctx.graph.graph;
  if (graph === undefined)
    throw new ApiError(
      'NO_WORKFLOW',
      'this server serves no workflow, so there is no graph to view; start it with one',
    );
  return graph;
}

/** The routes under `/v1/view`, or undefined for a path that is none of them. */
export function viewRoutes(rest: readonly (string | undefined)[]): Route | undefined {
  const [what, label, ...more] = rest;
  if (more.length > 0) return undefined;
  if (what === undefined)
    return {
      GET: async (ctx, _req, res) => sendJson(res, 200, await viewSnapshot(servedGraph(ctx), ctx.graph.layout.root)),
    };
  if ((what !== 'explain' && what !== 'logs') || label === undefined) return undefined;
  return {
    GET: async (ctx, _req, res) => {
      const graph = servedGraph(ctx);
      if (!graph.byLabel.has(label))
        throw new ApiError('UNKNOWN_LABEL', `the served workflow has no node labelled ${JSON.stringify(label)}`);
      const root = ctx.graph.layout.root;
      if (what === 'explain') return sendJson(res, 200, await viewExplanation(graph, label, root));
      const logs = await viewLogs(graph, label, root);
      if (logs === undefined)
        throw new ApiError('NO_LOGS', `node ${JSON.stringify(label)} has no attempt with logs: it has not run`);
      return sendJson(res, 200, logs);
    },
  };
}
