/**
 * A wrong workflow is refused before anything is written: one readable error
 * naming the file, the node and the field, exit code 2, and no working
 * directory created. `validate` makes the same checks with the same exit
 * code, and on a good file prints every node's uid.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, uidsByLabel } from '../support/cli.js';
import { createSandbox, writeJson, type Sandbox } from '../support/sandbox.js';
import { loggedNode, ref, type WorkflowDoc } from '../support/workflows.js';

interface BadCase {
  name: string;
  /** The workflow file's content: an object written as JSON, or raw text. */
  content: WorkflowDoc | { [key: string]: unknown } | string | undefined;
  code: string;
  /** Node label and field the message must name; undefined where there is none (e.g. the file is unreadable). */
  node: string | undefined;
  field: string | undefined;
  /** More text the message must hold. */
  mentions: (string | RegExp)[];
}

const matrix = {
  label: 'matrix',
  operation: 'scalems.Integer64',
  input: {
    data: [
      [1, 2],
      [3, 4],
    ],
  },
};

/** A trailing comma in a list: Node 20's JSON.parse names no position for this one. */
const BAD_JSON =
  '{\n  "nodes": [\n    {"label": "a", "operation": "scalems.Integer64", "input": {"data": [1, 2]}},\n  ]\n}\n';
/** A trailing comma in an object: JSON.parse gives a position. */
const BAD_JSON_OBJECT =
  '{\n  "nodes": [\n    {"label": "a", "operation": "scalems.Integer64", "input": {"data": [1, 2]},}\n  ]\n}\n';

