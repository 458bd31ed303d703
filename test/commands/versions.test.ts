// Operation versions are part of identity: bumping demo.simulate re-runs it
// and everything downstream, and nothing else; `status`, `explain`, `graph`
// and `inspect` say why; the ledger records every version that ran and
// which upstream versions each result was made with.
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLedger, summarizeLedger } from '../../src/store/ledger.js';
import { runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { demoOperationsModule, demoWorkflow } from '../support/workflows.js';

let box: Sandbox;
let workflow: string;
let workdir: string;

async function executions(): Promise<string[]> {
  return (await readFile(box.path('log.txt'), 'utf8').catch(() => '')).split('\n').filter((line) => line !== '');
}

beforeAll(async () => {
  box = await createSandbox();
  await box.write('ops.mjs', demoOperationsModule('1.2', box.path('log.txt')));
  workflow = await box.write('wf.json', demoWorkflow());
  workdir = box.path('wf.workdir');
});
afterAll(async () => {
  await box.cleanup();
});

describe('operation versions', () => {
  it('first run: every node runs once, and the ledger records each with its upstream versions', async () => {
    const result = await runCli(['run', workflow]);
    expect(result.code, result.stderr).toBe(0);
    expect((await executions()).sort()).toEqual(['sim', 'summary']);
    const ledger = await readLedger(workdir);
    expect(ledger.map((e) => e.label).sort()).toEqual(['doubled', 'matrix', 'sim', 'summary']);
    const summary = ledger.find((e) => e.label === 'summary');
    expect(summary?.operation).toEqual({ namespace: 'demo', name: 'summarize', version: '1' });
    expect(summary?.depends).toEqual([
      {
        uid: ledger.find((e) => e.label === 'sim')?.uid,
        label: 'sim',
        operation: { namespace: 'demo', name: 'simulate', version: '1.2' },
      },
    ]);
    expect(summary?.upstreamVersions).toEqual([{ namespace: 'demo', name: 'simulate', version: '1.2' }]);
    const doubled = ledger.find((e) => e.label === 'doubled');
    expect(doubled?.upstreamVersions).toEqual([{ namespace: 'scalems', name: 'Integer64', version: null }]);
  });

  it('changing nothing reuses everything and adds nothing to the ledger', async () => {
    const result = await runCli(['run', workflow, '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('"reused":4');
    expect(await executions()).toHaveLength(2);
    expect(await readLedger(workdir)).toHaveLength(4);
  });

  it('after a version bump, status marks the node and its descendants, and only them', async () => {
    await writeFile(box.path('ops.mjs'), demoOperationsModule('1.3', box.path('log.txt')));
    const status = await runCli(['status', workflow]);
    expect(status.code, status.stderr).toBe(0);
    const line = (label: string): string => status.stdout.split('\n').find((l) => l.startsWith(`${label} `)) ?? '';
    expect(line('sim')).toContain('not started (will run: demo.simulate 1.2 -> 1.3)');
    expect(line('summary')).toContain("not started (will run: upstream 'sim' demo.simulate 1.2 -> 1.3)");
    expect(line('matrix')).toMatch(/committed$/);
    expect(line('doubled')).toMatch(/committed$/);
    const json = JSON.parse((await runCli(['status', workflow, '--json'])).stdout) as {
      nodes: { label: string; prior?: { own?: { from: string; to: string } } }[];
    };
    expect(json.nodes.find((n) => n.label === 'sim')?.prior?.own).toMatchObject({ from: '1.2', to: '1.3' });
  });

  it('explain says the version changed, and traces the descendant to it', async () => {
    const sim = await runCli(['explain', workflow, 'sim']);
    expect(sim.code, sim.stderr).toBe(0);
    expect(sim.stdout).toContain('sim (uid ');
    expect(sim.stdout).toContain('will run.');
    expect(sim.stdout).toContain('- operation version changed: demo.simulate 1.2 -> 1.3');
    const summary = await runCli(['explain', workflow, 'summary']);
    expect(summary.stdout).toMatch(
      /- input\.positions: upstream uid changed \([0-9a-f]{12}\.positions -> [0-9a-f]{12}\.positions\) because 'sim' changed:\n\s+- operation version changed: demo\.simulate 1\.2 -> 1\.3/,
    );
    const matrix = await runCli(['explain', workflow, 'matrix']);
    expect(matrix.stdout).toContain('matrix (uid 266bb4e33dfb, scalems.Integer64): reused.');
  });

  it('graph colours the outdated nodes', async () => {
    const graph = await runCli(['graph', workflow, '--format', 'mermaid']);
    expect(graph.code, graph.stderr).toBe(0);
    expect(graph.stdout).toContain('will run: demo.simulate 1.2 -> 1.3');
    const id = (label: string): string => new RegExp(`(n\\d+)\\["${label}<br/>`).exec(graph.stdout)?.[1] ?? '?';
    const members = (state: string): string[] =>
      (new RegExp(`class (\\S+) ${state}`).exec(graph.stdout)?.[1] ?? '').split(',').sort();
    expect(members('outdated')).toEqual([id('sim'), id('summary')].sort());
    expect(members('committed')).toEqual([id('matrix'), id('doubled')].sort());
  });

  it('running re-runs exactly the bumped node and its descendant; the ledger keeps both versions', async () => {
    const result = await runCli(['run', workflow, '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('"reused":2');
    expect(result.stdout).toContain('"committed":2');
    expect((await executions()).sort()).toEqual(['sim', 'sim', 'summary', 'summary']);
    const ledger = await readLedger(workdir);
    expect(ledger).toHaveLength(6);
    const versions = summarizeLedger(ledger).map(
      (s) => `${s.operation.namespace}.${s.operation.name} ${s.operation.version ?? '-'} x${s.commits}`,
    );
    expect(versions).toEqual([
      'demo.simulate 1.2 x1',
      'demo.simulate 1.3 x1',
      'demo.summarize 1 x2',
      'run-graph.Add 1 x1',
      'scalems.Integer64 - x1',
    ]);
    const summaries = ledger.filter((e) => e.label === 'summary').map((e) => e.upstreamVersions[0]?.version);
    expect(summaries).toEqual(['1.2', '1.3']);
  });

  it('inspect shows the store, its artifacts with a preview, and its ledger entry', async () => {
    const inspect = await runCli(['inspect', 'summary', '--workflow', workflow]);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/operation +demo\.summarize\nversion +1\nstate +committed/);
    expect(inspect.stdout).toMatch(/total +float64 \[\], \d+ B, total\.npy: 3/);
    expect(inspect.stdout).toMatch(/note +json, \d+ B, note\.json: "sum of 4 positions"/);
    expect(inspect.stdout).toMatch(
      /ledger .* demo\.summarize 1 by pid \d+ on .*; validated with upstream demo\.simulate 1\.3\n/,
    );
  });
});
