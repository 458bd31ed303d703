/**
 * JobSlots taken several at a time (a node's cpus): never more taken than
 * there are, waiters served first come first served, and a waiter that
 * gives up (its signal aborts) lets those behind it through.
 */
import { describe, expect, it } from 'vitest';
import { JobSlots } from '../../src/engine/scheduler.js';

const never = new AbortController().signal;

describe('JobSlots', () => {
  it('takes several slots at once and never more than there are', async () => {
    const slots = new JobSlots(4);
    expect(await slots.take(never, 3)).toBe(true);
    expect(slots.tryTake(2)).toBe(false);
    expect(slots.tryTake(1)).toBe(true);
    let taken = false;
    const waiting = slots.take(never, 2).then((ok) => (taken = ok));
    await Promise.resolve();
    expect(taken).toBe(false);
    slots.give(1);
    await Promise.resolve();
    expect(taken).toBe(false);
    slots.give(3);
    await waiting;
    expect(taken).toBe(true);
  });

  it('serves waiters in order: a small taker does not overtake a large one', async () => {
    const slots = new JobSlots(2);
    expect(slots.tryTake(2)).toBe(true);
    const order: string[] = [];
    const big = slots.take(never, 2).then(() => order.push('big'));
    const small = slots.take(never, 1).then(() => order.push('small'));
    slots.give(1);
    await Promise.resolve();
    // One slot is free, but the big taker came first: the small one waits behind it.
    expect(order).toEqual([]);
    expect(slots.tryTake(1)).toBe(false);
    slots.give(1);
    await big;
    expect(order).toEqual(['big']);
    slots.give(2);
    await small;
    expect(order).toEqual(['big', 'small']);
  });

  it('lets those behind a waiter through when it gives up', async () => {
    const slots = new JobSlots(2);
    expect(slots.tryTake(1)).toBe(true);
    const stop = new AbortController();
    const big = slots.take(stop.signal, 2);
    const small = slots.take(never, 1);
    stop.abort();
    expect(await big).toBe(false);
    expect(await small).toBe(true);
  });

  it('clamps a request to the capacity, so it cannot wait forever', async () => {
    const slots = new JobSlots(2);
    expect(await slots.take(never, 5)).toBe(true);
    expect(slots.tryTake(1)).toBe(false);
    slots.give(5);
    expect(slots.tryTake(2)).toBe(true);
  });
});
