// Operations for examples/long-operations.json: a long computation that
// checkpoints its state, and a streaming one. Written as plain operation
// objects, so the module needs nothing but Node; `module: import.meta.url`
// lets run-graph run the first in a worker thread.

/** 1-D heat relaxation: `sweeps` Jacobi sweeps over a field with fixed ends, checkpointed every 200 sweeps. */
export const relaxation = {
  namespace: 'demo',
  name: 'Relaxation',
  version: '1',
  module: import.meta.url,
  summary: 'Jacobi relaxation of a 1-D field, checkpointed as it goes',
  defaultOutput: 'field',
  check(input) {
    const sweeps = input.sweeps;
    if (!Number.isInteger(sweeps) || sweeps < 0) throw new Error(`sweeps must be a non-negative integer, got ${JSON.stringify(sweeps)}`);
    return { field: { kind: 'array', dtype: 'float64', shape: input.field?.type?.shape ?? null }, sweeps: { kind: 'json' } };
  },
  async run(input, context) {
    // Resume from the last published state, if an earlier attempt was killed.
    const saved = await context.checkpoint.load();
    let sweep = saved?.sweep ?? 0;
    let field = saved?.field?.data ?? Float64Array.from((await input.field.array()).data, Number);
    const next = new Float64Array(field.length);
    while (sweep < input.sweeps) {
      next[0] = field[0];
      next[field.length - 1] = field[field.length - 1];
      for (let i = 1; i < field.length - 1; i++) next[i] = (field[i - 1] + field[i + 1]) / 2;
      field.set(next);
      sweep++;
      if (sweep % 200 === 0) await context.checkpoint.write({ sweep, field: { dtype: 'float64', shape: [field.length], data: field } });
    }
    return {
      field: { kind: 'array', value: { dtype: 'float64', shape: [field.length], data: field } },
      sweeps: { kind: 'json', value: sweep },
    };
  },
};

/** A seeded random walk streamed in chunks of `chunkSize` positions; chunk c depends only on (seed, c), so any chunk can be resumed. */
export const trajectory = {
  namespace: 'demo',
  name: 'Trajectory',
  version: '1',
  summary: 'a random walk, streamed chunk by chunk',
  defaultOutput: 'steps',
  stream: 'steps',
  check(input) {
    for (const field of ['seed', 'chunks', 'chunkSize']) {
      if (!Number.isInteger(input[field]) || input[field] < 1) throw new Error(`${field} must be a positive integer, got ${JSON.stringify(input[field])}`);
    }
    return { steps: { kind: 'array', dtype: 'float64', shape: null } };
  },
  async *run(input, context) {
    for (let chunk = context.resumeAtChunk ?? 0; chunk < input.chunks; chunk++) {
      let state = (input.seed * 2654435761 + chunk * 40503) >>> 0;
      const steps = new Float64Array(input.chunkSize);
      for (let i = 0; i < steps.length; i++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        steps[i] = state / 4294967296 < 0.5 ? -1 : 1;
      }
      yield { dtype: 'float64', shape: [steps.length], data: steps };
    }
  },
};
