// A number past float64's range (`1e999`) in a workflow file: one E_NOT_CANONICAL line naming the file,
// the node and the field, saying what such a literal reads as, and nothing written.
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createSandbox, exists, type Sandbox } from '../support/sandbox.js';

let box: Sandbox;
beforeAll(async () => {
  box = await createSandbox();
});
afterAll(async () => {
  await box.cleanup();
});

async function runText(name: string, text: string): Promise<{ code: number | null; stderr: string }> {
  const path = box.path(name);
  await writeFile(path, text);
  return runCli(['run', path, '--workdir', box.path(`${name}.wd`)]);
}

describe('E_NOT_CANONICAL', () => {
  it('names the file, the node and the field of a 1e999 literal', async () => {
    const result = await runText(
      'huge.json',
      '{"nodes": [{"label": "scaled", "operation": "run-graph.Add", "input": {"a": [[1]], "b": 1e999}}]}',
    );
    expect(result.code).toBe(2);
    const [line, ...rest] = result.stderr.trim().split('\n');
    expect(rest).toEqual([]);
    expect(line).toMatch(/^run-graph: E_NOT_CANONICAL: \S*\/huge\.json, node 'scaled', field 'input\.b': /);
    expect(line).toContain('such as 1e999) reads as Infinity');
    expect(await exists(box.path('huge.json.wd'))).toBe(false);
  });

  it('names the ensemble member whose input it is', async () => {
    const result = await runText(
      'member.json',
      '{"nodes": [{"label": "m", "map": {"over": [1, 1e999], "as": "a", "operation": "run-graph.Multiply", "input": {"b": [1]}}}]}',
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^run-graph: E_NOT_CANONICAL: \S*\/member\.json, node 'm\[1\]', field 'input\.a': /);
  });
});
