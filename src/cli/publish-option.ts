/**
 * Where a workflow's published outputs go: paths relative to the workflow
 * file's directory, or to `--publish-dir`; checked against that root and
 * the working directory before anything runs (see store/published-files.ts).
 */
import { dirname } from 'node:path';
import type { PublishTarget } from '../engine/publisher.js';
import { checkPublishRoot } from '../store/published-files.js';
import type { ConcreteGraph } from '../workflow/graph.js';

/** The publish root: `--publish-dir`, or the directory of the workflow file. */
export function publishRoot(workflow: string, publishDir: string | undefined): string {
  return publishDir ?? dirname(workflow);
}

/** The published outputs of `whole` whose nodes are in `graph` (a targeted run's part of it), checked, with absolute paths. */
export async function publishTargets(
  whole: ConcreteGraph,
  graph: ConcreteGraph,
  root: string,
  workdir: string,
): Promise<PublishTarget[]> {
  const checked = await checkPublishRoot(whole.published ?? [], root, workdir, whole.file);
  const inGraph = new Set(graph.nodes.map((n) => n.uid));
  return checked
    .filter((entry) => inGraph.has(entry.uid))
    .map((entry) => ({
      label: entry.label,
      uid: entry.uid,
      output: entry.output,
      path: entry.absolute,
      shown: entry.path,
    }));
}
