/**
 * `run-graph gc --keep <workflow>...`: list the stores no kept workflow
 * reaches and the space they take, and the stores in `quarantine/`; delete
 * them only with --yes, never a store whose lock a live process holds, nor a
 * quarantined one younger than --keep-quarantine. Every kept workflow must
 * load: a typo in --keep fails before anything is deleted.
 */
import { RunGraphError, assertNever } from '../../errors.js';
import { shortUid, type Uid } from '../../identity/fingerprint.js';
import { collectGarbage, deletable, findGarbage, type StoreHolder } from '../../views/gc.js';
import { formatBytes } from '../../store/store-index.js';
import { workdirLayout } from '../../store/workdir.js';
import {
  deleteQuarantined,
  expiredQuarantine,
  listQuarantine,
  parseQuarantineAge,
  type QuarantinedStore,
} from '../../views/quarantine.js';
import { loadGraph } from '../../workflow/load-graph.js';
import { EXIT } from '../exit-codes.js';
import { chosenWorkdir } from '../workdir-option.js';

/** Options of `run-graph gc`: without `yes` it only lists. */
export interface GcCommandOptions {
  /** Required; optional here so that its absence is reported as run-graph reports errors. */
  keep?: string[];
  /** Quarantined stores younger than this age (`7d`, `12h`, seconds) are kept. Default: none kept. */
  keepQuarantine?: string;
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
  const kept = options.keep ?? [];
  const [first] = kept;
  if (first === undefined)
    throw new RunGraphError('E_USAGE', 'gc needs at least one --keep <workflow>', {
      hint: 'run-graph gc --keep wf.json [--yes]: every store a kept workflow reaches is kept, the rest is garbage',
    });
  const keepQuarantineMs = options.keepQuarantine === undefined ? 0 : parseQuarantineAge(options.keepQuarantine);
  const keep = new Set<Uid>();
  for (const workflow of kept) for (const node of (await loadGraph(workflow)).nodes) keep.add(node.uid);
  const workdir = chosenWorkdir(first, options.workdir);
  const report = await findGarbage(workdir, keep);
  const quarantine = await listQuarantine(workdirLayout(report.workdir));
  const expired = expiredQuarantine(quarantine, keepQuarantineMs);
  const deletableCount = report.unreachable.filter((s) => deletable(s.holder)).length;
  const result = options.yes === true ? await collectGarbage(report, { staleMs: options.stale * 1000 }) : undefined;
  const quarantineFreed =
    options.yes === true ? await deleteQuarantined(workdirLayout(report.workdir), expired) : undefined;
  if (options.json === true) {
    const quarantineReport = {
      quarantine: quarantine.map((entry) => ({ ...entry, expired: expired.includes(entry) })),
      ...(quarantineFreed === undefined
        ? {}
        : { quarantineResult: { deleted: expired.map((e) => e.name), freedBytes: quarantineFreed } }),
    };
    process.stdout.write(
      `${JSON.stringify({ ...report, ...(result === undefined ? {} : { result }), ...quarantineReport }, null, 2)}\n`,
    );
    return EXIT.ok;
  }
  const out: string[] = [
    `${report.workdir}: ${report.reachable} store${report.reachable === 1 ? '' : 's'} kept by ${kept.join(', ')}; ${report.unreachable.length} unreachable`,
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
  out.push(...quarantineLines(quarantine, expired, quarantineFreed));
  process.stdout.write(`${out.join('\n')}\n`);
  return EXIT.ok;
}

/** The quarantine part of the listing: nothing when quarantine/ is empty. */
function quarantineLines(
  quarantine: readonly QuarantinedStore[],
  expired: readonly QuarantinedStore[],
  freed: number | undefined,
): string[] {
  if (quarantine.length === 0) return [];
  const lines = [
    `quarantine/: ${quarantine.length} store${quarantine.length === 1 ? '' : 's'} that failed verification`,
  ];
  for (const entry of quarantine) {
    const keptYet = expired.includes(entry) ? '' : '  (younger than --keep-quarantine: kept)';
    lines.push(`  ${entry.name}  ${formatBytes(entry.bytes).padStart(9)}  ${entry.quarantinedAt}${keptYet}`);
  }
  const bytes = expired.reduce((sum, e) => sum + e.bytes, 0);
  if (freed !== undefined)
    lines.push(
      `deleted ${expired.length} quarantined store${expired.length === 1 ? '' : 's'}, freed ${formatBytes(freed)}`,
    );
  else if (expired.length > 0)
    lines.push(
      `${expired.length} quarantined store${expired.length === 1 ? '' : 's'}, ${formatBytes(bytes)}: run again with --yes to delete ${expired.length === 1 ? 'it' : 'them'}`,
    );
  return lines;
}
