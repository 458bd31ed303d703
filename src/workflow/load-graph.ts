/**
 * Read a workflow file and turn it into a concrete graph in one step: the
 * operation modules it names are loaded into the registry first, and a
 * SCALE-MS document's declared uids are checked against the ones computed.
 */
import { loadOperationModules } from '../operations/load-modules.js';
import { builtinRegistry, type OperationRegistry } from '../operations/registry.js';
import type { ResourceLayer } from '../operations/resources.js';
import type { RetrySettings } from '../operations/retry-policy.js';
import type { KnownRecord } from '../identity/fingerprint.js';
import { buildGraph, type ConcreteGraph } from './graph.js';
import { loadWorkflowFile, type LoadedWorkflow } from './load.js';
import { checkDeclaredUids } from './scalems.js';

export interface LoadGraphOptions {
  /** The run's resource defaults (profile, then flags), above the workflow's `defaults`. Default: none. */
  runResources?: readonly ResourceLayer[];
  /** The run's retry defaults (`run --retries`), above the workflow's `defaults`. Default: none. */
  runRetry?: RetrySettings;
  /** Records a working directory holds, by which a large literal's uid may be found sooner (fingerprint()). Default: none. */
  knownRecord?: KnownRecord;
}

/** The workflow as read and the graph built from it. */
export async function loadWorkflowGraph(
  file: string,
  registry: OperationRegistry = builtinRegistry(),
  options: LoadGraphOptions = {},
): Promise<{ workflow: LoadedWorkflow; graph: ConcreteGraph }> {
  const workflow = await loadWorkflowFile(file);
  await loadOperationModules(workflow.spec.operations ?? [], registry, workflow.baseDir, workflow.file);
  const graph = await buildGraph(workflow.spec, {
    registry,
    baseDir: workflow.baseDir,
    file: workflow.file,
    ...(options.runResources === undefined ? {} : { runResources: options.runResources }),
    ...(options.runRetry === undefined ? {} : { runRetry: options.runRetry }),
    ...(options.knownRecord === undefined ? {} : { knownRecord: options.knownRecord }),
  });
  if (workflow.scalems !== undefined) checkDeclaredUids(graph, workflow.scalems, workflow.file);
  return { workflow, graph };
}

/**
 * Load, check and fingerprint a workflow file (or a SCALE-MS
 * `scalems_workflow_1` document). Default registry: the built-in operations;
 * the operations of the file's `"operations"` modules are added to it.
 */
export async function loadGraph(
  file: string,
  registry: OperationRegistry = builtinRegistry(),
  options: LoadGraphOptions = {},
): Promise<ConcreteGraph> {
  return (await loadWorkflowGraph(file, registry, options)).graph;
}
