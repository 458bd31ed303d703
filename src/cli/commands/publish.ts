/**
 * `run-graph publish`: put a workflow's published outputs at their paths
 * again, from committed stores alone (nothing runs, no lock is taken), and
 * say which outputs have no committed store yet. Exit 0 when every output
 * is published, 1 when some could not be.
 */
import { workdirLayout } from '../../store/workdir.js';
import { publishFromStore } from '../../store/published-files.js';
import { loadGraph } from '../../workflow/load-graph.js';
import { EXIT } from '../exit-codes.js';
import { publishRoot, publishTargets } from '../publish-option.js';
import { chosenWorkdir } from '../workdir-option.js';

export interface PublishCommandOptions {
  workdir?: string;
  publishDir?: string;
  json?: boolean;
}

export async function publishCommand(workflow: string, options: PublishCommandOptions): Promise<number> {
  const graph = await loadGraph(workflow);
  const workdir = chosenWorkdir(workflow, options.workdir);
  const targets = await publishTargets(graph, graph, publishRoot(workflow, options.publishDir), workdir);
  const layout = workdirLayout(workdir);
  const results = [];
  for (const target of targets) {
    const result = await publishFromStore(layout, target.uid, target.output, target.path);
    results.push({ path: target.shown, label: target.label, output: target.output, ...result });
  }
  const missing = results.filter((r) => r.outcome === 'not-committed' || r.outcome === 'failed');
  if (options.json === true) process.stdout.write(`${JSON.stringify({ published: results })}\n`);
  else {
    if (targets.length === 0) process.stdout.write(`${workflow} publishes nothing (it has no "publish" section)\n`);
    for (const r of results) {
      const from = `${r.label}.${r.output}`;
      const line =
        r.outcome === 'not-committed'
          ? `not published  ${r.path} <- ${from}: its node is ${r.state === 'running' ? 'running now' : r.state === 'incomplete' ? 'incomplete' : r.state === 'failed' ? 'failed' : 'not run yet'}`
          : r.outcome === 'failed'
            ? `FAILED         ${r.path} <- ${from}: ${r.message}`
            : `${r.outcome.padEnd(14)} ${r.path} <- ${from}`;
      process.stdout.write(`${line}\n`);
    }
    if (missing.length > 0)
      process.stdout.write(
        `${missing.length} of ${results.length} outputs not published; run \`run-graph run ${workflow}\` to build them\n`,
      );
  }
  return missing.length === 0 ? EXIT.ok : EXIT.nodeFailed;
}
