/**
 * From a workflow as written to a concrete graph: every reference resolved
 * to an upstream node and output, the graph checked for cycles, every
 * operation's input checked against the types of what flows into it, and
 * every node given its record and uid. Nothing here touches a working
 * directory, so `validate` and `status` can use it freely.
 */
import type { KnownRecord } from '../identity/fingerprint.js';
import type { OperationRegistry } from '../operations/registry.js';
import type { ResourceLayer } from '../operations/resources.js';
import type { RetrySettings } from '../operations/retry-policy.js';
import { GraphAssembler } from './assemble.js';
import type { ConcreteGraph } from './concrete-graph.js';
import { planPublished } from './publish-plan.js';
import type { WorkflowSpec } from './spec.js';

export type { ResolvedRef } from '../operations/operation.js';
export {
  describeOutputs,
  fileRecord,
  recordInput,
  type Assembly,
  type ConcreteGraph,
  type GraphNode,
  type ResolvedValue,
  type SubgraphAssembler,
} from './concrete-graph.js';
export { closest } from './closest.js';
export { topologicalOrder } from './topological-order.js';

export interface BuildGraphOptions {
  registry: OperationRegistry;
  /** Directory `$file` inputs are relative to. Default: the current directory. */
  baseDir?: string;
  /** The workflow file, for messages. */
  file?: string;
  /** The run's resource defaults (profile, then flags), above the workflow's `defaults`. Default: none. */
  runResources?: readonly ResourceLayer[];
  /** The run's retry defaults, above the workflow's `defaults`. Default: none. */
  runRetry?: RetrySettings;
  /** Records a working directory holds, by which a large literal's uid may be found sooner (fingerprint()). Default: none. */
  knownRecord?: KnownRecord;
}

/** Check a workflow and turn it into a concrete graph with uids. */
export async function buildGraph(spec: WorkflowSpec, options: BuildGraphOptions): Promise<ConcreteGraph> {
  const assembler = await GraphAssembler.create(spec, {
    registry: options.registry,
    baseDir: options.baseDir ?? process.cwd(),
    file: options.file,
    ...(options.runResources === undefined ? {} : { runResources: options.runResources }),
    ...(options.runRetry === undefined ? {} : { runRetry: options.runRetry }),
    ...(options.knownRecord === undefined ? {} : { knownRecord: options.knownRecord }),
  });
  const nodes = assembler.assembleWorkflow();
  // Before byLabel: a published gather joins the nodes.
  const published = planPublished(spec.publish, assembler, nodes, options.file);
  return { nodes, byLabel: new Map(nodes.map((n) => [n.label, n])), file: options.file, assembler, published };
}
