/**
 * `run-graph inspect <label|uid>`: one store's operation, version, state,
 * timings, owner and artifacts (dtype, shape, size, a preview of values).
 * A label needs `--workflow`; a uid (or a unique prefix) needs a working
 * directory, `--workdir` or the default one of `--workflow`. Reads only.
 * With `--remote URL` the store is read through a server (the client
 * library), and a label may also be one of the workflow it serves.
 */
import { connect } from '../../client/connect.js';
import { inspectRemoteStore, resolveRemoteTarget } from '../../client/remote-inspect.js';
import { RunGraphError } from '../../errors.js';
import { formatJson } from '../../identity/json-text.js';
import { describeLedgerOperation } from '../../store/ledger.js';
import { inspectStore, resolveTarget, type InspectReport } from '../../views/inspect.js';
import { formatBytes } from '../../store/store-index.js';
import { loadGraph } from '../../workflow/load-graph.js';
import { EXIT } from '../exit-codes.js';
import { formatMs } from '../reporter.js';
import { chosenWorkdir } from '../workdir-option.js';

/** Options of `run-graph inspect`: a working directory, a workflow for labels, or both. */
export interface InspectCommandOptions {
  workdir?: string;
  workflow?: string;
  json?: boolean;
  /** A server's URL: inspect through it instead of a working directory. */
  remote?: string;
  token?: string;
}

function describeReport(report: InspectReport): string[] {
  const op = report.operation;
  const lines = [
    `uid        ${report.uid}`,
    ...(report.labels.length > 0 ? [`label      ${report.labels.join(', ')}`] : []),
    `operation  ${op.namespace}.${op.name}`,
    `version    ${op.version ?? '(unversioned: a SCALE-MS data operation)'}`,
    `state      ${report.state.replace('-', ' ')}`,
    `store      ${report.storeDir}`,
  ];
  if (report.createdAt !== undefined) lines.push(`created    ${report.createdAt}`);
  if (report.committedAt !== undefined)
    lines.push(`committed  ${report.committedAt} (ran ${formatMs(report.durationMs ?? 0)})`);
  if (report.owner !== undefined) {
    const since = report.owner.startedAt === undefined ? '' : `, since ${report.owner.startedAt}`;
    lines.push(
      `owner      pid ${report.owner.pid} on ${report.owner.host}${since} (${report.owner.alive ? 'alive' : 'dead'})`,
    );
  }
  if (report.record !== undefined && report.record.depends.length > 0)
    lines.push(`depends    ${report.record.depends.join('\n           ')}`);
  if (report.artifacts.length > 0) {
    lines.push('artifacts');
    const width = Math.max(...report.artifacts.map((a) => a.output.length));
    for (const a of report.artifacts) {
      const arrayType = `${a.dtype ?? '?'} [${(a.shape ?? []).join(', ')}]`;
      const type = a.kind === 'array' ? arrayType : a.dtype === undefined ? a.kind : `${a.kind} (.npy) ${arrayType}`;
      lines.push(`  ${a.output.padEnd(width)}  ${type}, ${formatBytes(a.size)}, ${a.path}: ${a.preview}`);
    }
  }
  for (const entry of report.ledger) {
    const upstream =
      entry.upstreamVersions.length === 0
        ? ''
        : `; validated with upstream ${entry.upstreamVersions.map(describeLedgerOperation).join(', ')}`;
    lines.push(
      `ledger     ${entry.committedAt} ${describeLedgerOperation(entry.operation)} by pid ${entry.ranBy.pid} on ${entry.ranBy.host}${upstream}`,
    );
  }
  return lines;
}

/** The report of a node of a served working directory. */
async function remoteReport(target: string, remote: string, options: InspectCommandOptions): Promise<InspectReport> {
  if (options.workdir !== undefined)
    throw new RunGraphError('E_USAGE', 'inspect takes --workdir or --remote, not both', { value: options.workdir });
  const workflow = options.workflow === undefined ? undefined : await loadGraph(options.workflow);
  const graph = await connect(remote, options.token === undefined ? {} : { token: options.token });
  try {
    return await inspectRemoteStore(graph, await resolveRemoteTarget(graph, target, workflow));
  } finally {
    graph.close();
  }
}

/** The report of a store of a local working directory. */
async function localReport(target: string, options: InspectCommandOptions): Promise<InspectReport> {
  const graph = options.workflow === undefined ? undefined : await loadGraph(options.workflow);
  const workdir =
    options.workdir ?? (options.workflow === undefined ? undefined : chosenWorkdir(options.workflow, undefined));
  if (workdir === undefined) {
    throw new RunGraphError('E_USAGE', `inspect ${target}: no working directory`, {
      value: target,
      hint: 'pass --workdir DIR, or --workflow FILE to use its default working directory (or --remote URL)',
    });
  }
  const { uid, labels } = await resolveTarget(target, workdir, graph);
  return inspectStore(workdir, uid, labels, graph);
}

/** Print one store; returns the exit code. */
export async function inspectCommand(target: string, options: InspectCommandOptions): Promise<number> {
  const report =
    options.remote === undefined
      ? await localReport(target, options)
      : await remoteReport(target, options.remote, options);
  process.stdout.write(options.json === true ? `${formatJson(report, 2)}\n` : `${describeReport(report).join('\n')}\n`);
  return EXIT.ok;
}