const CASES: BadCase[] = [
  {
    name: 'invalid JSON (trailing comma in a list)',
    content: BAD_JSON,
    code: 'E_WORKFLOW_JSON',
    node: undefined,
    field: undefined,
    // The trailing comma ends line 3; the parser stops at the `]` on line 4.
    mentions: ['not valid JSON at line 4, column 3:', "Unexpected token ']'"],
  },
  {
    name: 'invalid JSON (trailing comma in an object)',
    content: BAD_JSON_OBJECT,
    code: 'E_WORKFLOW_JSON',
    node: undefined,
    field: undefined,
    // The parser stops at the `}` right after the comma, and says where.
    mentions: [`not valid JSON at line 3, column ${(BAD_JSON_OBJECT.split('\n')[2] ?? '').indexOf(',}') + 2}:`],
  },
  {
    name: 'a schema violation',
    content: { nodes: [matrix, { label: 'total', operation: 'run-graph.Sum', input: 42 }] },
    code: 'E_WORKFLOW_SCHEMA',
    node: 'total',
    field: 'input',
    mentions: ['must be object'],
  },
  {
    name: 'an unknown property of a node',
    content: {
      nodes: [matrix, { label: 'total', operation: 'run-graph.Sum', input: { array: ref('matrix') }, colour: 'red' }],
    },
    code: 'E_WORKFLOW_SCHEMA',
    node: 'total',
    field: undefined,
    mentions: ["unknown property 'colour'"],
  },
  {
    name: 'a duplicate label',
    content: { nodes: [matrix, { label: 'matrix', operation: 'scalems.Integer64', input: { data: [5] } }] },
    code: 'E_DUPLICATE_LABEL',
    node: 'matrix',
    field: 'nodes[1].label',
    mentions: ['more than one node'],
  },
  {
    name: 'an unknown operation',
    content: { nodes: [matrix, { label: 'total', operation: 'run-graph.Summ', input: { array: ref('matrix') } }] },
    code: 'E_UNKNOWN_OPERATION',
    node: 'total',
    field: 'operation',
    mentions: ["'run-graph.Summ'", "did you mean 'run-graph.Sum'"],
  },
  {
    name: 'a reference to a missing node',
    content: { nodes: [matrix, { label: 'total', operation: 'run-graph.Sum', input: { array: ref('matrx') } }] },
    code: 'E_UNKNOWN_REFERENCE',
    node: 'total',
    field: 'input.array',
    mentions: ["'matrx'", "did you mean 'matrix'"],
  },
  {
    name: 'a reference to a missing output',
    content: {
      nodes: [matrix, { label: 'total', operation: 'run-graph.Sum', input: { array: ref('matrix.values') } }],
    },
    code: 'E_UNKNOWN_OUTPUT',
    node: 'total',
    field: 'input.array',
    mentions: ["no output 'values'", 'its outputs are: data'],
  },
  {
    name: 'a cycle',
    content: {
      nodes: [
        matrix,
        { label: 'first', operation: 'run-graph.Add', input: { a: ref('matrix'), b: ref('third') } },
        { label: 'second', operation: 'run-graph.Add', input: { a: ref('first'), b: 1 } },
        { label: 'third', operation: 'run-graph.Add', input: { a: ref('second'), b: 1 } },
      ],
    },
    code: 'E_CYCLE',
    node: undefined,
    field: undefined,
    mentions: [
      /cycle: (first -> second -> third -> first|second -> third -> first -> second|third -> first -> second -> third)/,
    ],
  },
  {
    name: 'a wrong input type (Add given a Subprocess file output)',
    content: {
      nodes: [
        matrix,
        {
          label: 'notes',
          operation: 'scalems.Subprocess',
          input: { argv: ['sh', '-c', 'echo 1 > n.txt'], outputFiles: ['n.txt'] },
        },
        { label: 'sum', operation: 'run-graph.Add', input: { a: ref('matrix'), b: ref('notes.n.txt') } },
      ],
    },
    code: 'E_INPUT_TYPE',
    node: 'sum',
    field: 'input.b',
    mentions: ['expected an array', "'notes.n.txt'"],
  },
  {
    name: 'a wrong shape (Add of [2, 2] and [3])',
    content: {
      nodes: [
        matrix,
        { label: 'vector', operation: 'scalems.Integer64', input: { data: [1, 2, 3] } },
        { label: 'sum', operation: 'run-graph.Add', input: { a: ref('matrix'), b: ref('vector') } },
      ],
    },
    code: 'E_INPUT_SHAPE',
    node: 'sum',
    field: 'input.b',
    mentions: ['[3]', '[2, 2]'],
  },
  {
    name: 'ragged Integer64 data',
    content: { nodes: [{ label: 'ragged', operation: 'scalems.Integer64', input: { data: [[1, 2], [3]] } }] },
    code: 'E_INPUT_SHAPE',
    node: 'ragged',
    field: 'input.data[1]',
    mentions: ['ragged'],
  },
  {
    name: 'Integer64 data with 1.5',
    content: { nodes: [{ label: 'half', operation: 'scalems.Integer64', input: { data: [1, 1.5] } }] },
    code: 'E_INPUT_TYPE',
    node: 'half',
    field: 'input.data[1]',
    mentions: ['1.5', 'scalems.Float64'],
  },
  {
    name: 'Integer64 data one past the int64 range',
    content:
      '{"nodes": [{"label": "big", "operation": "scalems.Integer64", "input": {"data": [[9223372036854775807, 9223372036854775808]]}}]}',
    code: 'E_INPUT_TYPE',
    node: 'big',
    field: 'input.data[0][1]',
    // Quoted as the file has it, not rounded to 9223372036854776000.
    mentions: ['element [0][1] is 9223372036854775808, outside the int64 range'],
  },
  {
    name: 'Integer64 data given as a float past 2^53',
    content: '{"nodes": [{"label": "rounded", "operation": "scalems.Integer64", "input": {"data": [1e18]}}]}',
    code: 'E_INPUT_TYPE',
    node: 'rounded',
    field: 'input.data[0]',
    mentions: ['element [0] is 1e+18, a float past 2^53'],
  },
  {
    name: 'Float64 data too large for a float',
    content: '{"nodes": [{"label": "overflow", "operation": "scalems.Float64", "input": {"data": [1.0, 1e400]}}]}',
    code: 'E_INPUT_TYPE',
    node: 'overflow',
    field: 'input.data[1]',
    mentions: ['Infinity', 'which a float64 cannot hold'],
  },
  {
    name: 'a missing workflow file',
    content: undefined,
    code: 'E_WORKFLOW_READ',
    node: undefined,
    field: undefined,
    mentions: ['no such file'],
  },
  {
    name: 'a $file pointing to a missing file',
    content: {
      nodes: [{ label: 'loaded', operation: 'run-graph.NpyFile', input: { file: { $file: 'data/missing.npy' } } }],
    },
    code: 'E_FILE_INPUT',
    node: 'loaded',
    field: 'input.file',
    mentions: ["'data/missing.npy'", 'no such file'],
  },
];

