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
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
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
import { isRefused, limitConnections } from './connections.js';
import { monitorLoop } from './loop-monitor.js';
import { servePage } from './page-routes.js';
import { sendApiError } from './http-io.js';
import { routeRequest, type RouteContext } from './routes.js';
import { toApiError } from './status-codes.js';
import {
  BuildService,
  FINISHED_BUILDS_KEPT,
  QUEUED_BYTES,
  submittableRegistry,
  type RetainedBuilds,
} from './submit.js';
import { DEFAULT_HOST } from './defaults.js';

export { DEFAULT_HOST, DEFAULT_PORT } from './defaults.js';
/** Default largest request body. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

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
  /** Body bytes of submitted builds waiting or running beyond which submissions are refused (SERVER_BUSY). Default 64 MiB. */
  maxQueuedBytes?: number;
  /** Finished submitted builds remembered, as small summaries (committed ones are also found on disk). Default 1000. */
  finishedBuildsKept?: number;
  /** Disk the stores built for clients may take; past it submissions get QUOTA_EXCEEDED (507). Default: no quota. */
  submitQuotaBytes?: number;
  /** Measure the event loop's delays, for `eventLoopMaxDelayMs()` and `eventLoopMaxCpuStretchMs()`. Default false. */
  monitorEventLoop?: boolean;
  /**
   * Largest request body in bytes. Default 1 MiB: checking a submitted
   * record costs the event loop about 0.2 s per MiB, in steps that yield
   * to other requests; raise it only for trusted clients.
   */
  maxBodyBytes?: number;
  /** Serve HTTPS with this certificate chain and private key (PEM). Default: plain HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Connections held open at once; one more is answered 503 TOO_MANY_CONNECTIONS and closed. Default 512. */
  maxConnections?: number;
  /** Time a client has to send its request headers. Default 10 000 ms. */
  headersTimeoutMs?: number;
  /** Time a client has to send its whole request, body included. Default 120 000 ms. */
  requestTimeoutMs?: number;
  /** Longest pause while a request body arrives, answered 408 REQUEST_TIMEOUT. Default 10 000 ms. */
  bodyIdleTimeoutMs?: number;
  /** How often the header and request time limits are checked. Default 1 000 ms. */
  connectionsCheckingIntervalMs?: number;
  /** Chunk size of chunk requests that name none. Default 4 MiB. */
  chunkBytes?: number;
  /** Events kept for clients that connect late. Default 1000. */
  eventHistory?: number;
  /** Called with every error that is a bug (answered as INTERNAL). Default: none. */
  onInternalError?: (error: unknown) => void;
}

/** A running server. */
export interface RunGraphServer {
  /** Base URL, e.g. `http://127.0.0.1:7377` (`https://` with `tls`). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly graph: LocalGraph;
  /** Publish a run's events to stream clients (`run --serve` passes its reporter's events here). */
  publish(event: RunEvent): void;
  /** Connections open now (those turned away not counted). */
  connections(): number;
  /** Longest the event loop was blocked since the server started, wall time, in ms (0 unless `monitorEventLoop`). */
  eventLoopMaxDelayMs(): number;
  /** Most CPU time spent between two ticks of the event loop, in ms: one synchronous stretch (0 unless `monitorEventLoop`). */
  eventLoopMaxCpuStretchMs(): number;
  /** What finished submitted builds hold in memory (nothing without `allowSubmit`). */
  retainedBuilds(): RetainedBuilds;
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

/** Whether a request announces a body (a length above zero, or chunks). */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/** Check the options, open the working directory for reading, and start listening. */
export async function startServer(options: ServeOptions): Promise<RunGraphServer> {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? 0;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65_535)
    throw new RunGraphError('E_USAGE', `port must be an integer from 0 to 65535, got ${String(port)}`, { value: port });
  const allowSubmit = options.allowSubmit ?? false;
  checkAccessPolicy(host, options.token, allowSubmit);
  const maxBodyBytes = positiveInteger('maxBodyBytes', options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES);
  const chunkBytes = checkChunkBytes(options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const graph = await openLocalGraph(options.workdir, options.graph === undefined ? {} : { graph: options.graph });
  const events = new EventHub({ history: positiveInteger('eventHistory', options.eventHistory, 1000) });
  const builds = allowSubmit
    ? new BuildService({
        workdir: options.workdir,
        registry: options.registry ?? submittableRegistry(),
        jobs: positiveInteger('buildJobs', options.buildJobs, 1),
        maxQueued: positiveInteger('maxQueuedBuilds', options.maxQueuedBuilds, 64),
        maxQueuedBytes: positiveInteger('maxQueuedBytes', options.maxQueuedBytes, QUEUED_BYTES),
        finishedKept: positiveInteger('finishedBuildsKept', options.finishedBuildsKept, FINISHED_BUILDS_KEPT),
        ...(options.submitQuotaBytes === undefined
          ? {}
          : { quotaBytes: positiveInteger('submitQuotaBytes', options.submitQuotaBytes, 1) }),
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
  const context: RouteContext = {
    graph,
    events,
    builds,
    info,
    body: { maxBytes: maxBodyBytes, idleMs: positiveInteger('bodyIdleTimeoutMs', options.bodyIdleTimeoutMs, 10_000) },
  };
  const guard = new RequestGuard(options.token);

  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (isRefused(req.socket)) return;
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
      // A body the answer did not read is not waited for: the connection closes once the answer is out.
      if (!req.complete && hasBody(req)) res.setHeader('Connection', 'close');
      sendApiError(res, apiError);
    }
  };
  const requestTimeout = positiveInteger('requestTimeoutMs', options.requestTimeoutMs, 120_000);
  const httpOptions: ServerOptions = {
    headersTimeout: Math.min(positiveInteger('headersTimeoutMs', options.headersTimeoutMs, 10_000), requestTimeout),
    requestTimeout,
    connectionsCheckingInterval: positiveInteger(
      'connectionsCheckingIntervalMs',
      options.connectionsCheckingIntervalMs,
      1_000,
    ),
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => void answer(req, res);
  const server: Server =
    options.tls === undefined
      ? createServer(httpOptions, onRequest)
      : createTlsServer({ ...httpOptions, cert: options.tls.cert, key: options.tls.key }, onRequest);
  const connections = limitConnections(
    server,
    positiveInteger('maxConnections', options.maxConnections, 512),
    options.tls === undefined ? 'connection' : 'secureConnection',
  );
  const loop = options.monitorEventLoop === true ? monitorLoop() : undefined;
  await listen(server, host, port);
  const bound = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `${options.tls === undefined ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    host,
    port: bound,
    graph,
    publish: (event) => events.publish(event),
    connections,
    eventLoopMaxDelayMs: () => loop?.maxDelayMs() ?? 0,
    eventLoopMaxCpuStretchMs: () => loop?.maxCpuStretchMs() ?? 0,
    retainedBuilds: () => builds?.retained() ?? { entries: 0, bytes: 0 },
    close: () => {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        events.close();
        loop?.stop();
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
