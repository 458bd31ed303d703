// Graphs from code: typed handles, a run in a WorkerContext with typed
// results, and the same graph serialized to a workflow file and run by the
// CLI giving the same uids (and so the same stores: nothing runs twice).
import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WorkerContext } from '../../src/engine/worker-context.js';
import { RunGraphError } from '../../src/errors.js';
import { GraphBuilder } from '../../src/api/graph-builder.js';
import { JsonFloat, add, float64, formatJson, integer64, type ArrayValue } from '../../src/index.js';
import { defineOperation, type TypedOperationDefinition } from '../../src/operations/define.js';
import type { OperationDefinition } from '../../src/operations/operation.js';
import { runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { demoOperationsModule } from '../support/workflows.js';

let box: Sandbox;
beforeEach(async () => {
  box = await createSandbox();
});
afterEach(async () => {
  await box.cleanup();
});

async function executions(box: Sandbox): Promise<string[]> {
  return (await readFile(box.path('log.txt'), 'utf8').catch(() => '')).split('\n').filter((line) => line !== '');
}

/** The demo operations, imported from the same module file the workflow names. */
async function demoOperations(
  version: string,
): Promise<{ simulate: OperationDefinition; summarize: OperationDefinition }> {
  const path = await box.write(`ops.mjs`, demoOperationsModule(version, box.path('log.txt')));
  // Typed loosely: the module is plain JavaScript, so its declarations are not visible to the compiler here.
  return (await import(pathToFileURL(path).href)) as { simulate: OperationDefinition; summarize: OperationDefinition };
}

describe('GraphBuilder', () => {
  it('builds the quickstart graph from code with the reference uid', async () => {
    const g = new GraphBuilder();
    const m = g.add('matrix', integer64, {
      data: [
        [1, 2],
        [3, 4],
      ],
    });
    g.add('doubled', add, { a: m.output('data'), b: m });
    const graph = await g.build();
    expect(graph.byLabel.get('matrix')?.uid).toBe('266bb4e33dfb7be89c04735cebe31cae8d7714243ccb9d137a1a37a46a645365');
    expect(g.toWorkflowSpec()).toEqual({
      nodes: [
        {
          label: 'matrix',
          operation: 'scalems.Integer64',
          input: {
            data: [
              [1, 2],
              [3, 4],
            ],
          },
        },
        { label: 'doubled', operation: 'run-graph.Add', input: { a: { $ref: 'matrix.data' }, b: { $ref: 'matrix' } } },
      ],
    });
  });

  it('takes bigints for int64 and writes float64 literals as floats, with SCALE-MS uids; the values round-trip exactly', async () => {
    const scaled = defineOperation({
      namespace: 'test',
      name: 'Offset',
      version: '1',
      inputs: { x: { dtype: 'float64', shape: [null] }, by: { dtype: 'int64', shape: [] } },
      outputs: { y: { dtype: 'int64', shape: [null] } },
      run: ({ x, by }) => ({ y: Array.from(x.data, (v) => BigInt(v) + by) }),
    });
    const g = new GraphBuilder();
    const extremes = g.add('extremes', integer64, { data: [[9223372036854775807n, -9223372036854775808n]] });
    const floats = g.add('floats', float64, { data: [[1, 2.5]] });
    const spelled = g.add('spelled', float64, { data: [[new JsonFloat(1), 2.5]] });
    const offset = g.add('offset', scaled, { x: [1, 2], by: 2n ** 62n });
    const offsetFloats = g.add('offset_floats', scaled, { x: [new JsonFloat(1), new JsonFloat(2)], by: 2n ** 62n });
    const context = await WorkerContext.open({ workdir: box.path('wd'), jobs: 2 });
    const run = await g.run(context);
    expect(run.summary.ok).toBe(true);
    expect(run.uid(extremes)).toBe('9b3c06e5eed92288553b30d91ceb1dcf2b5d1dc608566e7f1577e2d817e95cc8');
    expect(run.uid(floats)).toBe('8a93d11a535791d6c3fcc5a1cc7994ae25a692fa544d779a73aadf1ece3fe66c');
    expect(run.uid(spelled)).toBe(run.uid(floats));
    expect(run.uid(offsetFloats)).toBe(run.uid(offset));
    const values = (await run.value(extremes)) as ArrayValue;
    expect(Array.from(values.data as BigInt64Array)).toEqual([9223372036854775807n, -9223372036854775808n]);
    expect(Array.from((await run.value(offset)).data)).toEqual([2n ** 62n + 1n, 2n ** 62n + 2n]);
    expect(formatJson(g.toWorkflowSpec().nodes[0]?.input)).toBe(
      '{"data":[[9223372036854775807,-9223372036854775808]]}',
    );
  });

  it('runs in a WorkerContext; the CLI running the serialized graph gets the same uids and reuses every store', async () => {
    const { simulate, summarize } = await demoOperations('1.2');
    const g = new GraphBuilder();
    const sim = g.add('sim', simulate, { steps: 4, scale: 0.5 });
    const summary = g.add('summary', summarize, { positions: sim });
    const m = g.add('matrix', integer64, {
      data: [
        [1, 2],
        [3, 4],
      ],
    });
    g.add('doubled', add, { a: m, b: m });

    const context = await WorkerContext.open({ workdir: box.path('wd'), jobs: 2 });
    const run = await g.run(context);
    expect(run.summary.ok, JSON.stringify(run.summary.failures)).toBe(true);
    expect(await run.value(summary)).toBe(3);
    expect(await run.value(summary.output('note'))).toBe('sum of 4 positions');
    const positions = (await run.value(sim)) as { data: Float64Array };
    expect(Array.from(positions.data)).toEqual([0, 0.5, 1, 1.5]);
    expect((await executions(box)).sort()).toEqual(['sim', 'summary']);

    const workflow = await box.write('wf.json', g.toWorkflowSpec({ operations: ['./ops.mjs'] }));
    const validated = await runCli(['validate', workflow, '--json']);
    expect(validated.code, validated.stderr).toBe(0);
    const fromCli = new Map(
      (JSON.parse(validated.stdout) as { nodes: { label: string; uid: string }[] }).nodes.map((n) => [n.label, n.uid]),
    );
    for (const node of run.graph.nodes) expect(fromCli.get(node.label), node.label).toBe(node.uid);

    const cliRun = await runCli(['run', workflow, '--workdir', box.path('wd'), '--json']);
    expect(cliRun.code, cliRun.stderr).toBe(0);
    expect(cliRun.stdout).toContain('"reused":4');
    expect((await executions(box)).sort()).toEqual(['sim', 'summary']);
  });

  it('rejects bad labels, duplicate labels, foreign references and hand-written $ref objects', () => {
    const g = new GraphBuilder();
    const m = g.add('m', integer64, { data: [1] });
    expect(() => g.add('m', integer64, { data: [2] })).toThrow(/label 'm' is already used/);
    expect(() => g.add('two words', integer64, { data: [2] })).toThrow(/label must start with a letter/);
    const other = new GraphBuilder();
    expect(() => other.add('d', add, { a: m, b: m })).toThrow(RunGraphError);
    expect(() => other.add('d', add, { a: m, b: 1 })).toThrow(/reference to node 'm' of another GraphBuilder/);
    expect(() => g.add('e', add, { a: { $ref: 'm' }, b: 1 })).toThrow(
      /a literal object with "\$ref" or "\$file" in a builder input/,
    );
    expect(() => g.add('f', integer64, { data: [Number.NaN] })).toThrow(/not plain JSON/);
  });

  it('refuses two different operations with one name', async () => {
    const make = (version: string): TypedOperationDefinition =>
      defineOperation({
        namespace: 'demo',
        name: 'same',
        version,
        inputs: {},
        outputs: { y: { dtype: 'json' } },
        run: () => ({ y: 1 }),
      });
    const g = new GraphBuilder();
    g.add('a', make('1'), {});
    g.add('b', make('2'), {});
    await expect(g.build()).rejects.toMatchObject({
      code: 'E_DUPLICATE_OPERATION',
      message: expect.stringContaining("node 'b' uses another definition than node 'a'") as unknown,
    });
  });
});

describe('GraphBuilder node options', () => {
  // Fails on its first attempt in a store (it counts its attempts in a file beside the sandbox), then succeeds.
  const flaky = (counter: string) =>
    defineOperation({
      namespace: 'demo',
      name: 'flaky',
      version: '1',
      inputs: { x: { dtype: 'int64' } },
      outputs: { y: { dtype: 'int64' } },
      run: async ({ x }) => {
        const seen = Number(await readFile(counter, 'utf8').catch(() => '0')) + 1;
        await writeFile(counter, String(seen));
        if (seen === 1) throw new Error('first attempt fails');
        return { y: x };
      },
    });
  // Never ends by itself: it waits for its signal.
  const hang = defineOperation({
    namespace: 'demo',
    name: 'hang',
    version: '1',
    inputs: { x: { dtype: 'int64' } },
    outputs: { y: { dtype: 'int64' } },
    run: (_input, context) =>
      new Promise<never>((_resolve, reject) =>
        context.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
      ),
  });

  it('carries resources and a retry policy to the graph and the workflow file, outside the uid', async () => {
    const plain = new GraphBuilder();
    plain.add('n', integer64, { data: [1] });
    const tuned = new GraphBuilder();
    tuned.add('n', integer64, { data: [1] }, { resources: { cpus: 2, time: '1m' }, retries: 3, backoff: '2s' });
    const [a, b] = [await plain.build(), await tuned.build()];
    expect(b.byLabel.get('n')?.uid).toBe(a.byLabel.get('n')?.uid);
    expect(b.byLabel.get('n')?.resources).toMatchObject({ cpus: 2, timeSeconds: 60 });
    expect(b.byLabel.get('n')?.retry.retries).toBe(3);
    expect(a.byLabel.get('n')?.retry.retries).toBe(0);
    expect(tuned.toWorkflowSpec().nodes[0]).toMatchObject({ resources: { cpus: 2, time: '1m' }, retries: 3 });
  });

  it('retries a node as its retries say, and kills it at its time limit', async () => {
    const g = new GraphBuilder();
    g.add('retried', flaky(box.path('count')), { x: 7n }, { retries: 1, backoff: 0 });
    g.add('limited', hang, { x: 1n }, { resources: { time: 1 } });
    const context = await WorkerContext.open({ workdir: box.path('wd'), jobs: 2 });
    const run = await g.run(context);
    expect(await readFile(box.path('count'), 'utf8')).toBe('2');
    expect(run.summary.results.get('retried')?.attempt).toBe(2);
    expect(run.summary.failures.map((f) => [f.label, f.error.code])).toEqual([['limited', 'E_TIMEOUT']]);
  });

  it('refuses a bad retry policy as the node is added and bad resources when the graph is built, naming node and field', async () => {
    const cpus = new GraphBuilder();
    cpus.add('n', integer64, { data: [1] }, { resources: { cpus: 0 } });
    await expect(cpus.build()).rejects.toMatchObject({
      code: 'E_RESOURCES',
      location: { node: 'n', field: 'resources.cpus' },
    });
    const retries = new GraphBuilder();
    expect(() => retries.add('n', integer64, { data: [1] }, { retries: -1 })).toThrow(
      expect.objectContaining({ code: 'E_USAGE', location: expect.objectContaining({ node: 'n', field: 'retries' }) }),
    );
    expect(() => retries.add('m', integer64, { data: [1] }, { backoff: 'soon' })).toThrow(
      "node 'm': backoff: expected a duration",
    );
  });
});
