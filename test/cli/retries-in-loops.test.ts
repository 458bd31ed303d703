/**
 * A loop's retry policy reaches the nodes of every iteration, assembled
 * while the run goes on: a body operation that fails on every other call
 * finishes the loop when the loop node says `"retries": 1`, and fails it
 * without.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIST_INDEX_URL, eventsOf, parseEvents, runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

function opsModule(counter: string): string {
  return `import { readFileSync, writeFileSync } from 'node:fs';
import { defineOperation } from ${JSON.stringify(DIST_INDEX_URL)};
export const halve = defineOperation({
  namespace: 'demo',
  name: 'flakyHalve',
  version: '1',
  inputs: { x: { dtype: 'float64', shape: [null] } },
  outputs: { y: { dtype: 'float64', shape: [null] } },
  run({ x }) {
    let calls = 0;
    try { calls = Number(readFileSync(${JSON.stringify(counter)}, 'utf8')); } catch {}
    writeFileSync(${JSON.stringify(counter)}, String(calls + 1));
    if (calls % 2 === 0) throw new Error('odd call ' + (calls + 1));
    return { y: Array.from(x.data, (v) => v / 2) };
  },
});
`;
}

function workflow(loopPolicy: object): object {
  return {
    operations: ['./ops.mjs'],
    subgraphs: {
      halve: {
        inputs: ['x'],
        outputs: { x: { $ref: 'half.y' } },
        nodes: [{ label: 'half', operation: 'demo.flakyHalve', input: { x: { $input: 'x' } } }],
      },
      small: {
        inputs: ['x'],
        outputs: { done: { $ref: 'all' } },
        nodes: [
          { label: 'largest', operation: 'run-graph.Max', input: { array: { $input: 'x' } } },
          { label: 'below', operation: 'run-graph.Compare', input: { a: { $ref: 'largest' }, b: 1.0, op: 'lt' } },
          { label: 'all', operation: 'run-graph.All', input: { array: { $ref: 'below' } } },
        ],
      },
    },
    nodes: [
      { label: 'start', operation: 'scalems.Float64', input: { data: [4, 2] } },
      {
        label: 'relax',
        while: {
          subgraph: 'halve',
          until: 'small',
          stopWhen: 'done',
          state: { x: { $ref: 'start' } },
          maxIterations: 10,
        },
        ...loopPolicy,
      },
    ],
  };
}

describe('retries inside a loop', () => {
  let box: Sandbox;
  beforeEach(async () => {
    box = await createSandbox();
    await box.write('ops.mjs', opsModule(box.path('calls')));
  });
  afterEach(() => box.cleanup());

  it("reach every iteration's nodes from the loop node", async () => {
    const file = await box.write('wf.json', workflow({ retries: 1, backoff: 0 }));
    const result = await runCli(['run', file, '--workdir', box.path('wd'), '--json']);
    expect(result.code, result.stderr).toBe(0);
    const retried = eventsOf(parseEvents(result.stdout), 'node-retrying').map((e) => e.label);
    // Three iterations of the body, each failing once and passing on its retry.
    expect(retried).toEqual(['relax#0/half', 'relax#1/half', 'relax#2/half']);
  });

  it('fail the loop without a policy', async () => {
    const file = await box.write('wf.json', workflow({}));
    const result = await runCli(['run', file, '--workdir', box.path('wd'), '--json']);
    expect(result.code).toBe(1);
    expect(eventsOf(parseEvents(result.stdout), 'node-retrying')).toEqual([]);
    expect(eventsOf(parseEvents(result.stdout), 'node-failed').map((e) => e.label)).toEqual(['relax#0/half', 'relax']);
  });
});