describe('bad input', () => {
  let box: Sandbox;
  beforeAll(async () => {
    box = await createSandbox();
  });
  afterAll(async () => {
    await box.cleanup();
  });

  CASES.forEach((badCase, index) => {
    it(`refuses ${badCase.name}: exit 2, file/node/field named, nothing written`, async () => {
      const file = box.path(`case-${index}.json`);
      if (typeof badCase.content === 'string') await writeFile(file, badCase.content);
      else if (badCase.content !== undefined) await writeJson(file, badCase.content);
      const workdir = box.path(`case-${index}.wd`);
      const before = (await readdir(box.dir)).sort();

      const run = await runCli(['run', file, '--workdir', workdir]);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stdout).toBe('');
      const lines = run.stderr.trimEnd().split('\n');
      // One line (a message may quote multi-line text only for node failures, not here).
      expect(lines).toHaveLength(1);
      const line = lines[0] ?? '';
      expect(line).toMatch(new RegExp(`^run-graph: ${badCase.code}: `));
      expect(line).toContain(file);
      if (badCase.node !== undefined) expect(line).toContain(`node '${badCase.node}'`);
      if (badCase.field !== undefined) expect(line).toContain(`field '${badCase.field}'`);
      for (const mention of badCase.mentions) {
        if (typeof mention === 'string') expect(line).toContain(mention);
        else expect(line).toMatch(mention);
      }
      // Nothing written: neither the --workdir nor the default one beside the file, nor anything else.
      expect((await readdir(box.dir)).sort()).toEqual(before);

      // Without --workdir the default one is not created either.
      const runDefault = await runCli(['run', file]);
      expect(runDefault.code).toBe(2);
      expect((await readdir(box.dir)).sort()).toEqual(before);

      const validate = await runCli(['validate', file]);
      expect(validate.code).toBe(2);
      expect(validate.stderr.trimEnd()).toBe(line);
      expect((await readdir(box.dir)).sort()).toEqual(before);
    });
  });

  it('names the cycle in full with every label on it', async () => {
    const cycle = CASES.find((c) => c.code === 'E_CYCLE');
    const file = box.path('cycle-again.json');
    await writeJson(file, cycle?.content);
    const result = await runCli(['validate', file]);
    expect(result.code).toBe(2);
    for (const label of ['first', 'second', 'third']) expect(result.stderr).toContain(label);
    expect(result.stderr).not.toMatch(/matrix ->|-> matrix/);
  });

  it('validates a good file: exit 0, every node with its uid, nothing written', async () => {
    const file = box.path('good.json');
    const log = box.path('never-written.log');
    await writeJson(file, {
      nodes: [
        matrix,
        { label: 'total', operation: 'run-graph.Sum', input: { array: ref('matrix') } },
        loggedNode('step', log, { inputs: ['total'] }),
      ],
    });
    const before = (await readdir(box.dir)).sort();
    const text = await runCli(['validate', file]);
    expect(text.code).toBe(0);
    expect(text.stderr).toBe('');
    expect(text.stdout).toContain('valid, 3 nodes');
    expect(text.stdout).toMatch(/matrix \(266bb4e33dfb\) scalems\.Integer64/);
    const uids = await uidsByLabel(file);
    expect(uids.get('matrix')).toBe('266bb4e33dfb7be89c04735cebe31cae8d7714243ccb9d137a1a37a46a645365');
    for (const [label, uid] of uids) {
      expect(uid).toMatch(/^[0-9a-f]{64}$/);
      expect(text.stdout).toContain(`${label} (${uid.slice(0, 12)})`);
    }
    expect(new Set(uids.values()).size).toBe(3);
    expect((await readdir(box.dir)).sort()).toEqual(before);
  });
});
