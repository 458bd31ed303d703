import { expect, test } from 'vitest';
import { jobRequestOf, requestKey, sbatchOptions } from '../../src/engine/slurm/job-request.js';
import { DEFAULT_RESOURCES, type Resources } from '../../src/operations/resources.js';
import type { GraphNode } from '../../src/workflow/graph.js';

function nodeWith(resources: Resources): GraphNode {
  return { resources } as unknown as GraphNode;
}

test('a node without resources asks for one core and nothing else', () => {
  expect(sbatchOptions(jobRequestOf(nodeWith(DEFAULT_RESOURCES)), 1)).toEqual(['--ntasks=1', '--cpus-per-task=1']);
});

test('every resource becomes its sbatch option; the time limit counts once per node of the job', () => {
  const request = jobRequestOf(
    nodeWith({
      cpus: 4,
      memoryBytes: 1.5 * 1024 ** 3,
      timeSeconds: 5400,
      gpus: 2,
      slurm: { partition: 'gpu', account: 'proj', qos: 'long', constraint: 'a100', options: ['--exclusive'] },
    }),
  );
  expect(sbatchOptions(request, 3)).toEqual([
    '--ntasks=1',
    '--cpus-per-task=4',
    '--mem=1536M',
    '--time=4:30:00',
    '--gres=gpu:2',
    '--partition=gpu',
    '--account=proj',
    '--qos=long',
    '--constraint=a100',
    '--exclusive',
  ]);
});

test('nodes share a resource class exactly when their requests are equal', () => {
  const one = jobRequestOf(nodeWith({ ...DEFAULT_RESOURCES, cpus: 2 }));
  expect(requestKey(one)).toBe(requestKey(jobRequestOf(nodeWith({ ...DEFAULT_RESOURCES, cpus: 2 }))));
  expect(requestKey(one)).not.toBe(requestKey(jobRequestOf(nodeWith({ ...DEFAULT_RESOURCES, cpus: 3 }))));
});
