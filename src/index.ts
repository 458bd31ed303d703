/**
 * run-graph as a library: fingerprints and canonical JSON, workflow loading
 * and checking, operations, and the WorkerContext that runs a concrete graph
 * in a working directory.
 */
export { canonicalJson, assertPlainJson, type JsonValue } from './canonical-json.js';
export { fingerprint, recordText, isUid, parseUid, shortUid, sha256Hex, type NodeRecord, type Uid } from './fingerprint.js';
export { RunGraphError, type ErrorCode, type ErrorLocation } from './errors.js';
export { encodeNpy, decodeNpy, parseNpyHeader, readNpyHeader, allocArray, elementCount, type ArrayValue, type Dtype, type NpyHeader } from './npy.js';
export { describeType, arrayToNestedList, type ValueType } from './values.js';
export type { RunEvent, RunEventType, RunCounts, EventListener, EventError } from './events.js';
export {
  INPUT_KIND,
  qualifiedName,
  operationIdentity,
  isInputRef,
  isFileInput,
  type OperationDefinition,
  type OperationContext,
  type OperationOutputs,
  type OutputValue,
  type ArtifactRef,
  type TypedRef,
  type FileInput,
  type CheckInput,
  type RunInput,
  type CheckSite,
  type InputTree,
} from './operations/operation.js';
export { OperationRegistry, builtinRegistry, BUILTIN_OPERATIONS } from './operations/registry.js';
export { loadWorkflowFile, checkWorkflowDocument, type WorkflowSpec, type WorkflowNodeSpec, type LoadedWorkflow } from './workflow/load.js';
export { buildGraph, type ConcreteGraph, type GraphNode, type BuildGraphOptions } from './workflow/graph.js';
export { loadGraph } from './workflow/load-graph.js';
export { WorkerContext, type WorkerContextOptions, type RunOptions, type RunSummary, type NodeFailure } from './context.js';
export { readStatus, type NodeStatus, type NodeState, type StatusReport } from './status.js';
export { readStoreMetadata, type StoreMetadata, type ArtifactEntry, type StoreState } from './store/metadata.js';
export type { VerifyMode } from './store/data-store.js';
