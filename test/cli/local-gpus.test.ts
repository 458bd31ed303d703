/**
 * GPUs on a local run: the devices named by `--gpus` (or
 * CUDA_VISIBLE_DEVICES) are handed out to nodes by id, each attempt of a
 * node with `gpus: n` holding n of them in CUDA_VISIBLE_DEVICES, never two
 * nodes one device at once; a node asking for more than the run has is
 * E_UNSATISFIABLE before anything runs. Each node records, when it starts
 * and ends, its devices and the time, so the log says who held what when.
 */
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createSandbox, exists, type Sandbox } from '../support/sandbox.js';

let box: Sandbox;
beforeEach(async () => {
  box = await createSandbox();
});
afterEach(() => box.cleanup());

function gpuNode(label: string, log: string, gpus: number): object {
  // Lines "start <label> <devices> <ns>" and "end <label> <devices> <ns>".
  const script = `echo "start $1 $CUDA_VISIBLE_DEVICES $(date +%s%N)" >> "$0"; sleep 0.4; echo "end $1 $CUDA_VISIBLE_DEVICES $(date +%s%N)" >> "$0"`;
  return {
    label,
    operation: 'scalems.Subprocess',
    resources: { gpus },
    input: { argv: ['sh', '-c', script, log, label] },
  };
}

interface Held {
  label: string;
  devices: string[];
  start: number;
  end: number;
}

async function holdings(log: string): Promise<Held[]> {
  const lines = (await readFile(log, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => line.split(' '));
  const starts = lines.filter(([kind]) => kind === 'start');
  return starts.map(([, label = '', devices = '', at = '0']) => {
    const end = lines.find(([kind, other]) => kind === 'end' && other === label)?.[3] ?? 'NaN';
    return { label, devices: devices.split(',').filter((d) => d !== ''), start: Number(at), end: Number(end) };
  });
}

describe('GPUs on a local run', () => {
  it('hands each node its own devices, and never one device to two nodes at once', async () => {
    const log = box.path('log.txt');
    const workflow = await box.write('wf.json', {
      nodes: [gpuNode('a', log, 1), gpuNode('b', log, 1), gpuNode('c', log, 1), gpuNode('d', log, 2)],
    });
    const result = await runCli(['run', workflow, '--workdir', box.path('wd'), '--cores', '4', '--gpus', '3,7']);
    expect(result.code, result.stderr).toBe(0);
    const held = await holdings(log);
    expect(held.map((h) => h.label).sort()).toEqual(['a', 'b', 'c', 'd']);
    for (const h of held) {
      expect(h.devices.length).toBe(h.label === 'd' ? 2 : 1);
      for (const device of h.devices) expect(['3', '7']).toContain(device);
    }
    for (const one of held)
      for (const other of held) {
        if (one === other || !one.devices.some((d) => other.devices.includes(d))) continue;
        // Sharing a device, they never overlap in time.
        expect(one.end <= other.start || other.end <= one.start, `${one.label} and ${other.label}`).toBe(true);
      }
    // The control: four cores let two one-GPU nodes run at once, on the two devices.
    const overlapping = held
      .filter((h) => h.label !== 'd')
      .some((one) =>
        held.some((other) => other !== one && other.label !== 'd' && one.start < other.end && other.start < one.end),
      );
    expect(overlapping).toBe(true);
  });

  it('takes the devices from CUDA_VISIBLE_DEVICES when --gpus is not given', async () => {
    const log = box.path('log.txt');
    const workflow = await box.write('wf.json', { nodes: [gpuNode('a', log, 1)] });
    const result = await runCli(['run', workflow, '--workdir', box.path('wd')], { env: { CUDA_VISIBLE_DEVICES: '5' } });
    expect(result.code, result.stderr).toBe(0);
    expect((await holdings(log))[0]?.devices).toEqual(['5']);
  });

  it('refuses a node that asks for more GPUs than the run has, before anything is written', async () => {
    const workflow = await box.write('wf.json', { nodes: [gpuNode('big', box.path('log.txt'), 2)] });
    const result = await runCli(['run', workflow, '--workdir', box.path('wd'), '--gpus', '1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/E_UNSATISFIABLE: .*node 'big'.*needs 2 GPUs, and this run has 1 \(from --gpus\)/);
    expect(await exists(box.path('wd'))).toBe(false);
    const bad = await runCli(['run', workflow, '--workdir', box.path('wd'), '--gpus', '0,0']);
    expect(bad.stderr).toContain("--gpus expects a count or a list of distinct device ids (0,1,3), got '0,0'");
  });
});
