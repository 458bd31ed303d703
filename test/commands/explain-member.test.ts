// explain on an ensemble member compares with that member's own earlier store: when a change reaches every
// member through an upstream node, every old member differs by one upstream uid, and the newest of them
// (member 19's) used to be chosen, so the trace showed member 19's input instead of member 5's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

function ensemble(scale: number): object {
  return {
    subgraphs: {
      member: {
        inputs: ['seed'],
        outputs: { out: { $ref: 'sim' } },
        nodes: [
          { label: 'prep', operation: 'run-graph.Multiply', input: { a: { $input: 'seed' }, b: scale } },
          { label: 'sim', operation: 'run-graph.Add', input: { a: { $ref: 'prep' }, b: 1 } },
        ],
      },
    },
    nodes: [{ label: 'ens', map: { over: Array.from({ length: 20 }, (_, i) => i), as: 'seed', subgraph: 'member' } }],
  };
}

let box: Sandbox;
beforeAll(async () => {
  box = await createSandbox();
  const run = await runCli(['run', await box.write('before.json', ensemble(2)), '--workdir', box.path('wd')]);
  expect(run.code, run.stderr).toBe(0);
});
afterAll(async () => {
  await box.cleanup();
});

describe("explain 'ens[5]/sim'", () => {
  it("traces the change to member 5's own earlier store", async () => {
    const after = await box.write('after.json', ensemble(3));
    const before = JSON.parse((await runCli(['validate', box.path('before.json'), '--json'])).stdout) as {
      nodes: { label: string; uid: string }[];
    };
    const earlier = before.nodes.find((n) => n.label === 'ens[5]/sim')?.uid ?? '';
    const result = await runCli(['explain', after, 'ens[5]/sim', '--workdir', box.path('wd'), '--json']);
    expect(result.code, result.stderr).toBe(0);
    const explanation = JSON.parse(result.stdout) as { closest: { uid: string } };
    expect(explanation.closest.uid).toBe(earlier);
    const text = await runCli(['explain', after, 'ens[5]/sim', '--workdir', box.path('wd')]);
    expect(text.stdout).toContain("because 'ens[5]/prep' changed");
    expect(text.stdout).toContain('input.b changed: 2 -> 3');
    expect(text.stdout).not.toMatch(/input\.a changed/);
  });
});
