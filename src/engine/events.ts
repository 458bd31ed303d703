/**
 * What the engine reports while it works. The engine emits these and never
 * prints; the CLI decides how to show them (a progress line on a terminal,
 * plain lines in CI, one JSON object per line with `--json`).
 */
import type { ErrorCode } from '../errors.js';
import type { Uid } from '../identity/fingerprint.js';

/** An error as carried in an event: plain data, ready for JSON. */
export interface EventError {
  code: ErrorCode | 'E_INTERNAL';
  message: string;
  hint?: string;
}

export interface RunCounts {
  total: number;
  reused: number;
  committed: number;
  failed: number;
  /** Not run because something upstream failed. */
  skipped: number;
  /** Not run because the run was interrupted. */
  notRun: number;
}

export type RunEvent =
  | { type: 'run-started'; total: number; workdir: string; jobs: number }
  | { type: 'tmp-swept'; entries: string[] }
  | { type: 'node-started'; label: string; uid: Uid; operation: string }
  | { type: 'node-reused'; label: string; uid: Uid }
  /** The operation finished and its outputs are being committed; its job slot is free for another node. */
  | { type: 'node-committing'; label: string; uid: Uid }
  | { type: 'node-committed'; label: string; uid: Uid; durationMs: number }
  | { type: 'node-failed'; label: string; uid: Uid; error: EventError }
  /** Attempt `attempt` failed (recorded in the store); attempt `attempt + 1` of at most `lastAttempt` starts after `delayMs`. */
  | {
      type: 'node-retrying';
      label: string;
      uid: Uid;
      attempt: number;
      lastAttempt: number;
      delayMs: number;
      error: EventError;
    }
  | { type: 'node-skipped'; label: string; uid: Uid; reason: 'upstream-failed'; upstream: string }
  | { type: 'store-reset'; label: string; uid: Uid; removed: string[] }
  | { type: 'store-quarantined'; label: string; uid: Uid; reason: string; path: string }
  | { type: 'lock-waiting'; label: string; uid: Uid; owner: { pid: number; host: string } | null }
  | { type: 'lock-compromised'; label: string; uid: Uid; message: string }
  | { type: 'ledger-failed'; label: string; uid: Uid; message: string }
  | { type: 'run-interrupted'; running: number }
  /** A forced node's committed store was moved aside until its new store commits. */
  | { type: 'store-superseded'; label: string; uid: Uid }
  /** A store kept aside was put back, since its replacement failed or never finished; `label` is null for a node not in this run's graph. */
  | { type: 'store-restored'; label: string | null; uid: Uid }
  /** A loop assembled more nodes (an iteration); the run's total grows by `count`. */
  | { type: 'nodes-added'; label: string; count: number }
  /** A loop checked its condition before iteration `iteration`. */
  | { type: 'loop-iteration'; label: string; uid: Uid; iteration: number; stop: boolean }
  /** A published output was put at its path (`path` as the workflow writes it); `unchanged` ones are not reported. */
  | { type: 'output-published'; label: string; output: string; path: string; how: 'linked' | 'copied' }
  /** A published output could not be put at its path; the node is committed all the same. */
  | { type: 'publish-failed'; label: string; output: string; path: string; error: EventError }
  | { type: 'run-finished'; ok: boolean; interrupted: boolean; counts: RunCounts; durationMs: number };

export type RunEventType = RunEvent['type'];

/** Receives every event of a run, in order. */
export type EventListener = (event: RunEvent) => void;
