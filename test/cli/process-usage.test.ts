/**
 * A Subprocess node's CPU time and peak memory, as its committed metadata
 * records them (`usage`): a command that holds 80 MB and spins for about
 * half a second of CPU records at least that, and a node that is not a
 * Subprocess records none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { must, runCli, uidsByLabel } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { readMetadata } from '../support/stores.js';

interface Usage {
  cpuUserMs: number;
  cpuSystemMs: number;
  maxRssBytes: number | null;
}

const HOG = [
  'const held = Buffer.alloc(80 * 1024 * 1024, 1);',
  'const end = process.cpuUsage().user + 500000;',
  'let x = 0;',
  'while (process.cpuUsage().user < end) x += held[x % held.length];',
  'console.log(x > 0);',
].join(' ');

describe.runIf(process.platform === 'linux')('the usage of a subprocess', () => {
  let box: Sandbox;
  beforeAll(async () => {
    box = await createSandbox();
  });
  afterAll(() => box.cleanup());

  it('records CPU time and peak memory in the committed metadata', async () => {
    const workflow = await box.write('wf.json', {
      nodes: [
        { label: 'hog', operation: 'scalems.Subprocess', input: { argv: [process.execPath, '-e', HOG] } },
        { label: 'plain', operation: 'scalems.Integer64', input: { data: 1 } },
      ],
    });
    const workdir = box.path('wd');
    const run = await runCli(['run', workflow, '--workdir', workdir]);
    expect(run.code, run.stderr).toBe(0);
    const uids = await uidsByLabel(workflow);
    const hog = (await readMetadata(workdir, must(uids, 'hog'))) as unknown as { usage?: Usage };
    expect(hog.usage).toBeDefined();
    // Sampled every 100 ms, so at most the last interval is missed.
    expect(hog.usage?.cpuUserMs).toBeGreaterThanOrEqual(350);
    expect(hog.usage?.cpuSystemMs).toBeGreaterThanOrEqual(0);
    expect(hog.usage?.maxRssBytes).toBeGreaterThanOrEqual(80 * 1024 * 1024);
    const plain = (await readMetadata(workdir, must(uids, 'plain'))) as unknown as { usage?: Usage };
    expect(plain.usage).toBeUndefined();
  });
});
