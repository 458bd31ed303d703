/**
 * Benchmark results as rows: an id that stays stable between runs (for
 * comparing JSON files), a label for people, the median of the samples, and,
 * where the issue sets one, a target judged `pass` or `short`. Printed as one
 * Markdown table (readable in a terminal, pasteable into docs/performance.md) and
 * written as JSON.
 */
import type { MachineInfo } from './machine.js';

export type Unit = 'us' | 'ms' | 'MiB' | 'MB/s' | 'req/s' | 'x' | 'calls';

/** A target from the issue: the median must be `comparison` `value`. */
export interface Target {
  comparison: '<=' | '<' | '>=';
  value: number;
}

export type Verdict = 'pass' | 'short';

export interface BenchRow {
  /** Stable key, e.g. `fanout.1000.noop.per-node`. */
  id: string;
  label: string;
  unit: Unit;
  /** Median of `samples`; for a ratio row, the ratio of the two medians. */
  median: number;
  samples: number[];
  target?: Target;
  verdict?: Verdict;
}

/** The issue's targets. */
export const TARGETS = {
  /** Cold run per-node overhead with full durability, as a multiple of the fsync floor. */
  coldVsFloor: { comparison: '<=', value: 2 },
  /** No-op resume per node, microseconds. */
  noopPerNodeUs: { comparison: '<=', value: 100 },
  /** Peak RSS of a 100,000-node fanout, MiB (1 GiB). */
  largeFanoutRssMiB: { comparison: '<=', value: 1024 },
  /** DAG construction plus validation of a 100,000-node fanout, ms. */
  largeFanoutBuildMs: { comparison: '<', value: 2000 },
  /** Fingerprint throughput of array data relative to raw sha256. */
  arrayFingerprintShare: { comparison: '>=', value: 0.5 },
  /** Peak RSS of a cold run with a 5-million-element literal, as a multiple of its workflow's JSON text. */
  literalRssRatio: { comparison: '<=', value: 3 },
  /** Resume of that workflow, ms. */
  literalResumeMs: { comparison: '<', value: 1000 },
  /** Subprocess DAG run by `run-graph run`, cold, as a multiple of `make -j` with the same jobs. */
  subprocessVsMake: { comparison: '<=', value: 1.5 },
  /** No-op `run-graph run` of a 1,000-node subprocess DAG, process start included, ms. */
  subprocessNoopMs: { comparison: '<=', value: 60 },
  /** Wall time of `run-graph --version`, ms. */
  versionMs: { comparison: '<', value: 50 },
  /** time(10n)/time(n). */
  scaling: { comparison: '<', value: 12 },
  /** Metadata calls per node with 16 workers on one directory, as a multiple of one worker's. */
  workersMetadata: { comparison: '<=', value: 2 },
} as const satisfies { [name: string]: Target };

function judge(median: number, target: Target): Verdict {
  if (!Number.isFinite(median)) return 'short';
  switch (target.comparison) {
    case '<=':
      return median <= target.value ? 'pass' : 'short';
    case '<':
      return median < target.value ? 'pass' : 'short';
    case '>=':
      return median >= target.value ? 'pass' : 'short';
    default: {
      const never: never = target.comparison;
      throw new Error(`unknown comparison ${String(never)}`);
    }
  }
}

/** A row with its verdict filled in from its target. */
export function makeRow(fields: Omit<BenchRow, 'verdict'>): BenchRow {
  return fields.target === undefined ? fields : { ...fields, verdict: judge(fields.median, fields.target) };
}

export function formatValue(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return 'n/a';
  const digits = unit === 'x' ? 2 : Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  const text = value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return unit === 'x' ? `${text}x` : `${text} ${unit === 'us' ? 'µs' : unit}`;
}

function formatTarget(target: Target, unit: Unit): string {
  return `${target.comparison === '<=' ? '≤' : target.comparison === '>=' ? '≥' : '<'} ${formatValue(target.value, unit)}`;
}

/** The rows as one Markdown table, columns padded so it also reads as plain text. */
export function formatTable(rows: readonly BenchRow[]): string {
  const cells = [
    ['measurement', 'median', 'target', 'result'],
    ...rows.map((row) => [
      row.label,
      formatValue(row.median, row.unit),
      row.target === undefined ? '' : formatTarget(row.target, row.unit),
      row.verdict ?? '',
    ]),
  ];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...cells.map((line) => [...(line[c] ?? '')].length)));
  const pad = (text: string, c: number): string => {
    const fill = ' '.repeat((widths[c] ?? 0) - [...text].length);
    return c === 1 ? fill + text : text + fill;
  };
  const lines = cells.map((line) => `| ${line.map((cell, c) => pad(cell, c)).join(' | ')} |`);
  const rule = `|${widths.map((w, c) => (c === 1 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [lines[0], rule, ...lines.slice(1)].join('\n');
}

/** Everything `--out` writes. */
export interface BenchReport {
  format: 'run-graph-bench/1';
  generatedAt: string;
  machine: MachineInfo;
  settings: {
    quick: boolean;
    large: boolean;
    reps: number;
    jobs: number;
    shapes: string[];
    sizes: number[];
    subprocessNodes: number;
    floorNodes: number;
  };
  rows: BenchRow[];
  /** What was skipped and why, and how to read the figures. */
  notes: string[];
}
