// run-graph as a library: define an operation with typed inputs and outputs,
// build a graph from code with typed handles, run it in a working directory,
// and read the results back as typed values. Run it twice: the second run
// reuses every store.
import { GraphBuilder, WorkerContext, add, defineOperation, integer64 } from 'run-graph';

/** Mean and standard deviation of the elements of an array of any shape. */
export const describeArray = defineOperation({
  namespace: 'example',
  name: 'describe',
  version: '1',
  inputs: {
    values: { dtype: 'float64' },
  },
  outputs: {
    mean: { dtype: 'float64', shape: [] },
    std: { dtype: 'float64', shape: [] },
    summary: { dtype: 'string' },
  },
  defaultOutput: 'mean',
  run({ values }) {
    // values: ArrayValue<'float64'>; the int64 array upstream is converted on the way in.
    const n = values.data.length;
    const mean = values.data.reduce((sum, x) => sum + x, 0) / n;
    const std = Math.sqrt(values.data.reduce((sum, x) => sum + (x - mean) ** 2, 0) / n);
    return { mean, std, summary: `${n} values from ${values.data[0]} to ${values.data[n - 1]}` };
  },
});

const workdir = process.argv[2] ?? 'library-example.workdir';

const g = new GraphBuilder();
const matrix = g.add('matrix', integer64, { data: [[1, 2], [3, 4]] });
const doubled = g.add('doubled', add, { a: matrix, b: matrix.output('data') });
const stats = g.add('stats', describeArray, { values: doubled });

const context = await WorkerContext.open({ workdir, jobs: 2 });
const run = await g.run(context);
if (!run.summary.ok) throw new Error(`run failed: ${run.summary.failures.map((f) => f.error.message).join('; ')}`);

const mean: number = await run.value(stats);
const std: number = await run.value(stats.output('std'));
const summary: string = await run.value(stats.output('summary'));
console.log(`matrix uid: ${run.uid(matrix)}`);
console.log(`mean ${mean}, std ${std.toFixed(3)}: ${summary}`);
console.log(`built ${run.summary.counts.committed}, reused ${run.summary.counts.reused}`);
