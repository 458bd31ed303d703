/**
 * An operation whose promise never settles, holding nothing open: Node would
 * exit as soon as nothing is left to wait for, and `run` used to end with
 * exit 0 and the node never built. It now fails with E_INTERNAL (exit 70)
 * naming the node; what did finish stays committed.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIST_INDEX_URL, runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

let box: Sandbox;
beforeEach(async () => {
  box = await createSandbox();
});
afterEach(() => box.cleanup());

describe('an operation that never settles', () => {
  it('fails the run with E_INTERNAL naming its node, not exit 0', async () => {
    await box.write(
      'ops.mjs',
      `import { defineOperation } from ${JSON.stringify(DIST_INDEX_URL)};
export const stuck = defineOperation({
  namespace: 'demo', name: 'stuck', version: '1', inputs: {}, outputs: { y: { dtype: 'int64', shape: [] } },
  run: () => new Promise(() => {}),
});
export const fine = defineOperation({
  namespace: 'demo', name: 'fine', version: '1', inputs: {}, outputs: { y: { dtype: 'int64', shape: [] } },
  run: () => ({ y: 1n }),
});
`,
    );
    const workflow = await box.write('wf.json', {
      operations: ['./ops.mjs'],
      nodes: [
        { label: 'fine', operation: 'demo.fine', input: {} },
        { label: 'stuck', operation: 'demo.stuck', input: {} },
      ],
    });
    const first = await runCli(['run', workflow, '--workdir', box.path('wd')]);
    expect(first.code).toBe(70);
    expect(first.stderr).toContain("E_INTERNAL: nothing is left to wait for, yet 'stuck' did not finish");
    const status = await runCli(['status', workflow, '--workdir', box.path('wd')]);
    expect(status.stdout).toMatch(/^fine +[0-9a-f]{12} +committed/m);
    expect(status.stdout).not.toMatch(/^stuck +[0-9a-f]{12} +committed/m);
  });
});
