/**
 * `run-graph serve`: a working directory over HTTP.
 *
 * Built on node:http rather than a framework: the API is a dozen routes
 * whose hard parts (streaming byte ranges from disk with backpressure,
 * server-sent events, bodies read under a limit) are each a few lines over
 * node:http and node:stream, and a framework would add a dependency tree to
 * audit for a server that guards users' data without taking any of those
 * parts off our hands.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_CHUNK_BYTES, checkChunkBytes } from '../views/browse/chunk-layout.js';
import { openLocalGraph, type LocalGraph } from '../views/browse/local-graph.js';
import type { ServerInfo } from '../views/browse/types.js';
import { RunGraphError, isErrnoException } from '../errors.js';
import type { RunEvent } from '../engine/events.js';
import type { OperationRegistry } from '../operations/registry.js';
import type { ConcreteGraph } from '../workflow/graph.js';
import { checkAccessPolicy, RequestGuard } from './auth.js';
import { EventHub } from './events.js';
import { servePage } from './page-routes.js';
import { sendApiError } from './http-io.js';
import { routeRequest, type RouteContext } from './routes.js';
import { toApiError } from './status-codes.js';
import { BuildService, submittableRegistry } from './submit.js';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7377;

export interface ServeOptions {
  /** The working directory to serve; it must exist. */
  workdir: string;
  /** A workflow to serve as the root (labels, `GET /v1/graph`). Default: none. */
  graph?: ConcreteGraph;
  /** Address to bind. Default 127.0.0.1; any non-loopback address needs `token`. */
  host?: string;
  /** Port; 0 picks a free one (see `RunGraphServer.port`). Default 0. */
  port?: number;
  /** Bearer token every request must carry. Default: none (loopback only). At least 16 characters. */
  token?: string;
  /** Accept `POST /v1/submit` and build submitted records in the working directory. Needs `token`. Default false. */
  allowSubmit?: boolean;
  /** Operations a submitted record may name. Default: the built-in in-process operations (no subprocesses). */
  registry?: OperationRegistry;
  /** Submitted builds running at once. Default 1. */
  buildJobs?: number;
  /** Submitted builds waiting beyond which submissions are refused (SERVER_BUSY). Default 64. */
  maxQueuedBuilds?: number;
  /** Largest request body in bytes. Default 8 MiB. */
  maxBodyBytes?: number;
  /** Chunk size of chunk requests that name none. Default 4 MiB. */
  chunkBytes?: number;
  /** Events kept for clients that connect late. Default 1000. */
  eventHistory?: number;
  /** Called with every error that is a bug (answered as INTERNAL). Default: none. */
  onInternalError?: (error: unknown) => void;
}

/** A running server. */
export interface RunGraphServer {
  /** Base URL, e.g. `http://127.0.0.1:7377`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly graph: LocalGraph;
  /** Publish a run's events to stream clients (`run --serve` passes its reporter's events here). */
  publish(event: RunEvent): void;
  /** Stop accepting, end event streams, stop builds, close connections. */
  close(): Promise<void>;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const chosen = value ?? fallback;
  if (!Number.isSafeInteger(chosen) || chosen < 1)
    throw new RunGraphError('E_USAGE', `${name} must be a positive integer, got ${String(value)}`, { value });
  return chosen;
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      if (
        isErrnoException(error) &&
        (error.code === 'EADDRINUSE' || error.code === 'EADDRNOTAVAIL' || error.code === 'EACCES')
      ) {
        reject(
          new RunGraphError('E_USAGE', `cannot listen on ${host}:${port}: ${error.code}`, {
            value: `${host}:${port}`,
            cause: error,
            hint: 'choose another --port or --host',
          }),
        );
      } else {
        reject(error);
      }
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/** Check the options, open the working directory for reading, and start listening. */
export async function startServer(options: ServeOptions): Promise<RunGraphServer> {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? 0;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65_535)
    throw new RunGraphError('E_USAGE', `port must be an integer from 0 to 65535, got ${String(port)}`, { value: port });
  const allowSubmit = options.allowSubmit ?? false;
  checkAccessPolicy(host, options.token, allowSubmit);
  const maxBodyBytes = positiveInteger('maxBodyBytes', options.maxBodyBytes, 8 * 1024 * 1024);
  const chunkBytes = checkChunkBytes(options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const graph = await openLocalGraph(options.workdir, options.graph === undefined ? {} : { graph: options.graph });
  const events = new EventHub({ history: positiveInteger('eventHistory', options.eventHistory, 1000) });
  const builds = allowSubmit
    ? new BuildService({
        workdir: options.workdir,
        registry: options.registry ?? submittableRegistry(),
        jobs: positiveInteger('buildJobs', options.buildJobs, 1),
        maxQueued: positiveInteger('maxQueuedBuilds', options.maxQueuedBuilds, 64),
        emit: (event) => events.publish(event),
      })
    : undefined;
  const info: ServerInfo = {
    api: 1,
    name: 'run-graph',
    version: packageVersion(),
    workflow: options.graph !== undefined,
    submit: allowSubmit,
    chunkBytes,
    maxBodyBytes,
  };
  const context: RouteContext = { graph, events, builds, info };
  const guard = new RequestGuard(options.token);

  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      // The page and its script hold no data; a browser opening the URL cannot send the token yet.
      if (await servePage(req, res)) return;
      guard.check(req);
      await routeRequest(context, req, res);
    } catch (error) {
      // A client that hung up mid-stream is not an error worth an answer.
      if (isErrnoException(error) && (error.code === 'ERR_STREAM_PREMATURE_CLOSE' || error.code === 'ECONNRESET'))
        return;
      const apiError = toApiError(error);
      if (apiError.status === 'INTERNAL') options.onInternalError?.(error);
      sendApiError(res, apiError);
    }
  };
  const server = createServer((req, res) => void answer(req, res));
  await listen(server, host, port);
  const bound = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    host,
    port: bound,
    graph,
    publish: (event) => events.publish(event),
    close: () => {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        events.close();
        await builds?.close();
        server.closeIdleConnections();
        // Downloads under way get a moment to finish, then every connection is cut.
        const cut = setTimeout(() => server.closeAllConnections(), 2_000);
        await closed;
        clearTimeout(cut);
      })();
      return closing;
    },
  };
}
