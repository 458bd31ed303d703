// SCALE-MS scalems_workflow_1 documents: `run` takes one directly and its
// stores get the uids the document declares (the Integer64 reference record
// among them); `import` prints the equivalent workflow; a declared uid that
// does not match, a referent out of topological order, or a string member
// that is not a reference are errors naming the referent and member.
import { readdir } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../../src/operations/registry.js';
import { buildGraph } from '../../src/workflow/graph.js';
import { toScalemsDocument } from '../../src/workflow/scalems.js';
import { runCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { storeUids } from '../support/stores.js';

const MATRIX = '266bb4e33dfb7be89c04735cebe31cae8d7714243ccb9d137a1a37a46a645365';

let box: Sandbox;
beforeEach(async () => {
  box = await createSandbox();
});
afterEach(async () => {
  await box.cleanup();
});

/** A document for matrix -> doubled -> total, with uids as run-graph computes them. */
async function quickDocument(): Promise<{ referents: { uid: string; label?: string; [member: string]: unknown }[] }> {
  const graph = await buildGraph(
    {
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
        { label: 'doubled', operation: 'run-graph.Add', input: { a: { $ref: 'matrix' }, b: { $ref: 'matrix.data' } } },
        { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'doubled' } } },
      ],
    },
    { registry: builtinRegistry() },
  );
  return toScalemsDocument(graph) as unknown as {
    referents: { uid: string; label?: string; [member: string]: unknown }[];
  };
}

describe('SCALE-MS documents', () => {
  it('the Integer64 reference record, written by hand, runs under its declared uid', async () => {
    const doc = await box.write('doc.json', {
      version: 'scalems_workflow_1',
      types: {},
      referents: [
        {
          uid: MATRIX,
          label: 'matrix',
          type: ['scalems', 'Integer64'],
          data: [
            [1, 2],
            [3, 4],
          ],
        },
      ],
    });
    const result = await runCli(['run', doc, '--workdir', box.path('wd')]);
    expect(result.code, result.stderr).toBe(0);
    expect(await storeUids(box.path('wd'))).toEqual([MATRIX]);
  });

  it('a document with references runs, each store under the uid its referent declares', async () => {
    const document = await quickDocument();
    expect(document.referents[1]).toMatchObject({
      label: 'doubled',
      type: ['run-graph', 'Add', '1'],
      a: `${MATRIX}.data`,
      b: `${MATRIX}.data`,
    });
    const doc = await box.write('doc.json', document);
    const result = await runCli(['run', doc, '--workdir', box.path('wd')]);
    expect(result.code, result.stderr).toBe(0);
    const stores = await storeUids(box.path('wd'));
    expect(stores).toEqual(document.referents.map((r) => r.uid).sort());
  });

  it('import prints the equivalent workflow, whose uids are the declared ones', async () => {
    const document = await quickDocument();
    const doc = await box.write('doc.json', document);
    const out = box.path('wf.json');
    const imported = await runCli(['import', doc, '--output', out]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toContain('3 referents; every declared uid matches');
    const validated = await runCli(['validate', out, '--json']);
    const uids = (JSON.parse(validated.stdout) as { nodes: { uid: string }[] }).nodes.map((n) => n.uid).sort();
    expect(uids).toEqual(document.referents.map((r) => r.uid).sort());
  });

  it('a declared uid that does not match is an error naming the referent', async () => {
    const document = await quickDocument();
    // The last referent: nothing references it, so only its own uid is wrong.
    const wrong = document.referents[2];
    if (wrong !== undefined) wrong.uid = 'f'.repeat(64);
    const doc = await box.write('doc.json', document);
    const result = await runCli(['run', doc, '--workdir', box.path('wd')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `run-graph: E_UID_MISMATCH: ${doc}, node 'total', field 'referents[2].uid': declares uid ${'f'.repeat(64)}, but its record hashes to`,
    );
    expect(await readdir(box.dir)).not.toContain('wd');
  });

  it('a referent before the one it references, and a string that is not a reference, are errors', async () => {
    const document = await quickDocument();
    const outOfOrder = await box.write('order.json', {
      ...document,
      referents: [document.referents[1], document.referents[0], document.referents[2]],
    });
    const order = await runCli(['validate', outOfOrder]);
    expect(order.code).toBe(2);
    expect(order.stderr).toContain("field 'referents[0].a': reference to 266bb4e33dfb");
    expect(order.stderr).toContain('which no earlier referent declares');

    const text = await box.write('text.json', {
      version: 'scalems_workflow_1',
      types: {},
      referents: [{ uid: MATRIX, type: ['scalems', 'Integer64'], data: 'hello' }],
    });
    const literal = await runCli(['validate', text]);
    expect(literal.code).toBe(2);
    expect(literal.stderr).toContain(
      "field 'referents[0].data': a string member is a reference ('uid' or 'uid.output'), got \"hello\" (string)",
    );
  });

  it('a version in the type that is not the registered one is an error', async () => {
    const document = await quickDocument();
    const doubled = document.referents[1];
    if (doubled !== undefined) doubled['type'] = ['run-graph', 'Add', '7'];
    const result = await runCli(['validate', await box.write('doc.json', document)]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('E_UID_MISMATCH');
    expect(result.stderr).toContain('type names version "7" of run-graph.Add, but the registered one is "1"');
  });

  it('import refuses a plain workflow file', async () => {
    const result = await runCli(['import', 'examples/quickstart.json']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('not a scalems_workflow_1 document');
  });
});
