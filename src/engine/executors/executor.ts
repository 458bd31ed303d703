/**
 * The executor seam: where a node's operation runs. The run hands an
 * executor a prepared node (a store claimed, reset and locked by this
 * process, the input with every reference turned into an upstream artifact,
 * and the operation's context) and gets its outputs back; committing them
 * stays with the run, which holds the lock.
 *
 * An executor may run the operation on this thread, in a worker thread, or
 * in another process on another host: nothing passes between the two but
 * the request, the outputs, and the files in the store's directory of the
 * shared working directory. The request is plain data but for the context's
 * signal and facilities, which a remote executor replaces with its own (see
 * thread-task.ts, which packs a request for a worker thread).
 */
import type { GraphNode } from '../../workflow/graph.js';
import type { OperationContext, OperationOutputs, RunInput } from '../../operations/operation.js';
import type { ClaimedStore } from '../../store/store.js';

/** A node ready to run: its store is claimed and reset, its input resolved. */
export interface Execution {
  readonly node: GraphNode;
  readonly input: RunInput;
  readonly context: OperationContext;
  /** Where the operation's files go (context.storeDir is its directory); streamed chunks are written through it. */
  readonly store: ClaimedStore;
}

export interface Executor {
  /**
   * Run the operation and resolve to its outputs. Rejects with what the
   * operation threw (the run reports it as the node's failure), or with
   * E_INTERRUPTED once the context's signal aborts.
   */
  execute(execution: Execution): Promise<OperationOutputs>;
  /** Stop whatever the executor keeps running between nodes (threads, connections). */
  close(): Promise<void>;
}
