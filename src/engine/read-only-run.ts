/**
 * A run in a working directory that cannot be written (a read-only mount, a
 * directory shared without write permission): when every node of the graph
 * is committed there and passes verification, there is nothing to write,
 * and the run succeeds as a no-op resume would, reusing every node and
 * writing nothing (no marker, no staging, no ledger, no lock). When some
 * node would have to run, it fails with the working directory's own error
 * (E_WORKDIR), saying how many nodes would run and naming the first.
 *
 * Stores are read as any reuse reads them (Stores.verified, which takes no
 * lock and writes nothing): a committed store is immutable.
 */
import { RunGraphError, isErrnoException } from '../errors.js';
import type { VerifyMode } from '../store/data-store.js';
import type { CommittedMetadata } from '../store/metadata.js';
import { currentOwner } from '../store/owner.js';
import { Stores } from '../store/store.js';
import { isRunGraphWorkdir, workdirLayout } from '../store/workdir.js';
import type { ConcreteGraph } from '../workflow/graph.js';
import type { EventListener } from './events.js';
import type { RunSummary } from './run.js';

/** File system errors that mean "this directory cannot be written", as opposed to "it is broken". */
const NOT_WRITABLE = new Set(['EROFS', 'EACCES', 'EPERM']);

/** Whether `error` (from opening a working directory) says only that it cannot be written. */
export function isNotWritable(error: unknown): boolean {
  if (!(error instanceof RunGraphError) || error.code !== 'E_WORKDIR') return false;
  const cause = error.cause;
  return isErrnoException(cause) && cause.code !== undefined && NOT_WRITABLE.has(cause.code);
}

export interface ReadOnlyRunOptions {
  workdir: string;
  verify: VerifyMode;
  onEvent?: EventListener;
}

/**
 * Reuse every node of `graph` from a working directory that cannot be
 * written. `notWritable` is the error opening it for writing gave: thrown,
 * with what would have run, unless every node is committed.
 */
export async function runReadOnly(
  graph: ConcreteGraph,
  options: ReadOnlyRunOptions,
  notWritable: RunGraphError,
): Promise<RunSummary> {
  const started = performance.now();
  const layout = workdirLayout(options.workdir);
  if (!(await isRunGraphWorkdir(layout.root))) throw notWritable;
  const stores = new Stores(layout, currentOwner(), { verify: options.verify, staleMs: Number.POSITIVE_INFINITY });
  const results = new Map<string, CommittedMetadata>();
  const missing: string[] = [];
  for (const node of graph.nodes) {
    const metadata = await stores.verified(node.uid, node.record).catch(() => undefined);
    if (metadata === undefined) missing.push(node.label);
    else results.set(node.label, metadata);
  }
  if (missing.length > 0) {
    throw new RunGraphError(
      'E_WORKDIR',
      `${notWritable.message}, and ${missing.length} of ${graph.nodes.length} node${graph.nodes.length === 1 ? '' : 's'} would run (first: '${missing[0] ?? ''}')`,
      {
        value: layout.root,
        cause: notWritable.cause,
        hint: 'a working directory that cannot be written is usable only when every node is committed in it; run once where it can be written',
      },
    );
  }
  const emit = options.onEvent ?? (() => undefined);
  emit({ type: 'run-started', total: graph.nodes.length, workdir: layout.root, jobs: 1 });
  for (const node of graph.nodes) emit({ type: 'node-reused', label: node.label, uid: node.uid });
  const counts = {
    total: graph.nodes.length,
    reused: graph.nodes.length,
    committed: 0,
    failed: 0,
    skipped: 0,
    notRun: 0,
  };
  const durationMs = Math.round(performance.now() - started);
  emit({ type: 'run-finished', ok: true, interrupted: false, counts: { ...counts }, durationMs });
  return { ok: true, interrupted: false, counts, failures: [], durationMs, results, publishFailures: 0 };
}
