/**
 * `run-graph status --remote URL`: the status table of a served working
 * directory, read through the client library. The nodes are those of a
 * local workflow file when one is given, else those of the workflow the
 * server serves.
 */
import type { NodeInfo, StoreView } from '../../views/browse/types.js';
import { connect } from '../../client/connect.js';
import { RemoteError } from '../../client/transport.js';
import { assertNever } from '../../errors.js';
import { shortUid, type Uid } from '../../identity/fingerprint.js';
import { loadGraph } from '../../workflow/load-graph.js';
import { EXIT } from '../exit-codes.js';
import { describeState } from './status.js';

export interface RemoteStatusOptions {
  remote: string;
  token?: string;
  json?: boolean;
}

type RemoteNodeStatus = { label: string; uid: Uid; operation: string } & (StoreView | { state: 'not-started' });

/** The state part of a node's info. */
function storeView(info: NodeInfo): StoreView {
  switch (info.state) {
    case 'committed':
      return { state: 'committed', committedAt: info.committedAt, durationMs: info.durationMs };
    case 'running':
      return { state: 'running', owner: info.owner };
    case 'incomplete':
      return { state: 'incomplete' };
    case 'failed':
      return {
        state: 'failed',
        attempt: info.attempt,
        lastAttempt: info.lastAttempt,
        cause: info.cause,
        message: info.message,
      };
    default:
      return assertNever(info, 'store state');
  }
}

export async function remoteStatusCommand(workflow: string | undefined, options: RemoteStatusOptions): Promise<number> {
  const graph = await connect(options.remote, options.token === undefined ? {} : { token: options.token });
  try {
    const nodes =
      workflow === undefined
        ? (await graph.root()).nodes
        : (await loadGraph(workflow)).nodes.map((n) => ({
            label: n.label,
            uid: n.uid,
            operation: `${n.operation.namespace}.${n.operation.name}`,
          }));
    const report: RemoteNodeStatus[] = await Promise.all(
      nodes.map(async ({ label, uid, operation }): Promise<RemoteNodeStatus> => {
        try {
          return { label, uid, operation, ...storeView(await graph.node(uid).info()) };
        } catch (error) {
          if (error instanceof RemoteError && error.status === 'UNKNOWN_NODE')
            return { label, uid, operation, state: 'not-started' };
          throw error;
        }
      }),
    );
    const counts = { committed: 0, 'not-started': 0, incomplete: 0, failed: 0, running: 0, total: report.length };
    for (const node of report) counts[node.state]++;
    if (options.json === true) {
      process.stdout.write(`${JSON.stringify({ remote: graph.url, nodes: report, counts }, null, 2)}\n`);
      return EXIT.ok;
    }
    const width = Math.max(5, ...report.map((n) => n.label.length));
    process.stdout.write(`${'LABEL'.padEnd(width)}  UID           STATE\n`);
    for (const node of report)
      process.stdout.write(`${node.label.padEnd(width)}  ${shortUid(node.uid)}  ${describeState(node)}\n`);
    process.stdout.write(
      `\n${counts.total} nodes at ${graph.url}: ${counts.committed} committed, ${counts['not-started']} not started, ${counts.incomplete} incomplete, ${counts.running} running\n`,
    );
    return EXIT.ok;
  } finally {
    graph.close();
  }
}
