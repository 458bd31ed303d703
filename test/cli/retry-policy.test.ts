/**
 * The retry policy as written (`retries`, `backoff` on a node, a subgraph use
 * or map, an operation definition, the workflow's `defaults`): resolved per
 * node, most specific first, shown by `validate --json`, never part of a
 * uid, and refused with an error naming the place when it is malformed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIST_INDEX_URL, runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

interface ValidatedNode {
  label: string;
  uid: string;
  retry: { retries: number; backoff: { delaySeconds: number; factor: number; maxSeconds: number | null } };
}

const OPS = `import { defineOperation } from ${JSON.stringify(DIST_INDEX_URL)};
export const flaky = defineOperation({
  namespace: 'demo',
  name: 'flaky',
  version: '1',
  retries: 4,
  backoff: '2s',
  inputs: { x: { dtype: 'int64', shape: [] } },
  outputs: { y: { dtype: 'int64', shape: [] } },
  run: ({ x }) => ({ y: x }),
});
`;

function workflow(policy: boolean): object {
  const p = <T extends object>(settings: T): T | object => (policy ? settings : {});
  return {
    operations: ['./ops.mjs'],
    ...(policy ? { defaults: { retries: 1, backoff: { delay: '500ms', factor: 3, max: '1m30s' } } } : {}),
    subgraphs: {
      step: {
        inputs: ['x'],
        outputs: { y: { $ref: 'inner' } },
        nodes: [
          { label: 'inner', operation: 'demo.flaky', input: { x: { $input: 'x' } } },
          { label: 'own', operation: 'demo.flaky', input: { x: 7 }, ...p({ retries: 0 }) },
        ],
      },
    },
    nodes: [
      { label: 'plain', operation: 'scalems.Integer64', input: { data: 1 } },
      { label: 'byOperation', operation: 'demo.flaky', input: { x: 2 } },
      { label: 'byNode', operation: 'demo.flaky', input: { x: 3 }, ...p({ retries: 2, backoff: 10 }) },
      { label: 'use', subgraph: 'step', input: { x: 4 }, ...p({ retries: 3 }) },
      { label: 'members', map: { over: [5, 6], as: 'x', operation: 'demo.flaky' }, ...p({ backoff: '01:00' }) },
    ],
  };
}

async function validated(box: Sandbox, doc: object): Promise<Map<string, ValidatedNode>> {
  const file = await box.write('wf.json', doc);
  const result = await runCli(['validate', '--json', file]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const nodes = (JSON.parse(result.stdout) as { nodes: ValidatedNode[] }).nodes;
  return new Map(nodes.map((node) => [node.label, node]));
}

describe('retry policy in the workflow', () => {
  let box: Sandbox;
  beforeAll(async () => {
    box = await createSandbox();
    await box.write('ops.mjs', OPS);
  });
  afterAll(() => box.cleanup());

  it('resolves node > enclosing use > operation > defaults, setting by setting, and leaves every uid alone', async () => {
    const withPolicy = await validated(box, workflow(true));
    const without = await validated(box, workflow(false));
    const policy = (label: string): ValidatedNode['retry'] | undefined => withPolicy.get(label)?.retry;
    const defaultsBackoff = { delaySeconds: 0.5, factor: 3, maxSeconds: 90 };
    expect(policy('plain')).toEqual({ retries: 1, backoff: defaultsBackoff });
    expect(policy('byOperation')).toEqual({ retries: 4, backoff: { delaySeconds: 2, factor: 1, maxSeconds: 2 } });
    expect(policy('byNode')).toEqual({ retries: 2, backoff: { delaySeconds: 10, factor: 1, maxSeconds: 10 } });
    // The subgraph use's retries reach its nodes; the backoff still comes from the operation.
    expect(policy('use/inner')).toEqual({ retries: 3, backoff: { delaySeconds: 2, factor: 1, maxSeconds: 2 } });
    expect(policy('use/own')?.retries).toBe(0);
    expect(policy('members[1]')).toEqual({ retries: 4, backoff: { delaySeconds: 60, factor: 1, maxSeconds: 60 } });
    // Without any policy: the operation's, else none, with the built-in backoff.
    expect(without.get('plain')?.retry).toEqual({
      retries: 0,
      backoff: { delaySeconds: 1, factor: 2, maxSeconds: 60 },
    });
    expect(without.get('byNode')?.retry.retries).toBe(4);
    expect([...withPolicy.keys()]).toEqual([...without.keys()]);
    for (const [label, node] of withPolicy) expect(node.uid, label).toBe(without.get(label)?.uid);
  });

  it.each([
    [
      'a bad duration on a subgraph node',
      { backoff: '10 parsecs' },
      'step/own',
      'backoff',
      /expected a duration such as "10s"/,
    ],
    ['a bad delay', { backoff: { delay: '1x' } }, 'step', 'backoff.delay', /"1x"/],
    ['a factor below 1', { backoff: { delay: '1s', factor: 0.5 } }, 'step', 'backoff.factor', /must be >= 1/],
    ['negative retries', { retries: -1 }, 'step', 'retries', /must be >= 0/],
  ])('refuses %s, naming the node and field', async (_name, settings, node, field, message) => {
    const doc = workflow(true) as { subgraphs: { step: { nodes: object[] } } };
    doc.subgraphs.step.nodes[1] = { ...doc.subgraphs.step.nodes[1], ...settings };
    const file = await box.write('bad.json', doc);
    const result = await runCli(['validate', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('E_WORKFLOW_SCHEMA');
    expect(result.stderr).toContain(node);
    expect(result.stderr).toContain(field);
    expect(result.stderr).toMatch(message);
  });

  it('refuses a bad default backoff, naming defaults.backoff', async () => {
    const doc = { ...workflow(true), defaults: { backoff: '5 minutes' } };
    const result = await runCli(['validate', await box.write('bad-defaults.json', doc)]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/E_WORKFLOW_SCHEMA.*defaults\.backoff|defaults\.backoff.*E_WORKFLOW_SCHEMA/s);
  });

  it('refuses a bad policy in defineOperation with E_OPERATION_DEFINITION', async () => {
    await box.write('bad-ops.mjs', OPS.replace('retries: 4', "retries: 'many'"));
    const doc = { ...workflow(true), operations: ['./bad-ops.mjs'] };
    const result = await runCli(['validate', await box.write('bad-op.json', doc)]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('E_OPERATION_DEFINITION');
    expect(result.stderr).toContain('retries');
    expect(result.stderr).toContain('"many" (string)');
  });
});
