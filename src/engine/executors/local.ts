/**
 * The local executor: each operation on this machine, in a worker thread
 * where it can run there (see runsInThread), on the main thread otherwise.
 */
import type { Execution, Executor } from './executor.js';
import { MainThreadExecutor } from './main-thread.js';
import { OperationThreads, runsInThread } from './worker-threads.js';

export interface LocalExecutorOptions {
  /** Worker threads in the pool: one per job. */
  readonly threads: number;
  /** Whether to use worker threads at all. False runs everything on the main thread. */
  readonly useThreads: boolean;
}

export class LocalExecutor implements Executor {
  readonly #main = new MainThreadExecutor();
  /** Undefined without threads, or where the compiled worker file is missing. */
  readonly #threads: OperationThreads | undefined;

  constructor(options: LocalExecutorOptions) {
    this.#threads = options.useThreads ? OperationThreads.create(options.threads) : undefined;
  }

  execute(execution: Execution): ReturnType<Executor['execute']> {
    const threads = this.#threads;
    if (threads !== undefined && runsInThread(execution.node.operation, execution.input)) {
      return threads.run(execution.node.operation, execution.input, execution.context);
    }
    return this.#main.execute(execution);
  }

  async close(): Promise<void> {
    await this.#threads?.close();
  }
}
