// Large literals kept as text (a long number list of a node's input) through the CLI: their uids are the
// ones the plain reading of the file gives (computed here from plain values, and pinned to the uids the
// reader before this one printed for the same files); they run to the same arrays and resume by reuse,
// however their numbers are spelled; a respelled literal is the same node, a changed one another; a bad
// number in one is the error it always was, before anything is written.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint, type Uid } from '../../src/identity/fingerprint.js';
import type { JsonValue } from '../../src/identity/canonical-json.js';
import { parseJsonExactly } from '../../src/identity/json-text.js';
import { decodeNpy } from '../../src/values/npy.js';
import { literalAsWritten } from '../../src/values/values.js';
import { runCli } from '../support/cli.js';
import { createSandbox, exists, type Sandbox } from '../support/sandbox.js';

const N = 20_000;

/** Every spelling a float literal may use, in turn. */
function oddFloatTokens(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    switch (i % 10) {
      case 0:
        out.push(String((i * 0.618033988749895) % 1));
        break;
      case 1:
        out.push(String(i));
        break;
      case 2:
        out.push(`${i}.0`);
        break;
      case 3:
        out.push(`${i}e-3`);
        break;
      case 4:
        out.push(`${i}E2`);
        break;
      case 5:
        out.push(String(i * 1e-9));
        break;
      case 6:
        out.push('-0.0');
        break;
      case 7:
        out.push(`1234567890123456789${i % 10}`);
        break;
      case 8:
        out.push('0.1000');
        break;
      default:
        out.push(String(i * 1e13 + 0.5));
    }
  }
  return out;
}

/** The literal and a Sum of it, the list's numbers written as `tokens`. */
const workflowText = (operation: string, tokens: readonly string[]): string =>
  `{"nodes": [{"label": "big", "operation": "${operation}", "input": {"data": [${tokens.join(',')}]}}, ` +
  `{"label": "total", "operation": "run-graph.Sum", "input": {"array": {"$ref": "big"}}}]}`;

const stringified = Array.from({ length: N }, (_, i) => ((i * 0.618033988749895) % 1) * 10 ** ((i % 9) - 6));

const CASES = {
  // Spellings the exact reader is needed for, and ones repr does not use.
  odd: { operation: 'scalems.Float64', tokens: oddFloatTokens(N), dtype: 'float64' as const },
  // As JSON.stringify writes floats: repr's spelling but for an integer and values below 1e-4.
  stringified: { operation: 'scalems.Float64', tokens: stringified.map(String), dtype: 'float64' as const },
  ints: {
    operation: 'scalems.Integer64',
    tokens: Array.from({ length: N }, (_, i) => String(i * 7919 - 50_000_000)),
    dtype: 'int64' as const,
  },
  // Integers past 15 digits: read as values, the way every literal was.
  bigints: {
    operation: 'scalems.Integer64',
    tokens: Array.from({ length: N }, (_, i) => (i % 100 === 0 ? '9223372036854775807' : String(-i))),
    dtype: 'int64' as const,
  },
};

// Printed by `run-graph validate` for these files before long lists were kept as text.
const PINNED: { [name in keyof typeof CASES]: [string, string] } = {
  odd: [
    '1d27ac9ea2a2f8f8ee18ad68f6584929b1d14ee7b8bfefdef278456900aad216',
    'ce3554746c21c80b65562a4c7082901997001ef53ff9813dc7dbad68945531df',
  ],
  stringified: [
    '7881469fa5a6dd0b59ef844139cc91709c67834e56b56b52c9de90d26761c535',
    'dc16840624b9cf8fe1dee4f42612a0d81f32ae687dda1f41dc05704608b9b2fa',
  ],
  ints: [
    '1c4d18f563d46699d14ef43f025b1cdbb82adbdf63d77bcbaabbdfe8eb6dc52d',
    'e4c75252c835a5fd57347245b1c252206b2abda9d97141a6a2fd603a0dabdaf3',
  ],
  bigints: [
    'b3e5cbe325383f5c355a8394394849ce0eb3bdb3f29adcf24c6500dc167dcc16',
    'f2a76ebced1aa0f83215f22f6e3db616186ea8cb13de568920a422e67bc4b3c2',
  ],
};

/** The literal's uid from plain values: the exact reading of its list, written by dtype, fingerprinted. */
function plainUid(operation: string, tokens: readonly string[], dtype: 'float64' | 'int64'): Uid {
  const data = literalAsWritten(parseJsonExactly(`[${tokens.join(',')}]`) as JsonValue, dtype);
  const [namespace = '', name = ''] = operation.split('.');
  return fingerprint({ depends: [], input: { data }, operation: [namespace, name] });
}

let box: Sandbox;

