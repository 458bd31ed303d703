/**
 * Runs the nodes of a DAG as their inputs become ready, at most `jobs` at a
 * time. Linear in nodes plus edges. A failed node's descendants are skipped
 * (each reported once, naming the failed node), independent branches go on,
 * and an abort stops new starts while running nodes finish. A node that
 * cannot run yet because another process holds it is deferred: it gives its
 * slot to other ready nodes and is tried again after a backoff.
 *
 * A node may release the nodes below it before it finishes (see
 * Schedule.release): once its outputs are in place and only its commit is
 * left, those that may start early (ScheduleOptions.startsEarly) need not
 * wait for that commit. They must not finish before it, and if it fails they
 * are skipped like every other node below it, running or not.
 */

const MIN_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1_000;
/** A deferred node whose wake-up never comes is tried again after this long all the same. */
const MAX_WAKE_MS = 60_000;

/**
 * A count of slots shared by every schedule of a run: the top-level graph
 * and the nodes each loop iteration adds. A loop waiting for its iteration
 * holds no slot, so nested schedules never deadlock and never have more
 * nodes in flight between them than there are slots. A WorkerContext has
 * several: the nodes in flight (4 x jobs), and the compute slots that a node
 * holds from publishing its store until its operation has run: one of
 * `jobs`, its `cpus` of the run's cores, its memory of the run's.
 *
 * A taker may take several slots at once (a node with `cpus: 4` takes four
 * cores). Those who wait are served first come, first served, and no one
 * overtakes them while they wait, so a node needing many cores is not
 * starved by a stream of nodes needing one.
 */
export class JobSlots {
  readonly capacity: number;
  #free: number;
  readonly #listeners = new Set<() => void>();
  readonly #waiters: { count: number; resolve: (taken: boolean) => void }[] = [];

  constructor(slots: number) {
    this.capacity = Math.max(1, Math.floor(slots));
    this.#free = this.capacity;
  }

