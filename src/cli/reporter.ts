/**
 * How a run looks to the person or program that started it. The engine only
 * emits events; a reporter turns them into output:
 * - `json`: one JSON object per line on stdout, for machines;
 * - `tty`: a progress bar redrawn in place (progress-reporter.ts), with
 *   failures and warnings printed above it, and a summary at the end;
 * - `plain`: one line per event, for logs and CI.
 */
import type { RunEvent } from '../engine/events.js';
import { formatMs } from './progress-line.js';
import { assertNever } from '../errors.js';
import { shortUid } from '../identity/fingerprint.js';
import { ProgressReporter } from './progress-reporter.js';

export { formatMs } from './progress-line.js';

export type ReporterKind = 'json' | 'tty' | 'plain';

export interface Reporter {
  onEvent(event: RunEvent): void;
  /** Print a line that is not an event (a notice from the CLI itself). */
  notice(text: string): void;
  /** Clear any progress line before the process prints its last words. */
  close(): void;
}

export interface ReporterStreams {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  columns?: number;
}

export function createReporter(kind: ReporterKind, streams: ReporterStreams): Reporter {
  switch (kind) {
    case 'json':
      return {
        onEvent: (event) => streams.out.write(`${JSON.stringify({ ...event, time: new Date().toISOString() })}\n`),
        notice: (text) => streams.err.write(`${text}\n`),
        close: () => undefined,
      };
    case 'plain': {
      const lines = new LineBatch(streams.out);
      return {
        onEvent: (event) => {
          const line = describeEvent(event);
          if (line !== undefined) lines.add(line);
        },
        notice: (text) => {
          lines.flush();
          streams.out.write(`${text}\n`);
        },
        close: () => lines.flush(),
      };
    }
    case 'tty':
      return new ProgressReporter(streams, describeEvent);
    default:
      return assertNever(kind, 'reporter kind');
  }
}

/**
 * Lines written together, once per turn of the event loop (and before any
 * other output): a no-op resume of 1,000 nodes has 1,000 lines to print in
 * one turn, and one write each (a system call, stdout being synchronous)
 * cost more than making the lines.
 */
class LineBatch {
  #pending = '';
  #scheduled = false;

  constructor(readonly out: NodeJS.WritableStream) {}

  add(line: string): void {
    this.#pending += `${line}\n`;
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.flush();
    });
  }

  flush(): void {
    if (this.#pending === '') return;
    const text = this.#pending;
    this.#pending = '';
    this.out.write(text);
  }
}

/** The plain-text line for an event, or undefined for events not worth a line. */
export function describeEvent(event: RunEvent): string | undefined {
  switch (event.type) {
    case 'run-started':
      return `run: ${event.total} nodes in ${event.workdir} (jobs: ${event.jobs})`;
    case 'tmp-swept':
      return `swept ${event.entries.length} staging entr${event.entries.length === 1 ? 'y' : 'ies'} left by dead processes`;
    case 'node-started':
      return `started   ${event.label} (${shortUid(event.uid)}) ${event.operation}`;
    case 'node-reused':
      return `reused    ${event.label} (${shortUid(event.uid)})`;
    case 'node-committed':
      return `committed ${event.label} (${shortUid(event.uid)}) in ${formatMs(event.durationMs)}`;
    case 'node-failed':
      return `FAILED    ${event.label} (${shortUid(event.uid)}): ${event.error.message}`;
    case 'node-skipped':
      return `skipped   ${event.label}: upstream node '${event.upstream}' failed`;
    case 'node-retrying':
      return `retry     ${event.label} (${shortUid(event.uid)}): attempt ${event.attempt} failed (${event.error.message.split('\n')[0] ?? ''}); attempt ${event.attempt + 1} of ${event.lastAttempt} in ${formatMs(event.delayMs)}`;
    case 'store-reset':
      return `restart   ${event.label}: previous attempt did not finish; cleared ${event.removed.join(', ')}`;
    case 'store-quarantined':
      return `warning: store of ${event.label} (${shortUid(event.uid)}) failed verification (${event.reason}); moved to ${event.path}, rebuilding`;
    case 'lock-waiting':
      return `waiting   for node ${event.label}, owned by ${event.owner === null ? 'another process' : `pid ${event.owner.pid} on host ${event.owner.host}`}`;
    case 'lock-compromised':
      return `warning: lost the lock of ${event.label} (${event.message}); it will not be committed by this process`;
    case 'ledger-failed':
      return `warning: ${event.label} (${shortUid(event.uid)}) is committed, but its ledger entry could not be written: ${event.message}`;
    case 'nodes-added':
    case 'node-committing':
      return undefined;
    case 'loop-iteration':
      return `loop      ${event.label}: iteration ${event.iteration}, condition says ${event.stop ? 'stop' : 'go on'}`;
    case 'store-superseded':
      return `forced    ${event.label} (${shortUid(event.uid)}): its committed store is kept aside until the new one commits`;
    case 'store-restored':
      return `restored  ${event.label ?? shortUid(event.uid)}: the forced run did not commit, so the store it replaced is back`;
    case 'output-published':
      return `published ${event.path} <- ${event.label}.${event.output} (${event.how})`;
    case 'publish-failed':
      return `warning: could not publish ${event.path} (${event.label}.${event.output}): ${event.error.message}`;
    case 'run-interrupted':
      return 'interrupted: no new nodes will start; waiting for running nodes to stop (press Ctrl-C again to exit at once)';
    case 'run-finished': {
      const c = event.counts;
      const status = event.ok ? 'done' : event.interrupted ? 'interrupted' : 'FAILED';
      return `${status}: ${c.committed} built, ${c.reused} reused, ${c.failed} failed, ${c.skipped} skipped, ${c.notRun} not run, of ${c.total} nodes in ${formatMs(event.durationMs)}`;
    }
    default:
      return assertNever(event, 'event');
  }
}