async function uidsOf(path: string): Promise<string[]> {
  const result = await runCli(['validate', path, '--json']);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { nodes: { uid: string }[] }).nodes.map((n) => n.uid);
}

async function run(path: string, workdir: string): Promise<{ built: number; reused: number }> {
  const result = await runCli(['run', path, '--workdir', workdir, '--json'], { timeoutMs: 60_000 });
  expect(result.code, result.stderr).toBe(0);
  const summary = /"committed":(\d+).*?"reused":(\d+)|"reused":(\d+).*?"committed":(\d+)/.exec(result.stdout);
  const built = Number(summary?.[1] ?? summary?.[4]);
  const reused = Number(summary?.[2] ?? summary?.[3]);
  return { built, reused };
}

beforeAll(async () => {
  box = await createSandbox();
});
afterAll(async () => {
  await box.cleanup();
});

describe('a large literal kept as text', () => {
  for (const [name, { operation, tokens, dtype }] of Object.entries(CASES)) {
    it(`${name}: has the uid of its plain values, runs to the same array and resumes by reuse`, async () => {
      const path = box.path(`${name}.json`);
      await writeFile(path, workflowText(operation, tokens));
      const [big, total] = await uidsOf(path);
      expect(big).toBe(plainUid(operation, tokens, dtype));
      expect([big, total]).toEqual(PINNED[name as keyof typeof CASES]);
      const workdir = box.path(`wd-${name}`);
      expect(await run(path, workdir)).toEqual({ built: 2, reused: 0 });
      const array = decodeNpy(await readFile(join(workdir, big ?? '', 'data.npy')));
      const expected = dtype === 'float64' ? tokens.map(Number) : tokens.map((t) => BigInt(t));
      expect(Array.from(array.data as ArrayLike<number | bigint>)).toEqual(expected);
      expect(await run(path, workdir)).toEqual({ built: 0, reused: 2 });
    }, 120_000);
  }

  it('respelled, it is the same node and reused; one number changed, it is another', async () => {
    const { operation, tokens } = CASES.stringified;
    const path = box.path('spelled.json');
    await writeFile(path, workflowText(operation, tokens));
    const workdir = box.path('wd-spelled');
    expect(await run(path, workdir)).toEqual({ built: 2, reused: 0 });
    const respelled = tokens.map((t, i) => (i % 50 === 1 && t.includes('.') && !t.includes('e') ? `${t}00` : t));
    expect(respelled).not.toEqual(tokens);
    await writeFile(path, workflowText(operation, respelled));
    expect(await run(path, workdir)).toEqual({ built: 0, reused: 2 });
    const changed = [...tokens];
    changed[N - 1] = '0.25';
    await writeFile(path, workflowText(operation, changed));
    // explain names the element, as it does for a list read as values.
    const explain = await runCli(['explain', path, 'big', '--workdir', workdir]);
    expect(explain.code, explain.stderr).toBe(0);
    expect(explain.stdout).toContain(`- input.data[${N - 1}] changed: ${tokens[N - 1] ?? ''} -> 0.25`);
    expect(await run(path, workdir)).toEqual({ built: 2, reused: 0 });
  }, 120_000);

  it('a number a float64 cannot hold, or an int64 literal with a fraction, is the error it was, nothing written', async () => {
    const tokens = [...CASES.stringified.tokens];
    tokens[4321] = '1e999';
    const path = box.path('overflow.json');
    await writeFile(path, workflowText('scalems.Float64', tokens));
    const overflow = await runCli(['run', path, '--workdir', box.path('wd-overflow')]);
    expect(overflow.code).toBe(2);
    expect(overflow.stderr).toMatch(
      /^run-graph: E_INPUT_TYPE: \S*overflow\.json, node 'big', field 'input\.data\[4321\]': element \[4321\] is Infinity, which a float64 cannot hold/,
    );
    const ints = [...CASES.ints.tokens];
    ints[17] = '2.5';
    await writeFile(path, workflowText('scalems.Integer64', ints));
    const fraction = await runCli(['run', path, '--workdir', box.path('wd-overflow')]);
    expect(fraction.code).toBe(2);
    expect(fraction.stderr).toMatch(
      /E_INPUT_TYPE: .*field 'input\.data\[17\]': element \[17\] is 2\.5, not an integer/,
    );
    expect(await exists(box.path('wd-overflow'))).toBe(false);
  });

  it('a syntax error inside a long list names its line and column', async () => {
    const path = box.path('broken.json');
    const text = workflowText('scalems.Float64', CASES.stringified.tokens);
    const at = text.indexOf(',', 50_000);
    await writeFile(path, `${text.slice(0, at)},${text.slice(at)}`);
    const result = await runCli(['validate', path]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`E_WORKFLOW_JSON: ${path}: not valid JSON at line 1, column ${at + 2}`);
  });
});
