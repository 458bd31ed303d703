/** The shape of the server's routes: what a handler is given and answers from. */
import type { BodyLimits } from './http-io.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LocalGraph } from '../views/browse/local-graph.js';
import type { ServerInfo } from '../views/browse/types.js';
import type { EventHub } from './events.js';
import type { BuildService } from './submit.js';

/** What the routes answer from. */
export interface RouteContext {
  readonly graph: LocalGraph;
  readonly events: EventHub;
  /** Undefined on a read-only server. */
  readonly builds: BuildService | undefined;
  readonly info: ServerInfo;
  /** How request bodies are read. */
  readonly body: BodyLimits;
}

export type Handler = (
  ctx: RouteContext,
  req: IncomingMessage,
  res: ServerResponse,
  params: URLSearchParams,
) => Promise<void> | void;

export interface Route {
  GET?: Handler;
  POST?: Handler;
}
