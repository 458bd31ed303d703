/**
 * `run-graph import <document>`: read a SCALE-MS `scalems_workflow_1`
 * document, check that every uid it declares is the one run-graph computes,
 * and print the equivalent run-graph workflow (or write it with --output).
 * `run`, `status`, `explain` and the other commands also take the document
 * directly.
 */
import writeFileAtomic from 'write-file-atomic';
import { RunGraphError } from '../../errors.js';
import { formatJson } from '../../identity/json-text.js';
import { loadWorkflowGraph } from '../../workflow/load-graph.js';
import { SCALEMS_WORKFLOW_VERSION } from '../../workflow/scalems.js';
import { EXIT } from '../exit-codes.js';

/** Options of `run-graph import`; without `output` the workflow goes to stdout. */
export interface ImportCommandOptions {
  output?: string;
}

/** Check a SCALE-MS document and print it as a workflow; returns the exit code. */
export async function importCommand(document: string, options: ImportCommandOptions): Promise<number> {
  const { workflow, graph } = await loadWorkflowGraph(document);
  if (workflow.scalems === undefined) {
    throw new RunGraphError(
      'E_USAGE',
      `not a ${SCALEMS_WORKFLOW_VERSION} document (its "version" is not "${SCALEMS_WORKFLOW_VERSION}")`,
      {
        file: document,
        hint: 'a run-graph workflow file needs no import: run it directly',
      },
    );
  }
  // formatJson keeps the numbers as the document has them: `1.0` a float, integers past 2^53 whole.
  const text = `${formatJson({ description: `imported from ${document} (${SCALEMS_WORKFLOW_VERSION})`, ...workflow.spec }, 2)}\n`;
  if (options.output === undefined) process.stdout.write(text);
  // Atomically: an existing file is replaced whole or not at all, never left half written.
  else await writeFileAtomic(options.output, text);
  process.stderr.write(
    `${document}: ${graph.nodes.length} referents; every declared uid matches${options.output === undefined ? '' : `; wrote ${options.output}`}\n`,
  );
  return EXIT.ok;
}
