/** Read a workflow file and turn it into a concrete graph in one step. */
import { builtinRegistry, type OperationRegistry } from '../operations/registry.js';
import { buildGraph, type ConcreteGraph } from './graph.js';
import { loadWorkflowFile } from './load.js';

/** Load, check and fingerprint a workflow file. Default registry: the built-in operations. */
export async function loadGraph(file: string, registry: OperationRegistry = builtinRegistry()): Promise<ConcreteGraph> {
  const workflow = await loadWorkflowFile(file);
  return buildGraph(workflow.spec, { registry, baseDir: workflow.baseDir, file: workflow.file });
}
