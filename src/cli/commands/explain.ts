/** `run-graph explain`: why one node will run or is reused, in plain words (or JSON). Reads only. */
import { formatJson } from '../../identity/json-text.js';
import { describeExplanation, explainNode } from '../../views/explain/explain.js';
import { loadGraph } from '../../workflow/load-graph.js';
import { EXIT } from '../exit-codes.js';
import { chosenWorkdir } from '../workdir-option.js';

/** Options of `run-graph explain`; the working directory defaults to the workflow's. */
export interface ExplainCommandOptions {
  workdir?: string;
  json?: boolean;
}

/** Print why `label` will run or is reused; returns the exit code. */
export async function explainCommand(workflow: string, label: string, options: ExplainCommandOptions): Promise<number> {
  const graph = await loadGraph(workflow);
  const workdir = chosenWorkdir(workflow, options.workdir);
  const explanation = await explainNode(graph, label, workdir);
  if (options.json === true) {
    process.stdout.write(`${formatJson({ workdir, ...explanation }, 2)}\n`);
    return EXIT.ok;
  }
  process.stdout.write(`${describeExplanation(explanation, workdir).join('\n')}\n`);
  return EXIT.ok;
}
