/** `run-graph validate`: every check `run` makes before it writes anything, and nothing else. */
import { shortUid } from '../../identity/fingerprint.js';
import { describeOutputs } from '../../workflow/graph.js';
import { loadGraph } from '../../workflow/load-graph.js';
import { EXIT } from '../exit-codes.js';
import { runResourceSettings, type ResourceCliOptions } from '../resource-options.js';

export interface ValidateCommandOptions extends ResourceCliOptions {
  json?: boolean;
}

export async function validateCommand(workflow: string, options: ValidateCommandOptions): Promise<number> {
  const { layers } = await runResourceSettings(options);
  const graph = await loadGraph(workflow, undefined, { runResources: layers });
  if (options.json === true) {
    const nodes = graph.nodes.map((n) => ({
      label: n.label,
      uid: n.uid,
      operation: n.record.operation,
      outputs: n.outputs,
      // Execution policy, resolved: not part of the uid. An unbounded backoff has max null.
      retry: {
        retries: n.retry.retries,
        backoff: {
          ...n.retry.backoff,
          maxSeconds: Number.isFinite(n.retry.backoff.maxSeconds) ? n.retry.backoff.maxSeconds : null,
        },
      },
      resources: n.resources,
    }));
    process.stdout.write(`${JSON.stringify({ valid: true, file: workflow, nodes }, null, 2)}\n`);
    return EXIT.ok;
  }
  process.stdout.write(`${workflow}: valid, ${graph.nodes.length} nodes\n`);
  for (const node of graph.nodes) {
    process.stdout.write(
      `  ${node.label} (${shortUid(node.uid)}) ${node.operation.namespace}.${node.operation.name} -> ${describeOutputs(node)}\n`,
    );
  }
  return EXIT.ok;
}
