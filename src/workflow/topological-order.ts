/** The order in which a graph's nodes can be built: each after its upstream. */
import { RunGraphError } from '../errors.js';
import type { WorkflowNodeSpec } from './spec.js';

/** Kahn's algorithm; on a cycle, the error names one cycle in full. */
export function topologicalOrder(
  specs: readonly Pick<WorkflowNodeSpec, 'label'>[],
  upstream: readonly number[][],
  file: string | undefined,
): number[] {
  const downstream: number[][] = specs.map(() => []);
  const waiting = upstream.map((ups) => ups.length);
  upstream.forEach((ups, i) => ups.forEach((u) => downstream[u]?.push(i)));
  // A FIFO seeded in file order keeps the result close to the order the user wrote.
  const order = waiting.flatMap((count, i) => (count === 0 ? [i] : []));
  for (let head = 0; head < order.length; head++) {
    for (const d of downstream[order[head] as number] ?? []) {
      waiting[d] = (waiting[d] ?? 0) - 1;
      if (waiting[d] === 0) order.push(d);
    }
  }
  if (order.length === specs.length) return order;
  // Walk upstream from any node left over until a node repeats: that is a cycle.
  const stuck = waiting.findIndex((count) => count > 0);
  const path: number[] = [];
  const seenAt = new Map<number, number>();
  let at = stuck;
  while (!seenAt.has(at)) {
    seenAt.set(at, path.length);
    path.push(at);
    at = (upstream[at] ?? []).find((u) => (waiting[u] ?? 0) > 0) ?? at;
  }
  const cycle = path.slice(seenAt.get(at)).reverse();
  const labels = [...cycle, cycle[0] ?? at].map((i) => specs[i]?.label ?? '?');
  throw new RunGraphError('E_CYCLE', `the graph has a cycle: ${labels.join(' -> ')}`, {
    ...(file === undefined ? {} : { file }),
    node: specs[cycle[0] ?? at]?.label ?? '?',
    hint: 'a node cannot depend, directly or through others, on its own output',
  });
}
