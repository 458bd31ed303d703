/**
 * `run-graph report`: write the web page's view of a working directory,
 * finished or still running, as one self-contained HTML file (data and
 * script inlined, nothing fetched when it opens). The file is written to a
 * temporary name beside the target, fsynced and renamed over it, so a
 * reader never sees half a report.
 */
import { dirname, resolve } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { RunGraphError } from '../../errors.js';
import { reportHtml } from '../../views/web/page.js';
import { reportData } from '../../views/web/report.js';
import { loadGraph } from '../../workflow/load-graph.js';
import { EXIT } from '../exit-codes.js';
import { chosenWorkdir } from '../workdir-option.js';

export interface ReportCommandOptions {
  workdir?: string;
  output: string;
}

export async function reportCommand(workflow: string, options: ReportCommandOptions): Promise<number> {
  const graph = await loadGraph(workflow);
  const workdir = chosenWorkdir(workflow, options.workdir);
  const data = await reportData(graph, workdir);
  const html = await reportHtml(data);
  const target = resolve(options.output);
  try {
    await writeFileAtomic(target, html, { encoding: 'utf8' });
  } catch (error) {
    throw new RunGraphError('E_USAGE', `cannot write the report to ${options.output}: ${String(error)}`, {
      value: options.output,
      cause: error,
      hint: `check that ${dirname(target)} exists and is writable`,
    });
  }
  const counts = new Map<string, number>();
  for (const node of data.snapshot.nodes) counts.set(node.state, (counts.get(node.state) ?? 0) + 1);
  const summary = [...counts].map(([state, n]) => `${n} ${state}`).join(', ');
  process.stdout.write(`wrote ${options.output}: ${data.snapshot.nodes.length} nodes (${summary})\n`);
  for (const note of data.omitted) process.stdout.write(`  left out: ${note}\n`);
  return EXIT.ok;
}
