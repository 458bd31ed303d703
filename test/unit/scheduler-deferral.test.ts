// The scheduler's deferral backoff and slot holding, on fake start
// functions and vitest's fake clock (no test here waits on real time, so
// none can flake on a loaded machine). A node whose start resolves
// 'deferred' (another process holds it) gives its slot back and is tried
// again after 50, 100, 200, ... ms, at most 1,000 ms apart; an abort while
// only deferred nodes wait ends the schedule at once. A node that holds no
// slot (a loop waiting for its iterations) runs without one, and schedules
// sharing one JobSlots never run more slot-holding nodes between them than
// it has, each woken when another gives a slot back.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JobSlots, schedule } from '../../src/engine/scheduler.js';

type Outcome = boolean | 'deferred';

beforeEach(() => {
  vi.useFakeTimers();
  // Fake time starts at 0, so the times a test reads are ms since its start.
  vi.setSystemTime(0);
});
afterEach(() => {
  vi.useRealTimers();
});

/** Let every pending promise callback run, and the timers due now; the fake clock does not move. */
const flush = (): Promise<unknown> => vi.advanceTimersByTimeAsync(0);

const noSkips = (index: number, failed: number): void => {
  throw new Error(`node ${index} skipped because ${failed} failed: nothing should fail here`);
};

/**
 * Fake nodes: each start is recorded with the fake time it happened at.
 * `plan(index, attempt)` says how an attempt ends: an outcome at once, an
 * outcome after some ms of fake time, or 'manual' (the test calls finish).
 */
class FakeNodes {
  readonly starts: { index: number; at: number }[] = [];
  running = 0;
  maxRunning = 0;
  readonly #manual = new Map<number, (outcome: Outcome) => void>();

  constructor(
    private readonly plan: (
      index: number,
      attempt: number,
    ) => Outcome | { after: number; outcome: Outcome } | 'manual' = () => 'manual',
  ) {}

  start = (index: number): Promise<Outcome> => {
    const attempt = this.startsOf(index).length;
    this.starts.push({ index, at: Date.now() });
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const step = this.plan(index, attempt);
    return new Promise<Outcome>((resolve) => {
      const end = (outcome: Outcome): void => {
        this.running--;
        resolve(outcome);
      };
      if (step === 'manual') this.#manual.set(index, end);
      else if (typeof step === 'object') setTimeout(() => end(step.outcome), step.after);
      else end(step);
    });
  };

  /** End the running attempt of a 'manual' node. */
  finish(index: number, outcome: Outcome = true): void {
    const end = this.#manual.get(index);
    if (end === undefined) throw new Error(`node ${index} is not running`);
    this.#manual.delete(index);
    end(outcome);
  }

  /** The fake times node `index` was started at. */
  startsOf(index: number): number[] {
    return this.starts.filter((s) => s.index === index).map((s) => s.at);
  }

  /** Indices started, in order. */
  order(): number[] {
    return this.starts.map((s) => s.index);
  }
}

/** The gaps between consecutive times. */
function gaps(times: readonly number[]): number[] {
  return times.slice(1).map((t, k) => t - (times[k] as number));
}

/** Whether `promise` has settled, checked after `flush()`es. */
function tracker(promise: Promise<unknown>): () => boolean {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  return () => settled;
}

/** What a schedule that must have ended by now (fake time stands still) returned: fails at once, not by hanging, if it has not ended. */
async function ended<T>(schedule: Promise<T>): Promise<T> {
  const settled = tracker(schedule);
  await flush();
  expect(settled(), 'the schedule has not ended').toBe(true);
  return schedule;
}

