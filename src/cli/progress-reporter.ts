/**
 * A run on a terminal: one status line on stderr (progress-line.ts),
 * redrawn in place at most every 100 ms and once a second for the clock;
 * every other line (failures, warnings, notices) is printed after clearing
 * it, and the status line drawn again below. When the run finishes the line
 * is cleared for good and a summary printed, so the prompt never lands on a
 * stale status line.
 *
 * Written here rather than taken from a library: cli-progress, the usual
 * choice, cannot print a line above a single bar (only its MultiBar can,
 * through its own redraw timer), and computes its ETA from a uniform
 * increment, while nodes finish at uneven rates and reused ones take no time.
 */
import type { RunEvent } from '../engine/events.js';
import { assertNever } from '../errors.js';
import { estimateRemaining, progressLine, summaryLines } from './progress-line.js';

interface Streams {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream & { columns?: number };
  columns?: number;
}

/** Clear the current terminal line: carriage return, erase the whole line. */
const CLEAR_LINE = '\r\x1b[2K';

export class ProgressReporter {
  readonly #streams: Streams;
  readonly #describe: (event: RunEvent) => string | undefined;
  /** Running nodes by label, with when each started. */
  readonly #running = new Map<string, number>();
  readonly #durations: { label: string; ms: number }[] = [];
  #total = 0;
  #done = 0;
  #reused = 0;
  #failed = 0;
  #skipped = 0;
  #published = 0;
  #publishFailed = 0;
  #startedAt = Date.now();
  #firstStartAt: number | undefined;
  #lastDraw = 0;
  #drawn = false;
  /** After the run finished or close(): lines are still printed, the status line never again. */
  #closed = false;
  #clock: NodeJS.Timeout | undefined;

  constructor(streams: Streams, describe: (event: RunEvent) => string | undefined) {
    this.#streams = streams;
    this.#describe = describe;
  }

  onEvent(event: RunEvent): void {
    switch (event.type) {
      case 'run-started':
        this.#total = event.total;
        this.#startedAt = Date.now();
        this.#startClock();
        this.#print(this.#describe(event));
        break;
      case 'node-started':
        this.#running.set(event.label, Date.now());
        this.#firstStartAt ??= Date.now();
        break;
      case 'node-reused':
        this.#done++;
        this.#reused++;
        break;
      case 'node-committed':
        this.#running.delete(event.label);
        this.#durations.push({ label: event.label, ms: event.durationMs });
        this.#done++;
        break;
      case 'node-failed':
        this.#running.delete(event.label);
        this.#failed++;
        this.#print(this.#describe(event));
        break;
      case 'node-skipped':
        // A node started on the artifacts of one that then failed to commit is skipped as it runs.
        this.#running.delete(event.label);
        this.#skipped++;
        this.#print(this.#describe(event));
        break;
      case 'output-published':
        this.#published++;
        break;
      case 'publish-failed':
        this.#publishFailed++;
        this.#print(this.#describe(event));
        break;
      case 'run-finished':
        this.#finish(event);
        return;
      case 'nodes-added':
        this.#total += event.count;
        break;
      case 'node-committing':
        // Still in progress until it commits.
        break;
      case 'node-retrying':
      case 'store-reset':
      case 'store-quarantined':
      case 'store-superseded':
      case 'store-restored':
      case 'lock-waiting':
      case 'lock-compromised':
      case 'ledger-failed':
      case 'run-interrupted':
      case 'loop-iteration':
      case 'tmp-swept':
        this.#print(this.#describe(event));
        break;
      default:
        assertNever(event, 'event');
    }
    this.#draw(false);
  }

  notice(text: string): void {
    this.#print(text);
  }

  close(): void {
    this.#closed = true;
    this.#stopClock();
    this.#clear();
  }

  #finish(event: Extract<RunEvent, { type: 'run-finished' }>): void {
    this.close();
    const c = event.counts;
    const lines = summaryLines({
      status: event.ok ? 'done' : event.interrupted ? 'interrupted' : 'FAILED',
      ran: c.committed,
      reused: c.reused,
      failed: c.failed,
      skipped: c.skipped,
      notRun: c.notRun,
      wallMs: event.durationMs,
      durations: this.#durations,
      published: this.#published,
      publishFailed: this.#publishFailed,
    });
    for (const line of lines) this.#print(line);
  }

  #startClock(): void {
    this.#stopClock();
    // The elapsed time and ETA move even while no event comes; unref'd, so it never keeps the process alive.
    this.#clock = setInterval(() => this.#draw(true), 1000);
    this.#clock.unref();
  }

  #stopClock(): void {
    if (this.#clock !== undefined) clearInterval(this.#clock);
    this.#clock = undefined;
  }

  #print(line: string | undefined): void {
    if (line === undefined) return;
    this.#clear();
    this.#streams.out.write(`${line}\n`);
    this.#draw(true);
  }

  #clear(): void {
    if (this.#drawn) this.#streams.err.write(CLEAR_LINE);
    this.#drawn = false;
  }

  #draw(force: boolean): void {
    if (this.#closed || this.#total === 0) return;
    const now = Date.now();
    if (!force && now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    const built = this.#done - this.#reused;
    const remaining = Math.max(0, this.#total - this.#done - this.#failed - this.#skipped);
    const line = progressLine(
      {
        total: this.#total,
        done: this.#done,
        failed: this.#failed,
        skipped: this.#skipped,
        running: [...this.#running.keys()],
        elapsedMs: now - this.#startedAt,
        etaMs: estimateRemaining(
          remaining,
          built,
          this.#firstStartAt === undefined ? undefined : now - this.#firstStartAt,
        ),
      },
      // A pseudo-terminal nobody sized says 0 columns.
      this.#streams.err.columns || this.#streams.columns || 80,
    );
    this.#streams.err.write(`${CLEAR_LINE}${line}`);
    this.#drawn = true;
  }
}
