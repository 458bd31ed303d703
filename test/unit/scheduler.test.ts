import { describe, expect, it } from 'vitest';
import { JobSlots, Schedule, schedule, type ScheduleOptions } from '../../src/engine/scheduler.js';

/** A start function whose calls resolve when the test says so, recording order and concurrency. */
class FakeRunner {
  readonly started: number[] = [];
  readonly finished: number[] = [];
  readonly skipped: [number, number][] = [];
  running = 0;
  maxRunning = 0;
  readonly #pending = new Map<number, (ok: boolean) => void>();

  constructor(
    private readonly outcome: (index: number) => boolean = () => true,
    private readonly autoFinish = true,
  ) {}

  start = (index: number): Promise<boolean> => {
    this.started.push(index);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    return new Promise<boolean>((resolve) => {
      const finish = (ok: boolean): void => {
        this.running--;
        this.finished.push(index);
        resolve(ok);
      };
      if (this.autoFinish) setTimeout(() => finish(this.outcome(index)), 1 + (index % 3));
      else this.#pending.set(index, finish);
    });
  };

  skip = (index: number, failed: number): void => {
    this.skipped.push([index, failed]);
  };

  /** Finish a manually controlled node. */
  finish(index: number, ok = true): void {
    const f = this.#pending.get(index);
    if (f === undefined) throw new Error(`node ${index} is not running`);
    this.#pending.delete(index);
    f(ok);
  }
}

