/**
 * What the web page reads: the JSON bodies of `GET /v1/view` and
 * `GET /v1/view/explain/:label`, and the data a report file embeds. Types
 * only, so the page's code (web/) imports them without pulling in Node.
 */
import type { Uid } from '../../identity/fingerprint.js';
import type { ArtifactInfo, NodeInfo } from '../browse/types.js';

/** A node's state as the page colours it: `failed` from its store's failure record, or a live run's events. */
export type ViewState = 'committed' | 'running' | 'failed' | 'incomplete' | 'not-started' | 'outdated';

export const VIEW_STATES: readonly ViewState[] = [
  'committed',
  'running',
  'failed',
  'incomplete',
  'outdated',
  'not-started',
];

/** One node of the served workflow with what the working directory says of it. */
export interface ViewNode {
  label: string;
  uid: Uid;
  /** `namespace.name`. */
  operation: string;
  version: string | null;
  /** Indices (in `ViewSnapshot.nodes`) of the nodes it reads from. */
  upstream: number[];
  state: ViewState;
  /** When it started: a committed store's commit time less its duration; a live run's `node-started` time. */
  startedAt?: string;
  committedAt?: string;
  durationMs?: number;
  /** Where it ran (the ledger's `ranBy`) or runs (the lock owner). */
  host?: string;
  pid?: number;
  /** How far an unfinished store has come (a loop's iteration, a checkpoint). */
  progress?: string;
  /** Why an `outdated` node will run again: the version changes since its prior store. */
  outdated?: string;
  /** A failed node's last attempt, as `status` words it: `failed (exit 3, attempt 2 of 3)`. */
  failure?: string;
}

/** `GET /v1/view`: the served workflow's nodes and their states, read from disk at `generatedAt`. */
export interface ViewSnapshot {
  file: string | null;
  generatedAt: string;
  nodes: ViewNode[];
}

/** `GET /v1/view/explain/:label`: `run-graph explain` for one node, its verdict and its lines. */
export interface ViewExplanation {
  label: string;
  verdict: 'reused' | 'running' | 'will-run';
  lines: string[];
}

/**
 * `GET /v1/view/logs/:label`: what `run-graph logs` prints of a node's
 * latest attempt (the running one, the last failed one, or the committed
 * one), each stream's last bytes at most.
 */
export interface ViewLogs {
  label: string;
  attempt: number;
  /** The line `run-graph logs` heads them with. */
  heading: string;
  /** A failed attempt's error message. */
  error?: string;
  /** Absent when the attempt wrote none (no Subprocess, or a command not started). */
  stdout?: ViewLogText;
  stderr?: ViewLogText;
}

export interface ViewLogText {
  /** The file's last `VIEW_LOG_BYTES` bytes at most, as UTF-8. */
  text: string;
  /** The whole file's size in bytes. */
  size: number;
}

/** How much of each log file `GET /v1/view/logs/:label` sends: its end. */
export const VIEW_LOG_BYTES = 64 * 1024;

/** The first chunk of an artifact, as the page previews it (and a report embeds it, base64). */
export interface PreviewChunk {
  output: string;
  /** The chunk's bytes, base64. */
  base64: string;
  /** Arrays: the chunk's rows [first, end) and shape, dtype and byte order. */
  rows?: [number, number];
  shape?: number[];
  dtype?: string;
  littleEndian?: boolean;
}

/** What a report embeds for one node. */
export interface ReportNodeDetail {
  info?: NodeInfo;
  explanation?: ViewExplanation;
  artifacts: ArtifactInfo[];
  /** Previews by output; an output missing here was left out (see `ReportData.limits`). */
  previews: { [output: string]: PreviewChunk };
  /** A node not committed (failed, running): its latest attempt's logs, counted in the previews' total. */
  logs?: ViewLogs;
}

/** Everything a report file holds, embedded as JSON in the page. */
export interface ReportData {
  snapshot: ViewSnapshot;
  /** By uid. Nodes past `limits.detailNodes` have none. */
  details: { [uid: string]: ReportNodeDetail };
  limits: {
    /** Bytes of one preview (the first chunk, at most this long). */
    previewBytes: number;
    /** Bytes of all previews together. */
    totalPreviewBytes: number;
    /** Nodes whose details (explanation, artifacts, previews) are embedded. */
    detailNodes: number;
  };
  /** What was left out, in words, for the page to say. */
  omitted: string[];
}
