/**
 * The status line of a run on a terminal, and the summary printed when it
 * ends: pure functions from counts and times to text, so they are tested
 * without a terminal. The reporter (reporter.ts) decides when to draw.
 *
 *     [████████░░░░░░░░░░░░] 12/43  running 4  failed 1  1m 02s  ETA 40s  sim[3], sim[4], +2
 */

/** What the status line shows. */
export interface ProgressState {
  total: number;
  /** Committed or reused. */
  done: number;
  failed: number;
  skipped: number;
  /** Labels of the nodes running now, oldest first. */
  running: readonly string[];
  elapsedMs: number;
  /** undefined until something has been built, so there is a rate to go by. */
  etaMs: number | undefined;
}

const BAR_WIDTH = 20;

/** `42s`, `3m 05s`, `2h 07m`: short enough for a status line. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** The status line, cut to `columns - 1` characters so it never wraps (a wrapped line cannot be cleared). */
export function progressLine(state: ProgressState, columns: number): string {
  const finished = state.done + state.failed + state.skipped;
  const filled = state.total === 0 ? 0 : Math.min(BAR_WIDTH, Math.round((finished / state.total) * BAR_WIDTH));
  const parts = [
    `[${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}] ${state.done}/${state.total}`,
    `running ${state.running.length}`,
    ...(state.failed > 0 ? [`failed ${state.failed}`] : []),
    ...(state.skipped > 0 ? [`skipped ${state.skipped}`] : []),
    formatDuration(state.elapsedMs),
    `ETA ${state.etaMs === undefined ? '--' : formatDuration(state.etaMs)}`,
  ];
  const names =
    state.running.slice(0, 3).join(', ') + (state.running.length > 3 ? `, +${state.running.length - 3}` : '');
  let line = parts.join('  ') + (names === '' ? '' : `  ${names}`);
  const width = Math.max(10, columns - 1);
  if ([...line].length > width) line = `${[...line].slice(0, width - 3).join('')}...`;
  return line;
}

/**
 * Time left, by the rate nodes have been built at so far: what remains,
 * times the time since the first node started per node built. Reused nodes
 * are found before anything starts, so they do not count towards the rate.
 */
export function estimateRemaining(
  remaining: number,
  built: number,
  sinceFirstStartMs: number | undefined,
): number | undefined {
  if (built === 0 || sinceFirstStartMs === undefined) return undefined;
  return (remaining * sinceFirstStartMs) / built;
}

/** What the summary reports. */
export interface RunTally {
  status: 'done' | 'FAILED' | 'interrupted';
  ran: number;
  reused: number;
  failed: number;
  skipped: number;
  notRun: number;
  wallMs: number;
  /** Built nodes with how long each took, any order. */
  durations: readonly { label: string; ms: number }[];
  published: number;
  publishFailed: number;
}

/** The lines printed when a run ends on a terminal: counts and wall time, the slowest nodes, what was published. */
export function summaryLines(tally: RunTally, slowest = 5): string[] {
  const counts = [
    `${tally.ran} ran`,
    `${tally.reused} reused`,
    `${tally.failed} failed`,
    `${tally.skipped} skipped`,
    ...(tally.notRun > 0 ? [`${tally.notRun} not run`] : []),
  ];
  const lines = [`${tally.status} in ${formatDuration(tally.wallMs)}: ${counts.join(', ')}`];
  const top = [...tally.durations].sort((a, b) => b.ms - a.ms).slice(0, slowest);
  if (top.length > 0) lines.push(`slowest: ${top.map((d) => `${d.label} ${formatMs(d.ms)}`).join(', ')}`);
  if (tally.published + tally.publishFailed > 0)
    lines.push(
      `published ${tally.published} file${tally.published === 1 ? '' : 's'}${tally.publishFailed > 0 ? `, ${tally.publishFailed} could not be published` : ''}`,
    );
  return lines;
}

/** `850 ms`, `4.1 s`, `3 min 5 s`: a node's duration. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}
