/**
 * Runs the nodes of a DAG as their inputs become ready, at most `jobs` at a
 * time. Linear in nodes plus edges. A failed node's descendants are skipped
 * (each reported once, naming the failed node), independent branches go on,
 * and an abort stops new starts while running nodes finish.
 */

export interface ScheduleOptions {
  /** Number of nodes, indexed 0..count-1. */
  count: number;
  /** upstream[i]: indices node i depends on. */
  upstream: readonly (readonly number[])[];
  /** Most nodes running at once (at least 1). */
  jobs: number;
  signal?: AbortSignal;
  /** Run node i; resolve true if it succeeded. Must not reject. */
  start(index: number): Promise<boolean>;
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
      if (running === 0 && (ready.length === 0 || signal?.aborted === true)) resolveAll();
    };
    pump();
  });

  for (let i = 0; i < count; i++) if (done[i] === 0) result.notRun.push(i);
  return result;
}
