// Workflows for the loop and ensemble tests: a halving ensemble under a
// while loop (the adaptive pattern), and variations that break it.
import type { JsonValue } from '../../src/identity/canonical-json.js';
import type { WorkflowSpec } from '../../src/workflow/load.js';

export interface HalvingOptions {
  initial: number[];
  /** Stop once every member is below this. */
  below: number;
  maxIterations: number;
  onMaxIterations?: 'fail' | 'accept';
  /** A subprocess per member per iteration that appends to this log, to slow the loop down and count executions. */
  log?: string;
}

/** Halve every member per iteration until all are below `below`: stops after ceil(log2(max/below)) iterations. */
export function halvingWorkflow(options: HalvingOptions): WorkflowSpec {
  const advanceNodes: JsonValue[] = [
    {
      label: 'members',
      map: { over: { $input: 'ensemble' }, as: 'a', operation: 'run-graph.Multiply', input: { b: 0.5 } },
    },
  ];
  if (options.log !== undefined) {
    advanceNodes.push({
      label: 'tick',
      operation: 'scalems.Subprocess',
      input: { argv: ['sh', '-c', 'sleep 0.05; echo tick >> "$1"', 'tick', options.log, { $ref: 'members.result' }] },
    });
  }
  return {
    subgraphs: {
      advance: {
        inputs: ['ensemble'],
        outputs: { ensemble: { $ref: 'members.result' } },
        nodes: advanceNodes as never,
      },
      converged: {
        inputs: ['ensemble'],
        outputs: { done: { $ref: 'all_below' } },
        nodes: [
          { label: 'largest', operation: 'run-graph.Max', input: { array: { $input: 'ensemble' } } },
          {
            label: 'below',
            operation: 'run-graph.Compare',
            input: { a: { $ref: 'largest' }, b: options.below, op: 'lt' },
          },
          { label: 'all_below', operation: 'run-graph.All', input: { array: { $ref: 'below' } } },
        ],
      },
    },
    nodes: [
      { label: 'initial', operation: 'scalems.Float64', input: { data: options.initial } },
      {
        label: 'relax',
        while: {
          subgraph: 'advance',
          until: 'converged',
          stopWhen: 'done',
          state: { ensemble: { $ref: 'initial' } },
          maxIterations: options.maxIterations,
          ...(options.onMaxIterations === undefined ? {} : { onMaxIterations: options.onMaxIterations }),
        },
      },
      { label: 'final', operation: 'run-graph.Sum', input: { array: { $ref: 'relax.ensemble' } } },
    ],
  };
}