  /** Take `count` slots (at most the capacity) if they are free and no one is waiting. */
  tryTake(count = 1): boolean {
    const wanted = Math.min(count, this.capacity);
    if (this.#waiters.length > 0 || this.#free < wanted) return false;
    this.#free -= wanted;
    return true;
  }

  /** Give back `count` slots (what a `take` of `count` took). */
  give(count = 1): void {
    this.#free += Math.min(count, this.capacity);
    while (this.#waiters.length > 0) {
      const first = this.#waiters[0] as { count: number; resolve: (taken: boolean) => void };
      if (first.count > this.#free) break;
      this.#waiters.shift();
      this.#free -= first.count;
      first.resolve(true);
    }
    for (const listener of [...this.#listeners]) listener();
  }

  /** Wait for `count` slots (at most the capacity) and take them. Resolves false, taking nothing, if `signal` aborts first. */
  take(signal: AbortSignal, count = 1): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    if (this.tryTake(count)) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const waiter = {
        count: Math.min(count, this.capacity),
        resolve: (taken: boolean): void => {
          signal.removeEventListener('abort', onAbort);
          resolve(taken);
        },
      };
      const onAbort = (): void => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        resolve(false);
        // Those behind it may fit now.
        this.give(0);
      };
      this.#waiters.push(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Call `listener` whenever slots are given back; returns the unsubscribe function. */
  onFree(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

export interface ScheduleOptions {
  /** Number of nodes, indexed 0..count-1. */
  count: number;
  /** upstream[i]: indices node i depends on. */
  upstream: readonly (readonly number[])[];
  /** Most nodes running at once (at least 1), when no shared `slots` are given. */
  jobs: number;
  /** Slots shared with other schedules of the same run. Default: `jobs` slots of this schedule's own. */
  slots?: JobSlots;
  /** Whether node i takes a slot while it runs. Default: every node does. */
  holdsSlot?(index: number): boolean;
  signal?: AbortSignal;
  /** Aborted to start no more nodes while those running finish (a run failing fast); the rest are not run. */
  halt?: AbortSignal;
  /**
   * Run node i; resolve true if it succeeded, `deferred` to be tried again
   * later, `skipped` if it started early and an upstream node then failed
   * (the schedule has skipped it already). Must not reject.
   */
  start(index: number): Promise<boolean | 'deferred' | 'skipped'>;
  /** Whether node i may start once an upstream node releases it, before that node has finished. Default: no node. */
  startsEarly?(index: number): boolean;
  /** Node i's outcome is settled, and every node it made ready or skipped is known: ok is whether it succeeded. */
  settled?(index: number, ok: boolean): void;
  /**
   * Which of the `count` ready nodes to start next, as a position in the
   * ready list (its end is the most recently readied). Default: the last,
   * depth first. Workers sharing a directory each pick differently, so
   * they do not all reach for the same node.
   */
  pick?(count: number): number;
  /** When deferred node i may be tried again: a promise to wait for instead of the backoff. Default: the backoff. */
  retryWhen?(index: number): Promise<void> | undefined;
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

/** Run a schedule to its end: `new Schedule(options).run()`. */
export function schedule(options: ScheduleOptions): Promise<ScheduleResult> {
  return new Schedule(options).run();
}

/**
 * One schedule of nodes. Besides running them, it answers which nodes are
 * about to become ready: the run claims their stores while the node before
 * them commits.
 */
export class Schedule {
  readonly #options: ScheduleOptions;
  readonly #downstream: number[][];
  /** Unfinished upstream nodes of each node. */
  readonly #waiting: Int32Array;
  /** 0 pending, 1 finished or skipped. */
  readonly #done: Uint8Array;
  /** 1 once a node has released the nodes below it that start early. */
  readonly #released: Uint8Array;
  /** What release() does while the schedule runs. */
  #onRelease: ((index: number) => void) | undefined;

  constructor(options: ScheduleOptions) {
    this.#options = options;
    this.#downstream = Array.from({ length: options.count }, () => []);
    this.#waiting = new Int32Array(options.count);
    options.upstream.forEach((ups, i) => {
      this.#waiting[i] = ups.length;
      for (const u of ups) this.#downstream[u]?.push(i);
    });
    this.#done = new Uint8Array(options.count);
    this.#released = new Uint8Array(options.count);
  }

  /**
   * Node `index`, still running, has its outputs in place and has only its
   * commit left: the nodes below it that start early stop waiting for it.
   * The caller holds their commits until this node's own has landed (see
   * ScheduleOptions.settled). Once per node; nothing once it has finished.
   */
  release(index: number): void {
    if (this.#done[index] === 1 || this.#released[index] === 1) return;
    this.#released[index] = 1;
    this.#onRelease?.(index);
  }

  /** The pending nodes whose only unfinished upstream node is `index`: they become ready as soon as it succeeds. */
  readyAfter(index: number): number[] {
    return (this.#downstream[index] ?? []).filter((d) => this.#waiting[d] === 1 && this.#done[d] === 0);
  }

  /** Run every node; resolves once none is running or waiting for a retry. */
  async run(): Promise<ScheduleResult> {
    const options = this.#options;
    const { count, signal, halt } = options;
    const stopped = (): boolean => signal?.aborted === true || halt?.aborted === true;
    const slots = options.slots ?? new JobSlots(options.jobs);
    const downstream = this.#downstream;
    const waiting = this.#waiting;
    const done = this.#done;
    const released = this.#released;
    const early = (d: number): boolean => options.startsEarly?.(d) ?? false;
    /** Node i no longer waits for one of its upstream nodes. */
    const unblock = (d: number): void => {
      waiting[d] = (waiting[d] ?? 0) - 1;
      if (waiting[d] === 0 && done[d] === 0) ready.push(d);
    };
    const ready: number[] = [];
    for (let i = count - 1; i >= 0; i--) if (waiting[i] === 0) ready.push(i);
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
        while (ready.length > 0 && !stopped()) {
          const at = Math.min(ready.length - 1, Math.max(0, options.pick?.(ready.length) ?? ready.length - 1));
          const i = ready[at] as number;
          // Taken out by moving the last one into its place: order among the rest matters only to `pick`.
          const take = (): void => {
            ready[at] = ready[ready.length - 1] as number;
            ready.pop();
          };
          if (done[i] === 1) {
            take();
            continue;
          }
          const holds = options.holdsSlot?.(i) ?? true;
          if (holds && !slots.tryTake()) break;
          take();
          running++;
          void options.start(i).then((ok) => {
            running--;
            if (done[i] === 1) {
              // Skipped while it ran: it started early, and a node above it failed since.
              if (holds) slots.give();
              options.settled?.(i, false);
              pump();
              return;
            }
            if (ok === 'deferred') {
              const retry = (): void => {
                if (!deferred.has(i)) return;
                clearTimeout(deferred.get(i));
                deferred.delete(i);
                ready.unshift(i);
                pump();
              };
              const when = options.retryWhen?.(i);
              const delay = when === undefined ? (backoff.get(i) ?? MIN_BACKOFF_MS) : MAX_WAKE_MS;
              backoff.set(i, Math.min(MAX_BACKOFF_MS, delay * 2));
              deferred.set(i, setTimeout(retry, delay));
              void when?.then(retry);
              // Given back only now: giving wakes every schedule of the run, this one included.
              if (holds) slots.give();
              pump();
              return;
            }
            done[i] = 1;
            if (ok === true) {
              result.succeeded.push(i);
              // Those that start early stopped waiting for it when it released them.
              for (const d of downstream[i] ?? []) if (released[i] === 0 || !early(d)) unblock(d);
            } else {
              result.failed.push(i);
              skipDescendants(i);
            }
            options.settled?.(i, ok === true);
            if (holds) slots.give();
            pump();
          });
        }
        if (stopped()) {
          for (const timer of deferred.values()) clearTimeout(timer);
          deferred.clear();
        }
        if (running === 0 && deferred.size === 0 && (ready.length === 0 || stopped())) {
          this.#onRelease = undefined;
          signal?.removeEventListener('abort', pump);
          halt?.removeEventListener('abort', pump);
          unsubscribe();
          resolveAll();
        }
      };
      this.#onRelease = (i) => {
        for (const d of downstream[i] ?? []) if (early(d)) unblock(d);
        pump();
      };
      // A slot given back by another schedule of the run may let this one start a node.
      const unsubscribe = slots.onFree(() => {
        if (ready.length > 0) pump();
      });
      // An abort while only deferred nodes wait must end the run without waiting for their timers.
      signal?.addEventListener('abort', pump, { once: true });
      halt?.addEventListener('abort', pump, { once: true });
      pump();
    });

    for (let i = 0; i < count; i++) if (done[i] === 0) result.notRun.push(i);
    return result;
  }
}
