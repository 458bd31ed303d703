// The ledger with concurrent workers: two `run` processes on one working
// directory execute each node exactly once between them, and the ledger
// holds exactly one complete entry per committed node, whoever wrote it.
import { readdir, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLedger } from '../../src/store/ledger.js';
import { runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { demoOperationsModule } from '../support/workflows.js';

let box: Sandbox;
beforeAll(async () => {
  box = await createSandbox();
});
afterAll(async () => {
  await box.cleanup();
});

describe('ledger with concurrent workers', () => {
  it('has one entry per committed node when two processes run the same workflow at once', async () => {
    await box.write('ops.mjs', demoOperationsModule('1', box.path('log.txt')));
    const nodes = Array.from({ length: 8 }, (_, i) => [
      { label: `sim${i}`, operation: 'demo.simulate', input: { steps: 100 + i, scale: 1 } },
      { label: `sum${i}`, operation: 'demo.summarize', input: { positions: { $ref: `sim${i}` } } },
    ]).flat();
    const workflow = await box.write('wf.json', { operations: ['./ops.mjs'], nodes });
    const workdir = box.path('wd');
    const [a, b] = await Promise.all([
      runCli(['run', workflow, '--workdir', workdir, '--jobs', '3']),
      runCli(['run', workflow, '--workdir', workdir, '--jobs', '3']),
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);

    const log = (await readFile(box.path('log.txt'), 'utf8')).split('\n').filter((l) => l !== '');
    expect(log.sort()).toEqual(nodes.map((n) => n.label).sort());
    const ledger = await readLedger(workdir);
    expect(ledger.map((e) => e.label).sort()).toEqual(nodes.map((n) => n.label).sort());
    expect(new Set(ledger.map((e) => e.uid)).size).toBe(nodes.length);
    for (const entry of ledger.filter((e) => e.label.startsWith('sum'))) {
      expect(entry.depends).toHaveLength(1);
      expect(entry.upstreamVersions).toEqual([{ namespace: 'demo', name: 'simulate', version: '1' }]);
    }
    // Nothing half-written is left behind.
    expect((await readdir(box.path('wd', 'ledger'))).filter((name) => name.startsWith('.'))).toEqual([]);
  });
});
