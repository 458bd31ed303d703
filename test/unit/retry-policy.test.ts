/**
 * The retry policy's pure parts: durations as written, the backoff before
 * each retry, and resolution setting by setting from the places a policy
 * may be written.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BACKOFF,
  backoffSeconds,
  checkRetries,
  durationSeconds,
  parseBackoff,
  resolveRetryPolicy,
} from '../../src/operations/retry-policy.js';

const problem = (field: string, message: string): Error => new Error(`${field}|${message}`);

describe('durationSeconds', () => {
  it.each([
    ['10s', 10],
    ['250ms', 0.25],
    ['5m', 300],
    ['1h30m', 5400],
    ['2d', 172800],
    ['1m30s', 90],
    ['01:30:00', 5400],
    ['5:00', 300],
    ['12', 12],
    [0, 0],
    [2.5, 2.5],
  ])('reads %j as %d seconds', (given, seconds) => {
    expect(durationSeconds(given)).toBe(seconds);
  });

  it.each([['10x'], ['1h 30m'], [''], ['-5s'], [-1], [Number.NaN], [Infinity], [null], [{}], ['5:7']])(
    'refuses %j',
    (given) => {
      expect(durationSeconds(given)).toBeUndefined();
    },
  );
});

describe('the backoff', () => {
  it('is the same every time when written as one duration', () => {
    const backoff = parseBackoff('10s', 'backoff', problem);
    expect([1, 2, 5].map((retry) => backoffSeconds(backoff, retry))).toEqual([10, 10, 10]);
  });

  it('grows by its factor up to its max', () => {
    const backoff = parseBackoff({ delay: '1s', factor: 3, max: '20s' }, 'backoff', problem);
    expect([1, 2, 3, 4].map((retry) => backoffSeconds(backoff, retry))).toEqual([1, 3, 9, 20]);
    expect([1, 2, 7, 8].map((retry) => backoffSeconds(DEFAULT_BACKOFF, retry))).toEqual([1, 2, 60, 60]);
  });

  it('names the field and shows the value it refuses', () => {
    expect(() => parseBackoff({ delay: '1s', facter: 2 }, 'defaults.backoff', problem)).toThrow(
      "defaults.backoff.facter|defaults.backoff: unknown property 'facter'",
    );
    expect(() => parseBackoff({ delay: 'soon' }, 'backoff', problem)).toThrow(/backoff\.delay\|.*got "soon"/);
    expect(() => parseBackoff({ delay: '1s', factor: 0.5 }, 'backoff', problem)).toThrow(/backoff\.factor\|/);
    expect(() => checkRetries(1.5, 'retries', problem)).toThrow(/retries\|.*got 1\.5 \(number\)/);
    expect(() => checkRetries(101, 'retries', problem)).toThrow(/from 0 to 100/);
  });
});

describe('resolveRetryPolicy', () => {
  it('takes each setting from the first place that has it', () => {
    expect(resolveRetryPolicy([{ backoff: '2s' }, undefined, { retries: 4, backoff: '9s' }])).toEqual({
      retries: 4,
      backoff: { delaySeconds: 2, factor: 1, maxSeconds: 2 },
    });
    expect(resolveRetryPolicy([])).toEqual({ retries: 0, backoff: DEFAULT_BACKOFF });
  });
});
