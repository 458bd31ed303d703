/**
 * The worker-thread side: import the module that defines an operation, make
 * its input again, run it, and send back its outputs or its error as data.
 */
import { checkpointFacility } from '../../store/checkpoint.js';
import { RunGraphError } from '../../errors.js';
import { qualifiedName, type OperationDefinition } from '../../operations/operation.js';
import { unpackInput, type ThreadResult, type ThreadTask } from './thread-task.js';

function isOperation(value: unknown): value is OperationDefinition {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as OperationDefinition).run === 'function' &&
    typeof (value as OperationDefinition).name === 'string'
  );
}

/** The operation named `name` among a module's exports (directly, or in an exported array). */
function findOperation(exports: Record<string, unknown>, name: string): OperationDefinition | undefined {
  for (const value of Object.values(exports)) {
    const candidates = Array.isArray(value) ? value : [value];
    const found = candidates.find((c): c is OperationDefinition => isOperation(c) && qualifiedName(c) === name);
    if (found !== undefined) return found;
  }
  return undefined;
}

export default async function runOperation(task: ThreadTask): Promise<ThreadResult> {
  try {
    const operation = findOperation((await import(task.module)) as Record<string, unknown>, task.operation);
    if (operation === undefined)
      throw new RunGraphError(
        'E_UNKNOWN_OPERATION',
        `module ${task.module} no longer exports operation ${task.operation}`,
        { node: task.label },
      );
    const result = operation.run(unpackInput(task), {
      storeDir: task.storeDir,
      // A worker is stopped by terminating its thread; the operation never sees an abort.
      signal: new AbortController().signal,
      label: task.label,
      uid: task.uid,
      checkpoint: checkpointFacility(task.storeDir),
    });
    if (Symbol.asyncIterator in result)
      throw new RunGraphError(
        'E_NODE_FAILED',
        `operation ${task.operation} streams, and streams run on the main thread`,
        { node: task.label },
      );
    return { ok: true, outputs: await result };
  } catch (error) {
    if (error instanceof RunGraphError) {
      return {
        ok: false,
        error: {
          code: error.code,
          message: error.message,
          ...(error.hint === undefined ? {} : { hint: error.hint }),
          location: error.location,
        },
      };
    }
    return {
      ok: false,
      error: {
        code: 'E_INTERNAL',
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
        location: { node: task.label },
      },
    };
  }
}
