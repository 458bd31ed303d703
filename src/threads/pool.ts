/**
 * Operations that say where they are defined (`module`) run in a pool of
 * worker threads, so that long JavaScript compute never blocks the main
 * thread, whose event loop keeps the lock heartbeats and the I/O going.
 * The pool has one thread per job and is closed at the end of a run. Where
 * the worker's compiled file is missing (the library loaded from its
 * TypeScript sources), operations run on the main thread instead.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { RunGraphError } from '../errors.js';
import { qualifiedName, type OperationContext, type OperationDefinition, type OperationOutputs, type RunInput } from '../operations/operation.js';
import { errorFromThread, packInput, type ThreadResult, type ThreadTask } from './task.js';

const WORKER_FILE = new URL('./operation-worker.js', import.meta.url);

/** Whether an operation can run in a worker thread: it names its module, and neither streams nor controls other nodes. */
export function runsInThread(operation: OperationDefinition): boolean {
  return operation.module !== undefined && operation.stream === undefined && operation.control !== true;
}

export class OperationThreads {
  readonly #pool: Piscina<ThreadTask, ThreadResult>;

  private constructor(threads: number) {
    this.#pool = new Piscina({ filename: WORKER_FILE.href, minThreads: 0, maxThreads: threads, idleTimeout: 5_000 });
  }

  /** A pool of `threads` threads, or undefined where the compiled worker file does not exist. */
  static create(threads: number): OperationThreads | undefined {
    return existsSync(fileURLToPath(WORKER_FILE)) ? new OperationThreads(threads) : undefined;
  }

  async run(operation: OperationDefinition, input: RunInput, context: OperationContext): Promise<OperationOutputs> {
    const packed = packInput(input);
    const task: ThreadTask = { module: operation.module ?? '', operation: qualifiedName(operation), ...packed, storeDir: context.storeDir, label: context.label, uid: context.uid };
    let result: ThreadResult;
    try {
      result = await this.#pool.run(task, { signal: context.signal });
    } catch (error) {
      if (context.signal.aborted) throw new RunGraphError('E_INTERRUPTED', 'interrupted; the worker thread was stopped', { node: context.label });
      throw error;
    }
    if (!result.ok) throw errorFromThread(result);
    return result.outputs;
  }

  async close(): Promise<void> {
    await this.#pool.destroy();
  }
}
