/**
 * `run-graph graph`: the workflow as Mermaid or Graphviz DOT source. Boxes
 * are coloured by state when there is a working directory to read: the one
 * given with --workdir, or the default one if it exists. Reads only.
 */
import { drawnStates, renderGraph, versionNotes, type GraphFormat } from '../../views/graph-render.js';
import { readStatus } from '../../views/status.js';
import { isRunGraphWorkdir } from '../../store/workdir.js';
import { loadGraph } from '../../workflow/load-graph.js';
import { EXIT } from '../exit-codes.js';
import { chosenWorkdir } from '../workdir-option.js';

/** Options of `run-graph graph`; format defaults to mermaid. */
export interface GraphCommandOptions {
  workdir?: string;
  format: GraphFormat;
}

/** Print the workflow as picture source; returns the exit code. */
export async function graphCommand(workflow: string, options: GraphCommandOptions): Promise<number> {
  const graph = await loadGraph(workflow);
  const workdir = chosenWorkdir(workflow, options.workdir);
  if (options.workdir === undefined && !(await isRunGraphWorkdir(workdir))) {
    process.stdout.write(renderGraph(graph, options.format));
    return EXIT.ok;
  }
  const report = await readStatus(graph, workdir);
  process.stdout.write(renderGraph(graph, options.format, drawnStates(report.nodes), versionNotes(report.nodes)));
  return EXIT.ok;
}