describe('schedule: a deferred node', () => {
  it('is tried again after 50 ms, then 100, 200, ..., at most 1,000 ms apart', async () => {
    // Deferred on its first 8 attempts, done on the 9th.
    const nodes = new FakeNodes((_, attempt) => (attempt < 8 ? 'deferred' : true));
    const done = schedule({ count: 1, upstream: [[]], jobs: 1, start: nodes.start, skip: noSkips });
    await vi.runAllTimersAsync();
    const result = await ended(done);
    expect(result).toEqual({ succeeded: [0], failed: [], skipped: [], notRun: [] });
    const attempts = nodes.startsOf(0);
    expect(attempts[0]).toBe(0);
    expect(gaps(attempts)).toEqual([50, 100, 200, 400, 800, 1_000, 1_000, 1_000]);
  });

  it('backs off on its own: another node deferred later starts again at 50 ms', async () => {
    // Node 0 is deferred 5 times in a row; node 1 runs for 1,500 ms and is then deferred once.
    const nodes = new FakeNodes((index, attempt) => {
      if (index === 0) return attempt < 5 ? 'deferred' : true;
      return attempt === 0 ? { after: 1_500, outcome: 'deferred' } : true;
    });
    const done = schedule({ count: 2, upstream: [[], []], jobs: 2, start: nodes.start, skip: noSkips });
    await vi.runAllTimersAsync();
    expect((await ended(done)).succeeded.sort()).toEqual([0, 1]);
    expect(gaps(nodes.startsOf(0))).toEqual([50, 100, 200, 400, 800]);
    // Started at 0, deferred at 1,500, tried again 50 ms later, not at node 0's backoff.
    expect(nodes.startsOf(1)).toEqual([0, 1_550]);
  });

  it('gives its slot to other ready nodes while it waits, and waits for a slot like any node', async () => {
    // One slot; node 0 is deferred once, nodes 1 and 2 end when the test says.
    const nodes = new FakeNodes((index, attempt) => (index === 0 ? (attempt === 0 ? 'deferred' : true) : 'manual'));
    const done = schedule({ count: 3, upstream: [[], [], []], jobs: 1, start: nodes.start, skip: noSkips });
    await flush();
    // At once, not 50 ms later: node 0's slot went to node 1.
    expect(nodes.starts).toEqual([
      { index: 0, at: 0 },
      { index: 1, at: 0 },
    ]);
    await vi.advanceTimersByTimeAsync(10);
    nodes.finish(1);
    await flush();
    expect(nodes.starts.at(-1)).toEqual({ index: 2, at: 10 });
    // Node 0's retry falls due while node 2 holds the only slot: it waits for it.
    await vi.advanceTimersByTimeAsync(100);
    expect(nodes.startsOf(0)).toEqual([0]);
    nodes.finish(2);
    await flush();
    expect(nodes.startsOf(0)).toEqual([0, 110]);
    const result = await ended(done);
    expect(result.succeeded.sort()).toEqual([0, 1, 2]);
    expect(nodes.maxRunning).toBe(1);
  });

  it('an abort while only deferred nodes wait ends the schedule at once, with them (and what waits on them) not run', async () => {
    const abort = new AbortController();
    // Nodes 0 and 1 are deferred at every attempt; node 2 needs node 0.
    const nodes = new FakeNodes(() => 'deferred');
    const done = schedule({
      count: 3,
      upstream: [[], [], [0]],
      jobs: 2,
      signal: abort.signal,
      start: nodes.start,
      skip: noSkips,
    });
    const settled = tracker(done);
    await vi.advanceTimersByTimeAsync(60);
    // Each was tried at 0 and 50; their next retries are due at 150 (a 100 ms backoff).
    expect(nodes.order().sort()).toEqual([0, 0, 1, 1]);
    expect(settled()).toBe(false);
    const abortedAt = Date.now();
    abort.abort();
    await flush();
    expect(settled()).toBe(true);
    expect(Date.now()).toBe(abortedAt);
    expect(await ended(done)).toEqual({ succeeded: [], failed: [], skipped: [], notRun: [0, 1, 2] });
    // Their retry timers are gone: nothing starts later.
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(nodes.starts).toHaveLength(4);
  });
});

