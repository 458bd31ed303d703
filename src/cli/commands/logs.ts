/** `run-graph logs`: the stdout and stderr of a node's latest attempt, or of an earlier one by number. Reads only. */
import { createReadStream } from 'node:fs';
import { RunGraphError } from '../../errors.js';
import { describeAttempt, readAttemptLogs } from '../../views/logs.js';
import { loadGraph } from '../../workflow/load-graph.js';
import { EXIT } from '../exit-codes.js';
import { chosenWorkdir } from '../workdir-option.js';

export interface LogsCommandOptions {
  workdir?: string;
  /** An attempt number, as typed. */
  attempt?: string;
  stdout?: boolean;
  stderr?: boolean;
}

function attemptNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const number = Number(text);
  if (!/^\d+$/.test(text) || number < 1)
    throw new RunGraphError('E_USAGE', `--attempt expects an attempt number from 1, got '${text}'`, {
      field: '--attempt',
      value: text,
    });
  return number;
}

function copyTo(path: string, out: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = createReadStream(path);
    stream.on('error', reject);
    stream.on('end', resolve);
    stream.pipe(out, { end: false });
  });
}

export async function logsCommand(workflow: string, label: string, options: LogsCommandOptions): Promise<number> {
  if (options.stdout === true && options.stderr === true)
    throw new RunGraphError('E_USAGE', '--stdout and --stderr exclude each other; give neither for both', {
      field: '--stdout',
    });
  const graph = await loadGraph(workflow);
  const workdir = chosenWorkdir(workflow, options.workdir);
  const logs = await readAttemptLogs(graph, label, workdir, attemptNumber(options.attempt));
  const only = options.stdout === true ? 'stdout' : options.stderr === true ? 'stderr' : undefined;
  if (only !== undefined) {
    const path = logs[only];
    if (path === undefined)
      throw new RunGraphError('E_USAGE', `attempt ${logs.attempt} of '${label}' wrote no ${only}`, {
        node: label,
        hint: 'only Subprocess nodes write stdout and stderr',
      });
    await copyTo(path, process.stdout);
    return EXIT.ok;
  }
  process.stdout.write(`${describeAttempt(logs)}\n`);
  if (logs.outcome.state === 'failed') process.stdout.write(`${logs.outcome.failure.error.message}\n`);
  if (logs.outcome.state === 'failed' && logs.outcome.keptCommitted !== undefined)
    process.stdout.write(
      `(the result committed at ${logs.outcome.keptCommitted} was kept; --attempt ${logs.available.join(', ')} shows its logs)\n`,
    );
  for (const stream of ['stdout', 'stderr'] as const) {
    const path = logs[stream];
    process.stdout.write(`-- ${stream}${path === undefined ? ': none' : ''}\n`);
    if (path !== undefined) await copyTo(path, process.stdout);
  }
  return EXIT.ok;
}
