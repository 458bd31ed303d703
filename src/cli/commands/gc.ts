/**
 * `run-graph gc --keep <workflow>...`: list the stores no kept workflow
 * reaches and the space they take; delete them only with --yes, and never
 * one whose lock a live process holds. Every kept workflow must load: a typo
 * in --keep fails before anything is deleted.
 */
import { RunGraphError, assertNever } from '../../errors.js';
import { shortUid, type Uid } from '../../identity/fingerprint.js';
import { collectGarbage, deletable, findGarbage, type StoreHolder } from '../../views/gc.js';
import { formatBytes } from '../../store/store-index.js';
import { loadGraph } from '../../workflow/load-graph.js';
import { EXIT } from '../exit-codes.js';
import { chosenWorkdir } from '../workdir-option.js';

/** Options of `run-graph gc`: without `yes` it only lists. */
export interface GcCommandOptions {
  keep: string[];
  workdir?: string;
  yes?: boolean;
  json?: boolean;
  stale: number;
}

function holderText(holder: StoreHolder): string {
  switch (holder.status) {
    case 'none':
      return '';
    case 'dead':
      return ` (lock left by dead pid ${holder.pid})`;
    case 'live':
      return ` IN USE by pid ${holder.pid} on ${holder.host}: kept`;
    case 'unknown':
      return ' LOCKED (owner unknown): kept';
    default:
      return assertNever(holder, 'store holder');
  }
}

/** List (and with --yes delete) unreachable stores; returns the exit code. */
export async function gcCommand(options: GcCommandOptions): Promise<number> {
  const [first] = options.keep;
  if (first === undefined)
    throw new RunGraphError('E_USAGE', 'gc needs at least one --keep <workflow>', {
      hint: 'every store a kept workflow reaches is kept; the rest is garbage',
    });
  const keep = new Set<Uid>();
  for (const workflow of options.keep) for (const node of (await loadGraph(workflow)).nodes) keep.add(node.uid);
  const workdir = chosenWorkdir(first, options.workdir);
  const report = await findGarbage(workdir, keep);
  const deletableCount = report.unreachable.filter((s) => deletable(s.holder)).length;
  const result = options.yes === true ? await collectGarbage(report, { staleMs: options.stale * 1000 }) : undefined;
  if (options.json === true) {
    process.stdout.write(`${JSON.stringify({ ...report, ...(result === undefined ? {} : { result }) }, null, 2)}\n`);
    return EXIT.ok;
  }
  const out: string[] = [
    `${report.workdir}: ${report.reachable} store${report.reachable === 1 ? '' : 's'} kept by ${options.keep.join(', ')}; ${report.unreachable.length} unreachable`,
  ];
  for (const store of report.unreachable) {
    out.push(
      `  ${shortUid(store.uid)}  ${formatBytes(store.bytes).padStart(9)}  ${store.state.padEnd(11)}  ${store.operation ?? '(unreadable metadata)'}${store.at === undefined ? '' : `  ${store.at}`}${holderText(store.holder)}`,
    );
  }
  if (result === undefined) {
    out.push(
      deletableCount === 0
        ? 'nothing to delete'
        : `${deletableCount} store${deletableCount === 1 ? '' : 's'}, ${formatBytes(report.bytes)}: run again with --yes to delete ${deletableCount === 1 ? 'it' : 'them'}`,
    );
  } else {
    for (const kept of result.kept) out.push(`  kept ${shortUid(kept.uid)}: ${kept.reason}`);
    out.push(
      `deleted ${result.deleted.length} store${result.deleted.length === 1 ? '' : 's'}, freed ${formatBytes(result.freedBytes)}`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return EXIT.ok;
}
