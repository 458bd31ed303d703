/** The status line and summary of a run on a terminal, as text. */
import { describe, expect, it } from 'vitest';
import { estimateRemaining, formatDuration, progressLine, summaryLines } from '../../src/cli/progress-line.js';

describe('progressLine', () => {
  const state = {
    total: 40,
    done: 10,
    failed: 2,
    skipped: 0,
    running: ['a', 'b', 'c', 'd'],
    elapsedMs: 62_000,
    etaMs: 40_000,
  };

  it('shows done/total, running, failed, elapsed, ETA and the running labels', () => {
    expect(progressLine(state, 200)).toBe(
      `[${'█'.repeat(6)}${'░'.repeat(14)}] 10/40  running 4  failed 2  1m 02s  ETA 40s  a, b, c, +1`,
    );
  });

  it('never wraps: cut to one column less than the terminal', () => {
    const line = progressLine(state, 50);
    expect([...line].length).toBe(49);
    expect(line.endsWith('...')).toBe(true);
  });

  it('shows -- for an ETA it cannot know yet', () => {
    expect(progressLine({ ...state, etaMs: undefined, failed: 0 }, 200)).toMatch(/running 4 {2}1m 02s {2}ETA --/);
  });
});

describe('estimateRemaining and formatDuration', () => {
  it('goes by the rate nodes were built at', () => {
    expect(estimateRemaining(30, 10, 20_000)).toBe(60_000);
    expect(estimateRemaining(30, 0, 20_000)).toBeUndefined();
  });

  it('writes seconds, minutes and hours', () => {
    expect([formatDuration(400), formatDuration(42_000), formatDuration(185_000), formatDuration(7_620_000)]).toEqual([
      '0s',
      '42s',
      '3m 05s',
      '2h 07m',
    ]);
  });
});

describe('summaryLines', () => {
  it('counts, wall time, the slowest nodes first, what was published', () => {
    const lines = summaryLines(
      {
        status: 'done',
        ran: 3,
        reused: 40,
        failed: 0,
        skipped: 0,
        notRun: 0,
        wallMs: 12_300,
        durations: [
          { label: 'a', ms: 50 },
          { label: 'b', ms: 4100 },
          { label: 'c', ms: 1200 },
        ],
        published: 2,
        publishFailed: 0,
      },
      2,
    );
    expect(lines).toEqual([
      'done in 12s: 3 ran, 40 reused, 0 failed, 0 skipped',
      'slowest: b 4.1 s, c 1.2 s',
      'published 2 files',
    ]);
  });
});
