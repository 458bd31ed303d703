/**
 * A workflow as written: the types of a parsed, schema-checked workflow
 * file (and of a SCALE-MS document converted to one).
 */
import type { JsonValue } from '../identity/canonical-json.js';
import type { RetrySettings } from '../operations/retry-policy.js';
import type { ResourcesSpec } from '../operations/resources.js';

/**
 * A node as written. Its `retries` and `backoff` (RetrySettings) are its
 * retry policy; on a subgraph use, map or loop they apply to every node it
 * makes that does not set its own. They are not part of any uid.
 */
export interface WorkflowNodeSpec extends RetrySettings {
  label: string;
  /** `namespace.name`. Exactly one of operation, subgraph, map and while is set. */
  operation?: string;
  /** A subgraph of the workflow used like an operation; `input` binds its inputs. */
  subgraph?: string;
  /** An ensemble: a subgraph or operation fanned out over the members of a list or an array. */
  map?: MapSpec;
  /** A loop: a subgraph run on its own outputs until a condition says stop. */
  while?: WhileSpec;
  input?: { [field: string]: JsonValue };
  description?: string;
  /**
   * What one execution needs (cores, memory, time limit, GPUs, Slurm
   * options). On a subgraph, map or while node: the default of every node
   * made inside it. Not part of any uid.
   */
  resources?: ResourcesSpec;
}

/** An abstract graph: nodes with placeholder inputs (`{"$input": "name"}`) and named outputs. */
export interface SubgraphSpec {
  description?: string;
  inputs: string[];
  /** Each output is `{"$ref": "inner"}`, `{"$ref": "inner.output"}` or `{"$input": "name"}`. */
  outputs: { [name: string]: JsonValue };
  nodes: WorkflowNodeSpec[];
}

export interface MapSpec {
  /** A list (each element is a member) or an array reference (each row along the leading axis is one). */
  over: JsonValue;
  /** The input of the subgraph or operation that receives the member. */
  as: string;
  subgraph?: string;
  operation?: string;
  /** Inputs bound to the same value for every member. */
  input?: { [field: string]: JsonValue };
}

export interface WhileSpec {
  /** The loop body: its inputs are the state, and it must output every state variable for the next iteration. */
  subgraph: string;
  /** The condition subgraph, run on the state before each iteration. */
  until: string;
  /** The output of `until` that says stop: a boolean. */
  stopWhen: string;
  /** The state before the first iteration, by name. */
  state: { [name: string]: JsonValue };
  /** Most iterations of the body. */
  maxIterations: number;
  /** What reaching maxIterations without the condition saying stop means. Default `fail`. */
  onMaxIterations?: 'fail' | 'accept';
}

/** A workflow as written: the parsed, schema-checked content of a workflow file. */
export interface WorkflowSpec {
  description?: string;
  /** Abstract graphs the nodes can use (`"subgraph"`, `"map"`, `"while"`), by name. */
  subgraphs?: { [name: string]: SubgraphSpec };
  /** Modules that define operations, relative to the workflow file (`"./my-ops.js"`). */
  operations?: string[];
  /** Execution policy for every node that sets none of its own and whose operation sets none. */
  defaults?: WorkflowDefaults;
  nodes: WorkflowNodeSpec[];
  /** Outputs published at paths relative to the workflow file: `{"results/total.npy": {"$ref": "total"}}` (see publish-plan.ts). */
  publish?: { [path: string]: JsonValue };
}

/**
 * The workflow's `"defaults"`: execution policy, never part of a uid. A run's
 * profile and flags override its resources; an operation's and a node's own
 * settings override both.
 */
export interface WorkflowDefaults extends RetrySettings {
  resources?: ResourcesSpec;
}
