/**
 * Runs the nodes of a DAG as their inputs become ready, at most `jobs` at a
 * time. Linear in nodes plus edges. A failed node's descendants are skipped
 * (each reported once, naming the failed node), independent branches go on,
 * and an abort stops new starts while running nodes finish. A node that
 * cannot run yet because another process holds it is deferred: it gives its
 * slot to other ready nodes and is tried again after a backoff.
 */

const MIN_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1_000;

export interface ScheduleOptions {
  /** Number of nodes, indexed 0..count-1. */
  count: number;
  /** upstream[i]: indices node i depends on. */
  upstream: readonly (readonly number[])[];
  /** Most nodes running at once (at least 1). */
  jobs: number;
  signal?: AbortSignal;
  /** Run node i; resolve true if it succeeded, `deferred` to be tried again later. Must not reject. */
  start(index: number): Promise<boolean | 'deferred'>;
  /** Node i will not run because `failed` failed. */
  skip(index: number, failed: number): void;
}

export interface ScheduleResult {
  succeeded: number[];
  failed: number[];
  skipped: number[];
  /** Left unstarted because of the abort signal. */
  notRun: number[];
}

export async function schedule(options: ScheduleOptions): Promise<ScheduleResult> {
  const { count, upstream, signal } = options;
  const jobs = Math.max(1, Math.floor(options.jobs));
  const downstream: number[][] = Array.from({ length: count }, () => []);
  const waiting = new Int32Array(count);
  upstream.forEach((ups, i) => {
    waiting[i] = ups.length;
    for (const u of ups) downstream[u]?.push(i);
  });
  const ready: number[] = [];
  for (let i = count - 1; i >= 0; i--) if (waiting[i] === 0) ready.push(i);
  const done = new Uint8Array(count); // 0 pending, 1 finished or skipped
  const result: ScheduleResult = { succeeded: [], failed: [], skipped: [], notRun: [] };
  let running = 0;
  // Deferred nodes waiting for their retry timer, with each one's next backoff.
  const deferred = new Map<number, NodeJS.Timeout>();
  const backoff = new Map<number, number>();

  const skipDescendants = (failed: number): void => {
    const stack = [...(downstream[failed] ?? [])];
    while (stack.length > 0) {
      const d = stack.pop() as number;
      if (done[d] === 1) continue;
      done[d] = 1;
      result.skipped.push(d);
      options.skip(d, failed);
      stack.push(...(downstream[d] ?? []));
    }
  };

  await new Promise<void>((resolveAll) => {
    const pump = (): void => {
      while (running < jobs && ready.length > 0 && signal?.aborted !== true) {
        const i = ready.pop() as number;
        if (done[i] === 1) continue;
        running++;
        void options.start(i).then((ok) => {
          running--;
          if (ok === 'deferred') {
            const delay = backoff.get(i) ?? MIN_BACKOFF_MS;
            backoff.set(i, Math.min(MAX_BACKOFF_MS, delay * 2));
            deferred.set(
              i,
              setTimeout(() => {
                deferred.delete(i);
                ready.unshift(i);
                pump();
              }, delay),
            );
            pump();
            return;
          }
          done[i] = 1;
          if (ok) {
            result.succeeded.push(i);
            for (const d of downstream[i] ?? []) {
              waiting[d] = (waiting[d] ?? 0) - 1;
              if (waiting[d] === 0 && done[d] === 0) ready.push(d);
            }
          } else {
            result.failed.push(i);
            skipDescendants(i);
          }
          pump();
        });
      }
      if (signal?.aborted === true) {
        for (const timer of deferred.values()) clearTimeout(timer);
        deferred.clear();
      }
      if (running === 0 && deferred.size === 0 && (ready.length === 0 || signal?.aborted === true)) {
        signal?.removeEventListener('abort', pump);
        resolveAll();
      }
    };
    // An abort while only deferred nodes wait must end the run without waiting for their timers.
    signal?.addEventListener('abort', pump, { once: true });
    pump();
  });

  for (let i = 0; i < count; i++) if (done[i] === 0) result.notRun.push(i);
  return result;
}
