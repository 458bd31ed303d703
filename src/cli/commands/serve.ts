/**
 * `run-graph serve`: serve a working directory over HTTP until SIGINT or
 * SIGTERM. Also starts the server `run --serve` streams its events through.
 */
import { readFileSync } from 'node:fs';
import { RunGraphError } from '../../errors.js';
import { TOKEN_ENV } from '../../server/auth.js';
import { DEFAULT_HOST, DEFAULT_PORT, startServer, type RunGraphServer } from '../../server/server.js';
import type { ConcreteGraph } from '../../workflow/graph.js';
import { loadGraph } from '../../workflow/load-graph.js';
import { EXIT } from '../exit-codes.js';
import { chosenWorkdir } from '../workdir-option.js';

/** Options every command that starts a server takes. */
export interface ServerCliOptions {
  host?: string;
  /** Default 7377. */
  port?: number;
  token?: string;
}

export interface ServeCommandOptions extends ServerCliOptions {
  workdir?: string;
  allowSubmit?: boolean;
  maxBody?: number;
  maxConnections?: number;
  submitQuota?: number;
  tlsCert?: string;
  tlsKey?: string;
  json?: boolean;
}

/** The certificate and key of `--tls-cert`/`--tls-key`, read now so a bad path fails before the server binds. */
function tlsFiles(options: ServeCommandOptions): { cert: Buffer; key: Buffer } | undefined {
  if (options.tlsCert === undefined && options.tlsKey === undefined) return undefined;
  if (options.tlsCert === undefined || options.tlsKey === undefined)
    throw new RunGraphError('E_USAGE', '--tls-cert and --tls-key go together: give both or neither');
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new RunGraphError('E_USAGE', `cannot read ${flag} ${JSON.stringify(path)}: ${String(error)}`, {
        value: path,
        cause: error,
      });
    }
  };
  return { cert: read('--tls-cert', options.tlsCert), key: read('--tls-key', options.tlsKey) };
}

function tokenOf(options: ServerCliOptions): string | undefined {
  return options.token ?? process.env[TOKEN_ENV];
}

/** The server of `run --serve`: read-only, with the run's workflow as its root; its address goes to stderr. */
export async function startRunServer(
  graph: ConcreteGraph,
  workdir: string,
  options: ServerCliOptions,
): Promise<RunGraphServer> {
  const token = tokenOf(options);
  const server = await startServer({
    workdir,
    graph,
    host: options.host ?? DEFAULT_HOST,
    port: options.port ?? DEFAULT_PORT,
    ...(token === undefined ? {} : { token }),
    onInternalError: (error) =>
      process.stderr.write(
        `run-graph serve: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      ),
  });
  process.stderr.write(`run-graph: live events at ${server.url}/v1/events, web view at ${server.url}/\n`);
  return server;
}

export async function serveCommand(workflow: string | undefined, options: ServeCommandOptions): Promise<number> {
  if (workflow === undefined && options.workdir === undefined) {
    throw new RunGraphError('E_USAGE', 'serve needs a workflow file or --workdir', {
      hint: 'run-graph serve flow.json, or run-graph serve --workdir flow.workdir',
    });
  }
  const graph = workflow === undefined ? undefined : await loadGraph(workflow);
  const workdir = workflow === undefined ? (options.workdir as string) : chosenWorkdir(workflow, options.workdir);
  const token = tokenOf(options);
  const tls = tlsFiles(options);
  const server = await startServer({
    workdir,
    ...(graph === undefined ? {} : { graph }),
    ...(tls === undefined ? {} : { tls }),
    ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
    ...(options.submitQuota === undefined ? {} : { submitQuotaBytes: options.submitQuota }),
    host: options.host ?? DEFAULT_HOST,
    port: options.port ?? DEFAULT_PORT,
    ...(token === undefined ? {} : { token }),
    allowSubmit: options.allowSubmit === true,
    ...(options.maxBody === undefined ? {} : { maxBodyBytes: options.maxBody }),
    onInternalError: (error) =>
      process.stderr.write(
        `run-graph serve: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      ),
  });
  const mode = options.allowSubmit === true ? 'accepting submissions' : 'read-only';
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify({ type: 'listening', url: server.url, workdir, mode })}\n`);
  } else {
    process.stdout.write(
      `serving ${workdir} at ${server.url}/v1 (${mode}${token === undefined ? '' : ', token required'}), web view at ${server.url}/; Ctrl-C stops\n`,
    );
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await server.close();
  return EXIT.ok;
}
