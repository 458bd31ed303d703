/**
 * Resources in the workflow, through the real CLI: every source (workflow
 * defaults, --profile, --default-resources, the operation's definition, the
 * map around a node, the node itself) lands in the node's resources in the
 * documented order; resources never change a uid; a wrong value is an
 * E_RESOURCES error naming the node and field, with nothing run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIST_INDEX_URL, runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

let box: Sandbox;
beforeAll(async () => {
  box = await createSandbox();
  await box.write(
    'ops.mjs',
    `import { defineOperation } from ${JSON.stringify(DIST_INDEX_URL)};
export const heavy = defineOperation({
  namespace: 'demo', name: 'Heavy', version: '1', resources: { cpus: 3, time: '10m' },
  inputs: { x: { dtype: 'json' } }, outputs: { y: { dtype: 'json' } }, run: ({ x }) => ({ y: x }),
});
`,
  );
});
afterAll(() => box.cleanup());

const GiB = 1024 ** 3;

interface ValidatedNode {
  label: string;
  uid: string;
  resources: { cpus: number; memoryBytes?: number; timeSeconds?: number; gpus: number; slurm: object };
}

async function validate(workflow: object, ...flags: string[]): Promise<Map<string, ValidatedNode>> {
  const file = await box.write(`wf-${Math.random().toString(36).slice(2)}.json`, workflow);
  const result = await runCli(['validate', file, '--json', ...flags]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const nodes = (JSON.parse(result.stdout) as { nodes: ValidatedNode[] }).nodes;
  return new Map(nodes.map((n) => [n.label, n]));
}

const plain = (label: string, extra: object = {}): object => ({
  label,
  operation: 'scalems.Integer64',
  input: { data: [label.length] },
  ...extra,
});

describe('resources', () => {
  it('stack: defaults < profile < --default-resources < operation < map < node', async () => {
    const profile = await box.write('profile.json', {
      resources: { memory: '2G', time: '1h', slurm: { partition: 'p-profile', account: 'acct' } },
    });
    const workflow = {
      operations: ['./ops.mjs'],
      defaults: { resources: { cpus: 2, memory: '1G', gpus: 1, slurm: { partition: 'p-workflow' } } },
      nodes: [
        plain('bare'),
        plain('own', { resources: { cpus: 4, slurm: { qos: 'fast', options: ['--exclusive'] } } }),
        { label: 'heavy', operation: 'demo.Heavy', input: { x: 1 } },
        { label: 'fan', map: { over: [1, 2], as: 'x', operation: 'demo.Heavy' }, resources: { cpus: 5 } },
      ],
    };
    const nodes = await validate(workflow, '--profile', profile, '--default-resources', 'time=2h,partition=p-flags');
    expect(nodes.get('bare')?.resources).toEqual({
      cpus: 2,
      memoryBytes: 2 * GiB,
      timeSeconds: 7200,
      gpus: 1,
      slurm: { partition: 'p-flags', account: 'acct' },
    });
    expect(nodes.get('own')?.resources).toMatchObject({
      cpus: 4,
      slurm: { partition: 'p-flags', account: 'acct', qos: 'fast', options: ['--exclusive'] },
    });
    expect(nodes.get('heavy')?.resources).toMatchObject({ cpus: 3, timeSeconds: 600, memoryBytes: 2 * GiB });
    expect(nodes.get('fan[0]')?.resources).toMatchObject({ cpus: 5, timeSeconds: 600 });
    expect(nodes.get('fan[1]')?.resources).toMatchObject({ cpus: 5 });

    // The same workflow without any resources: the same uids.
    const bare = await validate({
      operations: ['./ops.mjs'],
      nodes: workflow.nodes.map(({ resources: _ignored, ...node }: { resources?: unknown }) => node),
    });
    for (const [label, node] of nodes) expect(bare.get(label)?.uid, label).toBe(node.uid);
    expect(bare.get('bare')?.resources).toEqual({ cpus: 1, gpus: 0, slurm: {} });
  });

  it('reach the nodes of a subgraph, without entering a loop body record', async () => {
    const body = {
      inputs: ['n'],
      outputs: { n: { $ref: 'next' } },
      nodes: [
        { label: 'next', operation: 'run-graph.Add', input: { a: { $input: 'n' }, b: 1 }, resources: { cpus: 2 } },
      ],
    };
    const until = {
      inputs: ['n'],
      outputs: { stop: { $ref: 'cmp' } },
      nodes: [{ label: 'cmp', operation: 'run-graph.Compare', input: { a: { $input: 'n' }, op: 'ge', b: 3 } }],
    };
    const loop = (resources: object | undefined): object => ({
      subgraphs: { body, until },
      nodes: [
        {
          label: 'loop',
          while: { subgraph: 'body', until: 'until', stopWhen: 'stop', state: { n: 0 }, maxIterations: 5 },
          ...(resources === undefined ? {} : { resources }),
        },
        { label: 'use', subgraph: 'body', input: { n: 7 }, resources: { memory: '3G' } },
      ],
    });
    const withResources = await validate(loop({ time: '5m' }));
    expect(withResources.get('use/next')?.resources).toMatchObject({ cpus: 2, memoryBytes: 3 * GiB });
    const noBodyResources = await validate({
      ...loop(undefined),
      subgraphs: { body: { ...body, nodes: [{ ...body.nodes[0], resources: undefined }] }, until },
    });
    expect(noBodyResources.get('loop')?.uid).toBe(withResources.get('loop')?.uid);
  });

  it.each([
    [{ resources: { cpus: 0 } }, 'resources.cpus', 'E_WORKFLOW_SCHEMA'],
    [{ resources: { memory: '4 gigs' } }, 'resources.memory', 'E_RESOURCES'],
    [{ resources: { time: '30' } }, 'resources.time', 'E_RESOURCES'],
    [{ resources: { time: '1:2:3:4' } }, 'resources.time', 'E_RESOURCES'],
    [{ resources: { slurm: { options: [''] } } }, 'resources.slurm.options[0]', 'E_WORKFLOW_SCHEMA'],
  ])('%j is refused naming the node and %s', async (extra, field, code) => {
    const file = await box.write('bad.json', { nodes: [plain('sim', extra)] });
    for (const command of ['validate', 'run']) {
      const result = await runCli([
        command,
        file,
        ...(command === 'run' ? ['--workdir', box.path('bad.workdir')] : []),
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(code);
      expect(result.stderr).toContain(`node 'sim', field '${field}'`);
    }
    await expect(import('node:fs/promises').then((fs) => fs.stat(box.path('bad.workdir')))).rejects.toThrow();
  });

  it('refuses a bad workflow default, profile or flag, naming where', async () => {
    const file = await box.write('good.json', { nodes: [plain('sim')] });
    const badDefault = await box.write('bad-default.json', {
      defaults: { resources: { memory: '12' } },
      nodes: [plain('sim')],
    });
    const badProfile = await box.write('bad-profile.json', { resources: { cpus: 'two' } });
    const cases: [string[], RegExp][] = [
      [['validate', badDefault], /bad-default\.json, field 'defaults\.resources\.memory': memory: expected an amount/],
      [['validate', file, '--profile', badProfile], /bad-profile\.json, field 'resources\.cpus'/],
      [['validate', file, '--profile', box.path('missing.json')], /cannot read profile: no such file/],
      [['validate', file, '--default-resources', 'cpus=2,mem=lots'], /field '--default-resources\.memory'/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
    }
  });
});