function options(runner: FakeRunner, upstream: number[][], jobs: number, signal?: AbortSignal): ScheduleOptions {
  return {
    count: upstream.length,
    upstream,
    jobs,
    start: runner.start,
    skip: runner.skip,
    ...(signal === undefined ? {} : { signal }),
  };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('schedule', () => {
  it('never runs more than `jobs` nodes at once, and does use that many', async () => {
    const upstream = Array.from({ length: 20 }, () => [] as number[]);
    for (const jobs of [1, 3, 8]) {
      const runner = new FakeRunner();
      const result = await schedule(options(runner, upstream, jobs));
      expect(runner.maxRunning).toBe(jobs);
      expect(result.succeeded.sort((a, b) => a - b)).toEqual(upstream.map((_, i) => i));
      expect(runner.started).toHaveLength(20);
    }
  });

  it('treats jobs below 1 as 1', async () => {
    const runner = new FakeRunner();
    const result = await schedule(options(runner, [[], [], []], 0));
    expect(runner.maxRunning).toBe(1);
    expect(result.succeeded).toHaveLength(3);
  });

  it('starts every node only after all its upstream nodes finished', async () => {
    // A diamond with a tail, plus an independent pair.
    const upstream = [[], [0], [0], [1, 2], [3], [], [5], [2, 6]];
    const runner = new FakeRunner();
    const violations: string[] = [];
    const start = runner.start;
    runner.start = (i: number): Promise<boolean> => {
      for (const u of upstream[i] ?? [])
        if (!runner.finished.includes(u)) violations.push(`${i} started before ${u} finished`);
      return start(i);
    };
    const result = await schedule(options(runner, upstream, 4));
    expect(violations).toEqual([]);
    expect(result.failed).toEqual([]);
    expect(result.skipped).toEqual([]);
    expect(result.notRun).toEqual([]);
    expect([...runner.started].sort((a, b) => a - b)).toEqual(upstream.map((_, i) => i));
  });

  it('starts a node exactly when its last upstream finishes (manual clock)', async () => {
    const runner = new FakeRunner(() => true, false);
    const done = schedule(options(runner, [[], [], [0, 1]], 4));
    await tick();
    expect(runner.started.sort()).toEqual([0, 1]);
    runner.finish(0);
    await tick();
    expect(runner.started).not.toContain(2);
    runner.finish(1);
    await tick();
    expect(runner.started).toContain(2);
    runner.finish(2);
    const result = await done;
    expect(result.succeeded).toEqual(expect.arrayContaining([0, 1, 2]));
  });

  it("skips a failed node's descendants once each, naming the failed node, while an independent branch runs", async () => {
    // 0 -> 1 -> 3, 0 -> 2 -> 3 (diamond under the failing node 0); 4 -> 5 independent.
    const upstream = [[], [0], [0], [1, 2], [], [4]];
    const runner = new FakeRunner((i) => i !== 0);
    const result = await schedule(options(runner, upstream, 2));
    expect(result.failed).toEqual([0]);
    expect(result.skipped.sort()).toEqual([1, 2, 3]);
    expect(runner.skipped.sort((a, b) => a[0] - b[0])).toEqual([
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
    expect(runner.started.sort()).toEqual([0, 4, 5]);
    expect(result.succeeded.sort()).toEqual([4, 5]);
    expect(result.notRun).toEqual([]);
  });

  it('a node with one failed and one successful upstream is skipped, not run', async () => {
    const upstream = [[], [], [0, 1]];
    const runner = new FakeRunner((i) => i !== 1);
    const result = await schedule(options(runner, upstream, 1));
    expect(result.failed).toEqual([1]);
    expect(result.skipped).toEqual([2]);
    expect(runner.started).not.toContain(2);
    expect(runner.skipped).toEqual([[2, 1]]);
  });

  it('abort stops new starts; running nodes finish; the rest are reported as not run', async () => {
    const controller = new AbortController();
    const runner = new FakeRunner(() => true, false);
    const upstream = [[], [], [], [], [0]];
    const done = schedule(options(runner, upstream, 2, controller.signal));
    await tick();
    expect(runner.started).toHaveLength(2);
    const [first, second] = runner.started as [number, number];
    controller.abort();
    runner.finish(first);
    await tick();
    expect(runner.started).toHaveLength(2);
    runner.finish(second);
    const result = await done;
    expect(runner.started).toHaveLength(2);
    expect(result.succeeded.sort()).toEqual([first, second].sort());
    expect(result.notRun.sort()).toEqual([0, 1, 2, 3, 4].filter((i) => i !== first && i !== second));
  });

  it('an already aborted signal starts nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    const runner = new FakeRunner();
    const result = await schedule(options(runner, [[], [0]], 2, controller.signal));
    expect(runner.started).toEqual([]);
    expect(result.notRun).toEqual([0, 1]);
  });

  it('an empty graph completes at once', async () => {
    const runner = new FakeRunner();
    expect(await schedule(options(runner, [], 4))).toEqual({ succeeded: [], failed: [], skipped: [], notRun: [] });
  });

  it('completes a 10,000-node chain, in order, without overflowing the stack', async () => {
    const n = 10_000;
    const upstream = Array.from({ length: n }, (_, i) => (i === 0 ? [] : [i - 1]));
    const started: number[] = [];
    const result = await schedule({
      count: n,
      upstream,
      jobs: 4,
      start: (i) => {
        started.push(i);
        return Promise.resolve(true);
      },
      skip: () => {
        throw new Error('nothing should be skipped');
      },
    });
    expect(result.succeeded).toHaveLength(n);
    expect(started).toEqual(upstream.map((_, i) => i));
  });

  it('skips the rest of a 10,000-node chain when its head fails', async () => {
    const n = 10_000;
    const upstream = Array.from({ length: n }, (_, i) => (i === 0 ? [] : [i - 1]));
    let skips = 0;
    const result = await schedule({
      count: n,
      upstream,
      jobs: 2,
      start: () => Promise.resolve(false),
      skip: (_, failed) => {
        expect(failed).toBe(0);
        skips++;
      },
    });
    expect(result.failed).toEqual([0]);
    expect(skips).toBe(n - 1);
    expect(result.skipped).toHaveLength(n - 1);
  });

  it('a wide fan-out and fan-in of 10,000 nodes completes', async () => {
    const n = 10_000;
    const upstream: number[][] = [[]];
    for (let i = 1; i <= n; i++) upstream.push([0]);
    upstream.push(Array.from({ length: n }, (_, i) => i + 1));
    const runner = new FakeRunner();
    runner.start = (i: number): Promise<boolean> => {
      runner.started.push(i);
      return Promise.resolve(true);
    };
    const result = await schedule(options(runner, upstream, 16));
    expect(result.succeeded).toHaveLength(n + 2);
    expect(runner.started[runner.started.length - 1]).toBe(n + 1);
  });
});

describe('JobSlots.take', () => {
  it('waits for a slot given back, one waiter per slot', async () => {
    const slots = new JobSlots(1);
    const signal = new AbortController().signal;
    expect(await slots.take(signal)).toBe(true);
    const order: string[] = [];
    const first = slots.take(signal).then((got) => order.push(`first ${got}`));
    const second = slots.take(signal).then((got) => order.push(`second ${got}`));
    await tick();
    expect(order).toEqual([]);
    slots.give();
    await tick();
    expect(order).toHaveLength(1);
    slots.give();
    await Promise.all([first, second]);
    expect(order.sort()).toEqual(['first true', 'second true']);
    expect(slots.tryTake()).toBe(false);
  });

  it('gives up, taking nothing, when the signal aborts while it waits', async () => {
    const slots = new JobSlots(1);
    const abort = new AbortController();
    expect(await slots.take(abort.signal)).toBe(true);
    const waiting = slots.take(abort.signal);
    abort.abort();
    expect(await waiting).toBe(false);
    slots.give();
    expect(slots.tryTake()).toBe(true);
    expect(slots.tryTake()).toBe(false);
  });
});

describe('Schedule.readyAfter', () => {
  it('names the nodes whose only unfinished upstream is the given running node, and no other', async () => {
    // 0 -> 2 <- 1, and 0 -> 3. With one job the nodes run in the order 0, 3, 1, 2.
    const next: string[] = [];
    const finishers = new Map<number, (ok: boolean) => void>();
    const started: number[] = [];
    const plan: Schedule = new Schedule({
      count: 4,
      upstream: [[], [], [0, 1], [0]],
      jobs: 1,
      start: (index) => {
        started.push(index);
        next.push(`${index} -> ${plan.readyAfter(index).join(',')}`);
        return new Promise((resolve) => finishers.set(index, resolve));
      },
      skip: () => undefined,
    });
    const done = plan.run();
    for (const expected of [0, 3, 1, 2]) {
      await tick();
      expect(started.at(-1)).toBe(expected);
      finishers.get(expected)?.(true);
    }
    // While 0 runs, 3 is about to be ready but 2 still waits for 1; while 1 runs, 2 is.
    expect(next).toEqual(['0 -> 3', '3 -> ', '1 -> 2', '2 -> ']);
    expect((await done).succeeded.sort()).toEqual([0, 1, 2, 3]);
  });
});

describe('Schedule.release', () => {
  /** A chain 0 -> 1 -> 2 whose nodes finish when the test says, node 2 never starting early. */
  function chain(jobs = 3): {
    plan: Schedule;
    started: number[];
    settled: string[];
    skipped: number[];
    finish: (index: number, ok: boolean | 'skipped') => void;
  } {
    const started: number[] = [];
    const settled: string[] = [];
    const skipped: number[] = [];
    const finishers = new Map<number, (ok: boolean | 'skipped') => void>();
    const plan: Schedule = new Schedule({
      count: 3,
      upstream: [[], [0], [1]],
      jobs,
      start: (index) => {
        started.push(index);
        return new Promise((resolve) => finishers.set(index, resolve));
      },
      startsEarly: (index) => index === 1,
      settled: (index, ok) => settled.push(`${index} ${ok ? 'ok' : 'failed'}`),
      skip: (index) => skipped.push(index),
    });
    return { plan, started, settled, skipped, finish: (index, ok) => finishers.get(index)?.(ok) };
  }

  it('starts a node that starts early once its upstream releases it, and the others only when it finishes', async () => {
    const { plan, started, settled, finish } = chain();
    const done = plan.run();
    await tick();
    expect(started).toEqual([0]);
    plan.release(0);
    await tick();
    expect(started).toEqual([0, 1]);
    // Node 2 does not start early: node 1's release does not start it.
    plan.release(1);
    await tick();
    expect(started).toEqual([0, 1]);
    finish(0, true);
    await tick();
    expect(settled).toEqual(['0 ok']);
    finish(1, true);
    await tick();
    expect(started).toEqual([0, 1, 2]);
    finish(2, true);
    const result = await done;
    expect(result.succeeded).toEqual([0, 1, 2]);
    expect(settled).toEqual(['0 ok', '1 ok', '2 ok']);
  });

  it('skips a node started early when its upstream then fails, once, and ignores how it ends', async () => {
    const { plan, started, settled, skipped, finish } = chain();
    const done = plan.run();
    await tick();
    plan.release(0);
    await tick();
    expect(started).toEqual([0, 1]);
    finish(0, false);
    await tick();
    // Skipped while it runs, with the node below it; told it failed only after both are skipped.
    expect(skipped).toEqual([1, 2]);
    expect(settled).toEqual(['0 failed']);
    finish(1, 'skipped');
    const result = await done;
    expect(result).toEqual({ succeeded: [], failed: [0], skipped: [1, 2], notRun: [] });
    expect(settled).toEqual(['0 failed', '1 failed']);
  });

  it('does nothing for a node that has finished, or a second time', async () => {
    const { plan, started, finish } = chain(1);
    const done = plan.run();
    await tick();
    plan.release(0);
    plan.release(0);
    await tick();
    // With one slot, node 1 waits for node 0's slot even once released.
    expect(started).toEqual([0]);
    finish(0, true);
    await tick();
    expect(started).toEqual([0, 1]);
    plan.release(0);
    finish(1, true);
    await tick();
    finish(2, true);
    expect((await done).succeeded).toEqual([0, 1, 2]);
  });
});
