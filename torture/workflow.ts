/**
 * The workflow the crash tests torture: groups of an Integer64 source, a
 * fan-out of in-process Add nodes and subprocess nodes (one of them reading
 * the output of a subprocess with no declared files), a Concatenate fan-in
 * per group, and a final Concatenate + Sum over all groups. Every subprocess
 * appends a line to the execution log itself; in-process nodes are logged by
 * the engine's audit hook (RUN_GRAPH_EXECUTION_LOG).
 */
import type { JsonValue } from '#dist/identity/canonical-json.js';
import type { WorkflowNodeSpec, WorkflowSpec } from '#dist/workflow/load.js';

export interface TortureWorkflowOptions {
  /** Number of groups; each adds `transforms + subprocesses + 3` nodes. */
  groups: number;
  transforms?: number;
  subprocesses?: number;
  /** Execution log the subprocess nodes append to (absolute path). */
  executionLog: string;
  /** Seconds each subprocess sleeps, so kills land inside running nodes too. */
  subprocessSleep?: number;
}

/** Number of nodes `tortureWorkflow` makes for these options. */
export function tortureNodeCount(options: TortureWorkflowOptions): number {
  return options.groups * ((options.transforms ?? 6) + (options.subprocesses ?? 2) + 3) + 2;
}

export function tortureWorkflow(options: TortureWorkflowOptions): WorkflowSpec {
  const transforms = options.transforms ?? 6;
  const subprocesses = options.subprocesses ?? 2;
  const sleep = options.subprocessSleep ?? 0.02;
  const nodes: WorkflowNodeSpec[] = [];
  const gathers: JsonValue[] = [];
  for (let g = 0; g < options.groups; g++) {
    const source = `source${g}`;
    nodes.push({
      label: source,
      operation: 'scalems.Integer64',
      input: { data: [g * 7 + 1, g * 7 + 2, g * 7 + 3, g * 7 + 4] },
    });
    const members: JsonValue[] = [];
    for (let k = 0; k < transforms; k++) {
      const label = `add${g}_${k}`;
      nodes.push({ label, operation: 'run-graph.Add', input: { a: { $ref: source }, b: k } });
      members.push({ $ref: label });
    }
    // A command with no declared files, which the launcher runs from its directory's creation to its outputs' move
    // into the store: it prints the source's .npy, which the first subprocess copies.
    const plain = `print${g}`;
    const printScript = `printf '{"event":"exec","label":"%s"}\\n' "$0" >> "$1"; sleep ${sleep}; cat "$2"`;
    nodes.push({
      label: plain,
      operation: 'scalems.Subprocess',
      input: { argv: ['sh', '-c', printScript, plain, options.executionLog, { $ref: source }] },
    });
    for (let k = 0; k < subprocesses; k++) {
      const label = `sub${g}_${k}`;
      const script = `printf '{"event":"exec","label":"%s"}\\n' "$0" >> "$1"; sleep ${sleep}; cp "$2" out.npy`;
      const from = k === 0 ? { $ref: plain } : { $ref: source };
      nodes.push({
        label,
        operation: 'scalems.Subprocess',
        input: { argv: ['sh', '-c', script, label, options.executionLog, from], outputFiles: ['out.npy'] },
      });
      members.push({ $ref: `${label}.out.npy` });
    }
    const gather = `gather${g}`;
    nodes.push({ label: gather, operation: 'run-graph.Concatenate', input: { arrays: members } });
    gathers.push({ $ref: gather });
  }
  nodes.push({ label: 'all', operation: 'run-graph.Concatenate', input: { arrays: gathers } });
  nodes.push({ label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'all' } } });
  return { description: 'crash torture workflow', nodes };
}
