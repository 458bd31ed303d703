// Type-level tests: `npx tsc -p tsconfig.json --noEmit` checks this file
// (tsconfig includes test/). Every `@ts-expect-error` line must be a
// compile error, or tsc fails with "unused @ts-expect-error"; every
// `expectTypeOf` must hold. Vitest also runs it, so the definitions made
// here are checked at run time too.
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { JsonValue } from '../../src/identity/canonical-json.js';
import { GraphBuilder, fileInput, type NodeHandle, type OutputRef } from '../../src/api/graph-builder.js';
import type { ArrayValue } from '../../src/values/npy.js';
import { defineOperation } from '../../src/operations/define.js';
import { add, integer64 } from '../../src/index.js';
import type { InputFile, InputValue, OutputFile, OutputValueOf } from '../../src/operations/ports.js';

const simulate = defineOperation({
  namespace: 'demo',
  name: 'simulate',
  version: '1.3',
  inputs: {
    steps: { dtype: 'int64', shape: [] },
    start: { dtype: 'float64', shape: [3] },
    temperature: { dtype: 'float64', shape: [] },
    flags: { dtype: 'bool', shape: [null] },
    name: { dtype: 'string' },
    tags: { dtype: 'string', shape: [null] },
    config: { dtype: 'json' },
    script: { dtype: 'file' },
    seed: { dtype: 'int64', shape: [], optional: true },
  },
  outputs: {
    trajectory: { dtype: 'float64', shape: [null, 3] },
    energy: { dtype: 'float64', shape: [] },
    count: { dtype: 'int64', shape: [] },
    ok: { dtype: 'bool', shape: [] },
    summary: { dtype: 'string' },
    log: { dtype: 'file' },
    stats: { dtype: 'json' },
  },
  defaultOutput: 'trajectory',
  run(input) {
    expectTypeOf(input.steps).toEqualTypeOf<bigint>();
    expectTypeOf(input.start).toEqualTypeOf<ArrayValue<'float64'>>();
    expectTypeOf(input.temperature).toEqualTypeOf<number>();
    expectTypeOf(input.flags).toEqualTypeOf<ArrayValue<'bool'>>();
    expectTypeOf(input.name).toEqualTypeOf<string>();
    expectTypeOf(input.tags).toEqualTypeOf<string[]>();
    expectTypeOf(input.config).toEqualTypeOf<JsonValue>();
    expectTypeOf(input.script).toEqualTypeOf<InputFile>();
    expectTypeOf(input.seed).toEqualTypeOf<bigint | undefined>();
    // @ts-expect-error an int64 scalar is a bigint, not a number
    const steps: number = input.steps;
    // @ts-expect-error no input of that name is declared
    void input.stepz;
    void steps;
    return {
      trajectory: [[0, 0, 0]],
      energy: 1.5,
      count: 3n,
      ok: true,
      summary: 'done',
      log: { file: 'log.txt' },
      stats: { mean: 1 },
    };
  },
});

