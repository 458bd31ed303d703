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
import type { Piscina } from 'piscina';
import { RunGraphError } from '../../errors.js';
import { isTimeout } from '../../operations/resources.js';
import { ARTIFACT_SOURCE, type SourcedArtifactRef } from '../../operations/artifact-ref.js';
import {
  isFileInput,
  isInputRef,
  qualifiedName,
  type ArtifactRef,
  type InputTree,
  type OperationContext,
  type OperationDefinition,
  type OperationOutputs,
  type RunInput,
} from '../../operations/operation.js';
import { errorFromThread, packInput, type ThreadResult, type ThreadTask } from './thread-task.js';

const WORKER_FILE = new URL('./operation-worker.js', import.meta.url);

/**
 * Inputs of fewer elements than this, in all, let an operation marked
 * `inlineSmallInputs` run on the main thread: its work then takes at most
 * tens of milliseconds, and the trip to a worker thread and back would cost
 * more, in time and, for a fan-in over many upstream nodes, in memory (every
 * reference is packed, copied and made again in the worker).
 */
export const INLINE_INPUT_ELEMENTS = 256 * 1024;

/**
 * Whether an operation runs in a worker thread with this input: it names its
 * module, neither streams nor controls other nodes, and is not an operation
 * whose work grows only with its input given a small input.
 */
export function runsInThread(operation: OperationDefinition, input: RunInput): boolean {
  if (operation.module === undefined || operation.stream !== undefined || operation.control === true) return false;
  return operation.inlineSmallInputs !== true || inputElements(input, INLINE_INPUT_ELEMENTS) >= INLINE_INPUT_ELEMENTS;
}

const product = (shape: readonly number[]): number => shape.reduce((n, d) => n * d, 1);

/** About how many elements an input holds (upstream arrays and files by shape, or by size where that is unknown; literals by leaf), counted up to `limit`. */
function inputElements(input: RunInput, limit: number): number {
  let total = 0;
  const stack: InputTree<ArtifactRef>[] = Object.values(input);
  while (stack.length > 0 && total < limit) {
    const value = stack.pop() as InputTree<ArtifactRef>;
    if (isInputRef(value)) {
      const { entry } = (value as SourcedArtifactRef)[ARTIFACT_SOURCE];
      total += entry.shape !== undefined ? product(entry.shape) : entry.size / 8;
    } else if (isFileInput(value)) {
      total += value.npy !== undefined ? product(value.npy.shape) : value.size / 8;
    } else if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
    } else if (typeof value === 'object' && value !== null) {
      for (const item of Object.values(value)) stack.push(item);
    } else {
      total += 1;
    }
  }
  return total;
}

export class OperationThreads {
  readonly #threads: number;
  /** Made at the first task: piscina is loaded only by runs that have one (a run of subprocesses has none). */
  #pool: Promise<Piscina<ThreadTask, ThreadResult>> | undefined;

  private constructor(threads: number) {
    this.#threads = threads;
  }

  #started(): Promise<Piscina<ThreadTask, ThreadResult>> {
    this.#pool ??= import('piscina').then(
      ({ Piscina }) =>
        new Piscina<ThreadTask, ThreadResult>({
          filename: WORKER_FILE.href,
          minThreads: 0,
          maxThreads: this.#threads,
          idleTimeout: 5_000,
        }),
    );
    return this.#pool;
  }

  /** A pool of `threads` threads, or undefined where the compiled worker file does not exist. */
  static create(threads: number): OperationThreads | undefined {
    return existsSync(fileURLToPath(WORKER_FILE)) ? new OperationThreads(threads) : undefined;
  }

  async run(operation: OperationDefinition, input: RunInput, context: OperationContext): Promise<OperationOutputs> {
    const packed = packInput(input);
    const task: ThreadTask = {
      module: operation.module ?? '',
      operation: qualifiedName(operation),
      ...packed,
      storeDir: context.storeDir,
      label: context.label,
      uid: context.uid,
    };
    let result: ThreadResult;
    try {
      result = await (await this.#started()).run(task, { signal: context.signal });
    } catch (error) {
      if (isTimeout(context.signal.reason)) throw context.signal.reason;
      if (context.signal.aborted)
        throw new RunGraphError('E_INTERRUPTED', 'interrupted; the worker thread was stopped', { node: context.label });
      throw error;
    }
    if (!result.ok) throw errorFromThread(result);
    return result.outputs;
  }

  async close(): Promise<void> {
    if (this.#pool !== undefined) await (await this.#pool).destroy();
  }
}
