// Which operations run in a worker thread: those that name their module,
// except an operation marked `inlineSmallInputs` given a small input, whose
// work costs less than the trip to a thread and back. Small is counted in
// elements: a fan-in over many tiny arrays stays on the main thread.
import { describe, expect, it } from 'vitest';
import { makeArtifactRef } from '../../src/operations/artifact-ref.js';
import type { Uid } from '../../src/identity/fingerprint.js';
import { INPUT_KIND, type OperationDefinition, type RunInput } from '../../src/operations/operation.js';
import { add } from '../../src/operations/transforms.js';
import { INLINE_INPUT_ELEMENTS, runsInThread } from '../../src/engine/executors/worker-threads.js';

const uid = 'cd'.repeat(32) as Uid;

function upstreamArray(elements: number): RunInput[string] {
  const bytes = 128 + 8 * elements;
  const shape = [elements];
  const type = { kind: 'array' as const, dtype: 'float64' as const, shape };
  return makeArtifactRef(
    { [INPUT_KIND]: 'ref', label: 'up', output: 'result', type, uid },
    { path: 'result.npy', kind: 'array', size: bytes, sha256: '0'.repeat(64), dtype: 'float64', shape },
    '/nowhere',
    'down',
  );
}

describe('runsInThread', () => {
  it('keeps a built-in elementwise operation on the main thread for small inputs', () => {
    expect(add.inlineSmallInputs).toBe(true);
    expect(runsInThread(add, { a: [1, 2, 3], b: 4 })).toBe(false);
    expect(runsInThread(add, { a: upstreamArray(1_000), b: upstreamArray(1_000) })).toBe(false);
    // A fan-in of 100,000 one-element arrays (13 MB of files, 100,000 elements).
    expect(runsInThread(add, { a: Array.from({ length: 100_000 }, () => upstreamArray(1)), b: 1 })).toBe(false);
  });

  it('sends it to a thread once its inputs add up to the limit', () => {
    const half = INLINE_INPUT_ELEMENTS / 2;
    expect(runsInThread(add, { a: upstreamArray(half - 1), b: upstreamArray(half) })).toBe(false);
    expect(runsInThread(add, { a: upstreamArray(half), b: upstreamArray(half) })).toBe(true);
    // Literal elements count too.
    expect(runsInThread(add, { a: Array.from({ length: INLINE_INPUT_ELEMENTS - 2 }, (_, i) => i), b: 1 })).toBe(false);
    expect(runsInThread(add, { a: Array.from({ length: INLINE_INPUT_ELEMENTS - 1 }, (_, i) => i), b: 1 })).toBe(true);
  });

  it('always sends an operation of unknown cost to a thread, and never one without a module', () => {
    const userOperation: OperationDefinition = { ...add, name: 'Simulate', inlineSmallInputs: undefined };
    expect(runsInThread(userOperation, { a: [1], b: 1 })).toBe(true);
    const mainThreadOnly: OperationDefinition = { ...add, module: undefined };
    expect(runsInThread(mainThreadOnly, { a: upstreamArray(10 * INLINE_INPUT_ELEMENTS), b: 1 })).toBe(false);
  });
});