describe('defineOperation types', () => {
  it('infers input and output types from the declarations', () => {
    expectTypeOf<InputValue<{ dtype: 'int64'; shape: [] }>>().toEqualTypeOf<bigint>();
    expectTypeOf<InputValue<{ dtype: 'int64'; shape: [2, 2] }>>().toEqualTypeOf<ArrayValue<'int64'>>();
    expectTypeOf<InputValue<{ dtype: 'string'; shape: [2, 2] }>>().toEqualTypeOf<string[][]>();
    expectTypeOf<OutputValueOf<{ dtype: 'int64'; shape: [] }>>().toEqualTypeOf<bigint | number>();
    expectTypeOf<OutputValueOf<{ dtype: 'float64'; shape: [2] }>>().toEqualTypeOf<ArrayValue<'float64'> | number[]>();
    expectTypeOf<OutputValueOf<{ dtype: 'file' }>>().toEqualTypeOf<OutputFile>();
    expectTypeOf(simulate.defaultOutput).toEqualTypeOf<'trajectory'>();
    expectTypeOf(simulate.version).toEqualTypeOf<string>();
    expect(simulate.summary).toBe('demo.simulate 1.3');
  });

  it('rejects results of the wrong type at compile time', () => {
    const scalar = { x: { dtype: 'float64', shape: [] } } as const;
    const make = (): void => {
      defineOperation({
        namespace: 'demo',
        name: 'wrong',
        version: '1',
        inputs: {},
        outputs: scalar,
        // @ts-expect-error a float64 output cannot be a string
        run: () => ({ x: 'one' }),
      });
      defineOperation({
        namespace: 'demo',
        name: 'wrong',
        version: '1',
        inputs: {},
        outputs: { y: { dtype: 'float64', shape: [2] } },
        // @ts-expect-error a float64 [2] output cannot be a nested list of depth 2
        run: () => ({ y: [[1, 2]] }),
      });
      defineOperation({
        namespace: 'demo',
        name: 'wrong',
        version: '1',
        inputs: {},
        outputs: scalar,
        // @ts-expect-error every declared output must be returned
        run: () => ({}),
      });
      defineOperation({
        namespace: 'demo',
        name: 'wrong',
        version: '1',
        inputs: {},
        // @ts-expect-error 'int32' is not a port dtype
        outputs: { z: { dtype: 'int32' } },
        run: () => ({ z: 1 as never }),
      });
      defineOperation({
        namespace: 'demo',
        name: 'wrong',
        // @ts-expect-error a version is a string
        version: 3,
        inputs: {},
        outputs: scalar,
        run: () => ({ x: 1 }),
      });
      defineOperation({
        namespace: 'demo',
        name: 'wrong',
        version: '1',
        inputs: {},
        outputs: { a: { dtype: 'json' }, b: { dtype: 'json' } },
        // @ts-expect-error the default output must be one of the outputs
        defaultOutput: 'c',
        run: () => ({ a: 1, b: 2 }),
      });
    };
    expect(make).toThrow();
  });
});

describe('GraphBuilder types', () => {
  const scale = defineOperation({
    namespace: 'demo',
    name: 'scale',
    version: '1',
    inputs: { x: { dtype: 'float64', shape: [null] }, factor: { dtype: 'float64', shape: [] } },
    outputs: { y: { dtype: 'float64', shape: [null] }, label: { dtype: 'string' } },
    defaultOutput: 'y',
    run: ({ x, factor }) => ({ y: Array.from(x.data, (v) => v * factor), label: 'scaled' }),
  });
  const count = defineOperation({
    namespace: 'demo',
    name: 'count',
    version: '1',
    inputs: { n: { dtype: 'int64', shape: [] } },
    outputs: { n: { dtype: 'int64', shape: [] } },
    run: ({ n }) => ({ n: n + 1n }),
  });

  it('types handles and inputs', () => {
    const g = new GraphBuilder();
    const s = g.add('s', scale, { x: [1, 2, 3], factor: 2 });
    expectTypeOf(s).toMatchTypeOf<NodeHandle>();
    expectTypeOf(s.output('label')).toEqualTypeOf<OutputRef<{ readonly dtype: 'string' }>>();
    const t = g.add('t', scale, { x: s, factor: 0.5 });
    // @ts-expect-error output names are checked
    s.output('z');
    // @ts-expect-error a string output cannot feed a float64 input
    g.add('u', scale, { x: s.output('label'), factor: 1 });
    // @ts-expect-error a literal of the wrong dtype
    g.add('v', scale, { x: ['a'], factor: 1 });
    // @ts-expect-error a required input is missing
    g.add('w', scale, { x: [1] });
    // @ts-expect-error a file where an int64 is expected
    g.add('c', count, { n: fileInput('x.txt') });
    // Built-in operations are untyped: any reference or literal goes, the graph check decides.
    const m = g.add('m', integer64, {
      data: [
        [1, 2],
        [3, 4],
      ],
    });
    g.add('d', add, { a: m.output('data'), b: m });
    // @ts-expect-error a description is a string, not a handle
    g.add('bad', integer64, { data: [[1]] }, { description: m });
    void t;
  });
});
