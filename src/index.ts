/**
 * run-graph as a library: fingerprints and canonical JSON, workflow loading
 * and checking, operations, and the WorkerContext that runs a concrete graph
 * in a working directory.
 */
export { canonicalJson, assertPlainJson, type JsonValue } from './identity/canonical-json.js';
export { JsonFloat, isJsonFloat, asFloat, floatText, type JsonNumber } from './identity/json-numbers.js';
export { NumberList } from './identity/number-list.js';
export { parseJsonExactly, formatJson } from './identity/json-text.js';
export {
  fingerprint,
  recordText,
  isUid,
  parseUid,
  shortUid,
  sha256Hex,
  type NodeRecord,
  type Uid,
} from './identity/fingerprint.js';
export { RunGraphError, type ErrorCode, type ErrorLocation } from './errors.js';
export {
  encodeNpy,
  decodeNpy,
  parseNpyHeader,
  readNpyHeader,
  allocArray,
  elementCount,
  type ArrayValue,
  type Dtype,
  type NpyHeader,
} from './values/npy.js';
export { describeType, arrayToNestedList, type ValueType } from './values/values.js';
export type { RunEvent, RunEventType, RunCounts, EventListener, EventError } from './engine/events.js';
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
export {
  loadWorkflowFile,
  checkWorkflowDocument,
  type WorkflowSpec,
  type WorkflowNodeSpec,
  type LoadedWorkflow,
} from './workflow/load.js';
export { buildGraph, type ConcreteGraph, type GraphNode, type BuildGraphOptions } from './workflow/graph.js';
export { loadGraph } from './workflow/load-graph.js';
export {
  WorkerContext,
  type WorkerContextOptions,
  type RunOptions,
  type RunSummary,
  type NodeFailure,
} from './engine/worker-context.js';
export { readStatus, type NodeStatus, type NodeState, type StatusReport } from './views/status.js';
export { readStoreMetadata, type StoreMetadata, type ArtifactEntry, type StoreState } from './store/metadata.js';
export type { VerifyMode } from './store/data-store.js';
export { openLocalGraph, LocalGraph, LocalNode } from './views/browse/local-graph.js';
export type {
  NodeView,
  NodeInfo,
  NodeEdges,
  InputEdge,
  StoreView,
  ArtifactInfo,
  ArrayLayout,
  ArtifactChunk,
  ChunkOptions,
  ChunkLayout,
  ChunkSpan,
  ArrayData,
  GraphRoot,
  RootNode,
  ServerInfo,
  BuildState,
  StreamListing,
  StreamChunkInfo,
  StreamChunk,
  StreamFollowOptions,
} from './views/browse/types.js';
export {
  connect,
  RemoteGraph,
  type ConnectOptions,
  type SubmitOptions,
  type SubmitResult,
  type EventStreamOptions,
} from './client/connect.js';
export { RemoteNode } from './client/remote-node.js';
export { inspectRemoteStore, resolveRemoteTarget, type RemoteTarget } from './client/remote-inspect.js';
export { RemoteError, type RemoteStatus } from './client/transport.js';
export { startServer, type ServeOptions, type RunGraphServer } from './server/server.js';
export { API_STATUS, type ApiStatus, type ApiErrorBody } from './server/status-codes.js';
export type { PublishedEvent } from './server/events.js';
export {
  defineOperation,
  isOperationDefinition,
  type OperationSpec,
  type TypedOperationDefinition,
} from './operations/define.js';
export {
  PORT_DTYPES,
  describePort,
  type PortDtype,
  type PortDeclaration,
  type PortDeclarations,
  type Dims,
  type InputValue,
  type InputValues,
  type OutputValueOf,
  type OutputValues,
  type InputFile,
  type OutputFile,
  type FileLiteral,
  type LiteralInput,
  type NestedList,
} from './operations/ports.js';
export { loadOperationModules } from './operations/load-modules.js';
export {
  GraphBuilder,
  GraphRun,
  fileInput,
  type NodeHandle,
  type OutputRef,
  type UntypedPort,
  type BuilderInputs,
  type OutputReadValue,
  type BuildOptions,
  type ToWorkflowOptions,
} from './api/graph-builder.js';
export { loadWorkflowGraph } from './workflow/load-graph.js';
export {
  SCALEMS_WORKFLOW_VERSION,
  scalemsToWorkflow,
  toScalemsDocument,
  checkDeclaredUids,
  type ScalemsDocument,
  type ScalemsReferent,
} from './workflow/scalems.js';
export {
  readLedger,
  summarizeLedger,
  describeLedgerOperation,
  UpstreamVersions,
  LEDGER_DIR,
  type LedgerEntry,
  type LedgerOperation,
  type LedgerUpstream,
  type LedgerOperationSummary,
} from './store/ledger.js';
export {
  findPriorStores,
  describePriorStore,
  type PriorStore,
  type VersionChange,
} from './views/explain/prior-versions.js';
export { explainNode, describeExplanation, type Explanation, type ClosestStore } from './views/explain/explain.js';
export { diffRecords, describeDifferences, type RecordDifference } from './views/explain/record-diff.js';
export {
  inspectStore,
  resolveTarget,
  type InspectReport,
  type ArtifactReport,
  type InspectOwner,
} from './views/inspect.js';
export { renderGraph, graphEdges, drawnStates, type GraphFormat, type GraphEdge } from './views/graph-render.js';
export {
  findGarbage,
  collectGarbage,
  type GarbageReport,
  type UnreachableStore,
  type CollectResult,
} from './views/gc.js';
export { integer64, float64, npyFile } from './operations/data.js';
export { add, multiply, concatenate } from './operations/transforms.js';
export { sum } from './operations/reductions.js';
export { subprocess } from './operations/subprocess.js';
