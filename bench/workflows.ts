/**
 * The workflows the benchmark runs, generated as WorkflowSpec objects (what
 * a parsed workflow file is), plus a Makefile with the same DAG as the
 * subprocess workflow for the GNU make comparison.
 *
 * Every node's input differs, so every node has its own uid and its own store:
 * a benchmark of N nodes really builds N stores.
 */
import type { WorkflowNodeSpec, WorkflowSpec } from '#dist/workflow/load.js';

/** The DAG shapes measured. */
export type Shape = 'fanout' | 'chain' | 'subprocess';

export const SHAPES: readonly Shape[] = ['fanout', 'chain', 'subprocess'];

export function isShape(text: string): text is Shape {
  return (SHAPES as readonly string[]).includes(text);
}

const ref = (label: string): { $ref: string } => ({ $ref: label });

/**
 * One `scalems.Integer64` source, `n` `run-graph.Add` nodes each adding its own
 * scalar to it, and one `run-graph.Concatenate` joining all of them: n + 2 nodes.
 */
export function fanoutWorkflow(n: number): WorkflowSpec {
  const nodes: WorkflowNodeSpec[] = [{ label: 'source', operation: 'scalems.Integer64', input: { data: [1] } }];
  const members: { $ref: string }[] = [];
  for (let i = 0; i < n; i++) {
    nodes.push({ label: `add${i}`, operation: 'run-graph.Add', input: { a: ref('source'), b: i } });
    members.push(ref(`add${i}`));
  }
  nodes.push({ label: 'reduce', operation: 'run-graph.Concatenate', input: { arrays: members } });
  return { description: `fanout of ${n}`, nodes };
}

/** `n` `run-graph.Add` nodes in a line, each adding 1 to the one before: n nodes. */
export function chainWorkflow(n: number): WorkflowSpec {
  const nodes: WorkflowNodeSpec[] = [];
  for (let i = 0; i < n; i++) {
    nodes.push({
      label: `step${i}`,
      operation: 'run-graph.Add',
      input: { a: i === 0 ? [0] : ref(`step${i - 1}`), b: 1 },
    });
  }
  return { description: `chain of ${n}`, nodes };
}

/** The shell arithmetic node i runs, in both run-graph and make (`$` doubled for make). */
function arithmetic(i: number, dollar = '$'): string {
  return `echo ${dollar}((${i} * ${i} + 1))`;
}

/** The reduce step: sum the first number of every file given as an argument. */
const SUM_FILES = `cat "$@" | awk '{ s += $1 } END { print s }'`;
/** The same in make's recipe syntax. */
const MAKE_SUM_FILES = `cat $^ | awk '{ s += $$1 } END { print s }' > $@`;

/**
 * `n` `scalems.Subprocess` nodes (`sh -c` arithmetic, result on stdout) and one
 * Subprocess summing all their stdouts: n + 1 nodes.
 */
export function subprocessWorkflow(n: number): WorkflowSpec {
  const nodes: WorkflowNodeSpec[] = [];
  const members: { $ref: string }[] = [];
  for (let i = 0; i < n; i++) {
    nodes.push({ label: `sh${i}`, operation: 'scalems.Subprocess', input: { argv: ['sh', '-c', arithmetic(i)] } });
    members.push(ref(`sh${i}`));
  }
  nodes.push({
    label: 'total',
    operation: 'scalems.Subprocess',
    input: { argv: ['sh', '-c', SUM_FILES, 'sh', ...members] },
  });
  return { description: `subprocess fanout of ${n}`, nodes };
}

/** The step of node i > 0 of the subprocess chain: one more than the number in the file given (`read` is built in). */
const ADD_ONE = 'read x < "$1"; echo $((x + 1))';
/** The same in make's recipe syntax. */
const MAKE_ADD_ONE = 'read x < $<; echo $$((x + 1)) > $@';

/** `n` `scalems.Subprocess` nodes in a line: the first prints 0, each next one the number before it plus one. */
export function subprocessChainWorkflow(n: number): WorkflowSpec {
  const nodes: WorkflowNodeSpec[] = [];
  for (let i = 0; i < n; i++) {
    const argv = i === 0 ? ['sh', '-c', 'echo 0'] : ['sh', '-c', ADD_ONE, 'sh', ref(`step${i - 1}`)];
    nodes.push({ label: `step${i}`, operation: 'scalems.Subprocess', input: { argv } });
  }
  return { description: `subprocess chain of ${n}`, nodes };
}

/** The subprocess chain's DAG for GNU make: `s<i>.txt` from `s<i-1>.txt`, the last one the default goal. */
export function makefileForChain(n: number): string {
  const lines = ['.PHONY: all', `all: s${n - 1}.txt`, 's0.txt:', '\techo 0 > $@'];
  for (let i = 1; i < n; i++) lines.push(`s${i}.txt: s${i - 1}.txt`, `\t${MAKE_ADD_ONE}`);
  return `${lines.join('\n')}\n`;
}

/** The workflow of a shape and size. */
export function workflowFor(shape: Shape, n: number): WorkflowSpec {
  switch (shape) {
    case 'fanout':
      return fanoutWorkflow(n);
    case 'chain':
      return chainWorkflow(n);
    case 'subprocess':
      return subprocessWorkflow(n);
    default: {
      const never: never = shape;
      throw new Error(`unknown shape ${String(never)}`);
    }
  }
}

/**
 * The subprocess workflow's DAG for GNU make: one target per node, whose
 * recipe make itself runs through `sh -c` (so both tools start one shell per
 * node), and `total.txt` depending on all of them.
 */
export function makefileFor(n: number): string {
  const targets = Array.from({ length: n }, (_, i) => `n${i}.txt`);
  const lines = ['.PHONY: all', 'all: total.txt', `total.txt: ${targets.join(' ')}`, `\t${MAKE_SUM_FILES}`];
  targets.forEach((target, i) => lines.push(`${target}:`, `\t${arithmetic(i, '$$')} > $@`));
  return `${lines.join('\n')}\n`;
}
