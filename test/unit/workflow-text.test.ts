// Reading a workflow file's bytes with long number lists kept as text: the document is what the exact reader
// gives for the whole text, but for a node input's long list, which is a NumberList of the same values; a
// syntax error is the one the whole text gives.
import { describe, expect, it } from 'vitest';
import { parseJsonExactly } from '../../src/identity/json-text.js';
import { NumberList } from '../../src/identity/number-list.js';
import { KEPT_LIST_MIN, parseWorkflowBytes } from '../../src/workflow/workflow-text.js';

const LONG = KEPT_LIST_MIN + 1;
const numbers = (n: number, spell: (i: number) => string): string =>
  `[${Array.from({ length: n }, (_, i) => spell(i)).join(', ')}]`;

/** The document with each NumberList replaced by its values: what the whole text parses to. */
function withValues(value: unknown): unknown {
  if (value instanceof NumberList) return value.values();
  if (Array.isArray(value)) return value.map(withValues);
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withValues(v)]));
  return value;
}

describe('parseWorkflowBytes', () => {
  const floats = numbers(LONG, (i) => (i % 3 === 0 ? `${i}.0` : String(i / 7)));
  const ints = numbers(LONG, (i) => String(i * 12345678901 - 3));
  const text = `{"nodes": [
    {"label": "a \\" [1, 2] \\\\", "operation": "scalems.Float64", "input": {"data": ${floats}, "note": "[${'1,'.repeat(5000)}1]"}},
    {"label": "b", "operation": "scalems.Integer64", "input": {"data": ${ints}}},
    {"label": "c", "operation": "x.Y", "input": {"rows": [${ints}, ${ints}], "short": [1, 2.0, 3]}}
  ], "subgraphs": {"s": {"inputs": [], "outputs": {}, "nodes": [{"label": "d", "operation": "x.Y", "input": {"data": ${floats}}}]}}}`;
  const document = parseWorkflowBytes(Buffer.from(text)) as {
    nodes: { input: { [field: string]: unknown } }[];
    subgraphs: { s: { nodes: { input: { data: unknown } }[] } };
  };

  it("keeps a node input's long list as a NumberList, and gives every other value as the whole text's", () => {
    expect(document.nodes[0]?.input['data']).toBeInstanceOf(NumberList);
    expect(document.nodes[1]?.input['data']).toBeInstanceOf(NumberList);
    expect(Array.isArray(document.nodes[2]?.input['rows'])).toBe(true);
    expect(Array.isArray(document.subgraphs.s.nodes[0]?.input.data)).toBe(true);
    expect(withValues(document)).toEqual(parseJsonExactly(text));
  });

  it('reads a text with no long list as parseJsonExactly does', () => {
    const small = '{"nodes": [{"label": "x", "input": {"data": [1.0, 2, 12345678901234567890]}}]}';
    expect(parseWorkflowBytes(Buffer.from(small))).toEqual(parseJsonExactly(small));
  });

  it('keeps no list in a SCALE-MS document, and a string like a placeholder stays a string', () => {
    const scalems = `{"version": "scalems_workflow_1", "nodes": [{"label": "x", "input": {"data": ${floats}}}]}`;
    expect(parseWorkflowBytes(Buffer.from(scalems))).toEqual(parseJsonExactly(scalems));
    const lookalike = `{"nodes": [{"label": "x", "input": {"data": ${floats}, "s": "\\u0000run-graph-list-0-0"}}]}`;
    const parsed = parseWorkflowBytes(Buffer.from(lookalike)) as { nodes: { input: { s: unknown } }[] };
    expect(parsed.nodes[0]?.input.s).toBe('\u0000run-graph-list-0-0');
  });

  it('throws the syntax error of the whole text, after or inside a long list', () => {
    for (const broken of [
      `{"nodes": [{"input": {"data": ${floats}}},]}`,
      `{"nodes": [{"input": {"data": ${floats.replace('2, ', '2,, ')}}}]}`,
      `{"nodes": [{"input": {"data": ${floats.slice(0, -1)}}}]}`,
    ]) {
      let expected: unknown;
      try {
        parseJsonExactly(broken);
      } catch (error) {
        expected = error;
      }
      expect(expected).toBeInstanceOf(SyntaxError);
      expect(() => parseWorkflowBytes(Buffer.from(broken))).toThrow((expected as Error).message);
    }
  });
});
