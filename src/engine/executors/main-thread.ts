/**
 * Operations run on the main thread: control operations (loops), streaming
 * operations, operations that name no module, and those whose work is
 * small. A streaming operation's chunks are written durably to its store as
 * they come, each before the next is asked for.
 */
import { RunGraphError } from '../../errors.js';
import { qualifiedName, type OperationOutputs } from '../../operations/operation.js';
import type { Execution, Executor } from './executor.js';

export class MainThreadExecutor implements Executor {
  async execute({ node, input, context, store }: Execution): Promise<OperationOutputs> {
    const result = node.operation.run(input, context);
    if (!(Symbol.asyncIterator in result)) return result;
    const stream = node.operation.stream;
    if (stream === undefined) {
      throw new RunGraphError(
        'E_NODE_FAILED',
        `operation ${qualifiedName(node.operation)} yielded a stream but declares no "stream" output`,
        { node: node.label },
      );
    }
    const entry = await store.writeStream(stream, result, context.resumeAtChunk ?? 0, context.signal, node.label);
    return { [stream]: { kind: 'stream', entry } };
  }

  async close(): Promise<void> {}
}