describe('schedule: slots', () => {
  it('runs a node that holds no slot without taking one, and hands out no slot it did not take', async () => {
    const slots = new JobSlots(1);
    expect(slots.tryTake()).toBe(true); // someone else holds the only slot
    const nodes = new FakeNodes(() => 'manual');
    const done = schedule({
      count: 2,
      upstream: [[], []],
      jobs: 1,
      slots,
      holdsSlot: (i) => i !== 0,
      start: nodes.start,
      skip: noSkips,
    });
    await flush();
    expect(nodes.order()).toEqual([0]);
    nodes.finish(0);
    await flush();
    // Node 0 gave back nothing: node 1 still has no slot.
    expect(nodes.order()).toEqual([0]);
    slots.give();
    await flush();
    expect(nodes.order()).toEqual([0, 1]);
    nodes.finish(1);
    expect((await ended(done)).succeeded.sort()).toEqual([0, 1]);
    // The one slot is free again, and there is still only one.
    expect(slots.tryTake()).toBe(true);
    expect(slots.tryTake()).toBe(false);
  });

  it('lets a loop that waits for its iterations run nested schedules on the same slots without deadlock', async () => {
    const slots = new JobSlots(1);
    let inFlight = 0;
    let maxInFlight = 0;
    const finished: string[] = [];
    const work = (name: string): Promise<boolean> => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return new Promise((resolve) =>
        setTimeout(() => {
          inFlight--;
          finished.push(name);
          resolve(true);
        }, 10),
      );
    };
    // Outer graph: node 0 is a loop of three iterations, each a nested two-node schedule on the shared slots; node 1 follows it.
    const loop = async (): Promise<boolean> => {
      for (let k = 0; k < 3; k++) {
        const iteration = await schedule({
          count: 2,
          upstream: [[], [0]],
          jobs: 1,
          slots,
          start: (j) => work(`iteration ${k} node ${j}`),
          skip: noSkips,
        });
        if (iteration.succeeded.length !== 2) return false;
      }
      return true;
    };
    const done = schedule({
      count: 2,
      upstream: [[], [0]],
      jobs: 1,
      slots,
      holdsSlot: (i) => i !== 0,
      start: (i) => (i === 0 ? loop() : work('after the loop')),
      skip: noSkips,
    });
    // Seven 10 ms nodes one after another: long done by 1,000 ms, unless the loop's nested schedules wait for a slot forever.
    await vi.advanceTimersByTimeAsync(1_000);
    expect((await ended(done)).succeeded.sort()).toEqual([0, 1]);
    expect(finished).toEqual([
      'iteration 0 node 0',
      'iteration 0 node 1',
      'iteration 1 node 0',
      'iteration 1 node 1',
      'iteration 2 node 0',
      'iteration 2 node 1',
      'after the loop',
    ]);
    expect(maxInFlight).toBe(1);
  });

  it('never runs more slot-holding nodes than the shared JobSlots has, across two schedules, deferrals included', async () => {
    const slots = new JobSlots(3);
    let inFlight = 0;
    let maxInFlight = 0;
    const node = (ms: number, outcome: Outcome): Promise<Outcome> => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return new Promise((resolve) =>
        setTimeout(() => {
          inFlight--;
          resolve(outcome);
        }, ms),
      );
    };
    const attempts = new Map<string, number>();
    const start = (name: string, ms: number, deferFirst: boolean): Promise<Outcome> => {
      const attempt = attempts.get(name) ?? 0;
      attempts.set(name, attempt + 1);
      return node(ms, deferFirst && attempt === 0 ? 'deferred' : true);
    };
    const independent = Array.from({ length: 10 }, () => [] as number[]);
    // Each schedule alone would run 10 at once: only the shared slots hold them back.
    const a = schedule({
      count: 10,
      upstream: independent,
      jobs: 10,
      slots,
      start: (i) => start(`a${i}`, 5 + i, i % 2 === 0),
      skip: noSkips,
    });
    const b = schedule({
      count: 10,
      upstream: independent,
      jobs: 10,
      slots,
      start: (i) => start(`b${i}`, 7 + 2 * i, i % 3 === 0),
      skip: noSkips,
    });
    await vi.runAllTimersAsync();
    expect((await ended(a)).succeeded).toHaveLength(10);
    expect((await ended(b)).succeeded).toHaveLength(10);
    expect(maxInFlight).toBe(3);
    // Every slot came back, and no more than there were.
    expect([1, 2, 3, 4].map(() => slots.tryTake())).toEqual([true, true, true, false]);
  });

  it('wakes the other schedule sharing the slots at once when a node finishes and gives its slot back', async () => {
    const slots = new JobSlots(1);
    const first = new FakeNodes();
    const second = new FakeNodes();
    const a = schedule({ count: 1, upstream: [[]], jobs: 1, slots, start: first.start, skip: noSkips });
    const b = schedule({ count: 1, upstream: [[]], jobs: 1, slots, start: second.start, skip: noSkips });
    await vi.advanceTimersByTimeAsync(20);
    expect(first.order()).toEqual([0]);
    expect(second.order()).toEqual([]);
    first.finish(0);
    await flush();
    expect(second.starts).toEqual([{ index: 0, at: 20 }]);
    second.finish(0);
    expect((await ended(a)).succeeded).toEqual([0]);
    expect((await ended(b)).succeeded).toEqual([0]);
  });

  it('wakes the other schedule when a node is deferred, and the deferred node is woken in turn', async () => {
    const slots = new JobSlots(1);
    const first = new FakeNodes();
    const second = new FakeNodes();
    const a = schedule({ count: 1, upstream: [[]], jobs: 1, slots, start: first.start, skip: noSkips });
    const b = schedule({ count: 1, upstream: [[]], jobs: 1, slots, start: second.start, skip: noSkips });
    await flush();
    first.finish(0, 'deferred');
    await flush();
    // The deferred node's slot went to the other schedule at once.
    expect(second.starts).toEqual([{ index: 0, at: 0 }]);
    // Its retry falls due at 50 ms while the other holds the slot; it starts when that slot comes back.
    await vi.advanceTimersByTimeAsync(80);
    expect(first.startsOf(0)).toEqual([0]);
    second.finish(0);
    await flush();
    expect(first.startsOf(0)).toEqual([0, 80]);
    first.finish(0);
    expect((await ended(a)).succeeded).toEqual([0]);
    expect((await ended(b)).succeeded).toEqual([0]);
  });
});
