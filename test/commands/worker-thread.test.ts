// A defined operation that names its module (`module: import.meta.url`)
// runs in a worker thread; its inputs and outputs are converted there by
// its declarations just as on the main thread.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIST_INDEX_URL, runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

let box: Sandbox;
beforeAll(async () => {
  box = await createSandbox();
});
afterAll(async () => {
  await box.cleanup();
});

describe('defined operations in worker threads', () => {
  it('runs off the main thread and commits typed outputs', async () => {
    await box.write(
      'ops.mjs',
      `import { isMainThread } from 'node:worker_threads';
import { appendFileSync } from 'node:fs';
import { defineOperation } from ${JSON.stringify(DIST_INDEX_URL)};
export const square = defineOperation({
  namespace: 'demo', name: 'square', version: '1', module: import.meta.url,
  inputs: { x: { dtype: 'int64', shape: [null] } },
  outputs: { y: { dtype: 'int64', shape: [null] }, where: { dtype: 'string' } },
  defaultOutput: 'y',
  run({ x }) {
    appendFileSync(${JSON.stringify(box.path('log.txt'))}, (isMainThread ? 'main' : 'worker') + '\\n');
    return { y: Array.from(x.data, (v) => v * v), where: isMainThread ? 'main' : 'worker' };
  },
});
`,
    );
    const workflow = await box.write('wf.json', {
      operations: ['./ops.mjs'],
      nodes: [
        { label: 'm', operation: 'scalems.Integer64', input: { data: [1, 2, 3] } },
        { label: 'sq', operation: 'demo.square', input: { x: { $ref: 'm' } } },
      ],
    });
    const run = await runCli(['run', workflow]);
    expect(run.code, run.stderr).toBe(0);
    expect(await readFile(box.path('log.txt'), 'utf8')).toBe('worker\n');
    const inspect = await runCli(['inspect', 'sq', '--workflow', workflow]);
    expect(inspect.stdout).toMatch(/y +int64 \[3\], \d+ B, y\.npy: \[1,4,9\]/);
  });
});
