// The build compiles the workflow schema ahead of time (npm test builds
// first); a run loads that validator instead of compiling the schema, but
// only if it was made from the schema as it is now.
import { existsSync, readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { fanoutWorkflow } from '../../bench/workflows.js';
import { AJV_OPTIONS, schemaDigest, schemaPath } from '../../src/workflow/schema.js';
import * as built from '../../dist/workflow/schema.js';

const NAME = 'workflow.schema.json';
const text = readFileSync(schemaPath(NAME), 'utf8');

describe('the precompiled workflow schema', () => {
  it('is built, and tagged with the sha256 of the schema it was made from', () => {
    expect(existsSync(built.precompiledPath(NAME)), 'run `npm run build` (npm test does)').toBe(true);
    expect(built.precompiledValidator(NAME, schemaDigest(text))).toBeTypeOf('function');
  });

  it('is ignored once the schema differs from the one it was made from', () => {
    expect(built.precompiledValidator(NAME, schemaDigest(`${text} `))).toBeUndefined();
  });

  it('judges documents as the schema compiled at run time does, naming the same place', () => {
    const precompiled = built.precompiledValidator(NAME, schemaDigest(text));
    if (precompiled === undefined) throw new Error('no precompiled validator');
    const compiled = new Ajv2020(AJV_OPTIONS).compile(JSON.parse(text) as object);
    const good = JSON.parse(JSON.stringify(fanoutWorkflow(3))) as { nodes: { label: string; operation?: string }[] };
    const documents: unknown[] = [
      good,
      { nodes: [] },
      {},
      { nodes: [{ label: 'bad label!', operation: 'run-graph.Add', input: {} }] },
      { ...good, nodes: [...good.nodes, { label: 'x' }] },
      { ...good, extra: true },
    ];
    for (const document of documents) {
      const a = precompiled(document);
      const b = compiled(document);
      expect(a, JSON.stringify(document)).toBe(b);
      expect(precompiled.errors?.[0]?.instancePath).toBe(compiled.errors?.[0]?.instancePath);
      expect(precompiled.errors?.[0]?.keyword).toBe(compiled.errors?.[0]?.keyword);
    }
  });
});
