/**
 * The arithmetic every benchmark figure goes through: a median of
 * repetitions (robust to the one slow run a busy machine always has), a
 * wall-clock timer, and a clean start for each measurement.
 */
import { spawnSync } from 'node:child_process';

/** Median of a non-empty list of samples; NaN for an empty one, so a missing figure is visible, not zero. */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] as number) + upper) / 2;
}

/** Run `fn` once and return its result with the wall time it took, in milliseconds. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

/** `count` calls of `task(i)`, at most `concurrency` at once; resolves when all are done. */
export async function pooled(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
}

/**
 * Write all dirty data of the machine to disk (`sync`) before a measurement,
 * so that none pays for the writeback the one before left behind (the stores
 * a phase wrote, the workdir a repetition removed). Without `sync` on the
 * PATH, measurements simply start without it.
 */
export function settleDisk(): void {
  spawnSync('sync', [], { stdio: 'ignore' });
}
