// Several `run-graph run` processes on one workflow and one working
// directory cooperate: each node is executed by exactly one of them (counted
// from the shared execution log), the others wait for it and reuse its
// result, and all exit 0 with the outputs of a single worker. Again with one
// worker SIGKILLed midway: the survivors finish its nodes.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditExecutionLog, auditWorkdir, committedOutputs } from '../../torture/audit.js';
import { tortureNodeCount } from '../../torture/workflow.js';
import type { ConcreteGraph } from '../../src/workflow/graph.js';
import { runCliAttempt, tortureReference } from '../support/torture.js';

const SHAPE = { groups: 6, transforms: 3, subprocesses: 3, subprocessSleep: 0.1 };

let dir: string;
let cleanup: () => Promise<void>;
let workflow: { file: string; log: string };
let graph: ConcreteGraph;
let expected: Map<string, string>;

beforeAll(async () => {
  ({ dir, cleanup, workflow, graph, expected } = await tortureReference(SHAPE, ['--jobs', '2']));
}, 120_000);

afterAll(async () => cleanup?.());

function countWaits(stdout: string): number {
  return stdout.split('\n').filter((line) => line.includes('"type":"lock-waiting"')).length;
}

describe('concurrent workers', () => {
  it('four workers at once execute every node exactly once and agree on the outputs', async () => {
    const workdir = join(dir, 'four');
    const log = join(dir, 'four.log');
    const args = ['run', workflow.file, '--workdir', workdir, '--jobs', '2', '--json'];
    const runs = await Promise.all([0, 1, 2, 3].map(() => runCliAttempt(args, { RUN_GRAPH_EXECUTION_LOG: log })));
    for (const run of runs) expect(run.code, run.stderr).toBe(0);

    const { problems, counts } = await auditExecutionLog(log);
    expect(problems).toEqual([]);
    expect(counts.starts.size).toBe(tortureNodeCount({ ...SHAPE, executionLog: log }));
    for (const [label, starts] of counts.starts) expect(starts, `executions of ${label}`).toBe(1);
    expect(await auditWorkdir(workdir)).toEqual([]);
    expect(await committedOutputs(workdir, graph)).toEqual(expected);
  }, 120_000);

  it('survivors finish the work of a worker SIGKILLed midway', async () => {
    const workdir = join(dir, 'killed');
    const log = join(dir, 'killed.log');
    const args = ['run', workflow.file, '--workdir', workdir, '--jobs', '2', '--json'];
    const env = { RUN_GRAPH_EXECUTION_LOG: log };
    const victim = runCliAttempt(args, env, 700);
    const survivors = [0, 1, 2].map(() => runCliAttempt(args, env));
    const [killed, ...rest] = await Promise.all([victim, ...survivors]);
    expect(killed?.signal).toBe('SIGKILL');
    for (const run of rest) expect(run.code, run.stderr).toBe(0);
    // The survivors saw nodes held by others and waited for them.
    expect(rest.reduce((n, run) => n + countWaits(run.stdout), 0)).toBeGreaterThan(0);

    const { problems, counts } = await auditExecutionLog(log);
    expect(problems).toEqual([]);
    // No node committed twice; only a node the victim was running when killed may have started twice. Every node
    // executed, and every store is committed (below); the log's commit line follows the commit, so a node the
    // victim committed as it was killed may have none.
    for (const [label, commits] of counts.commits) expect(commits, `commits of ${label}`).toBe(1);
    for (const node of graph.nodes)
      expect(counts.starts.get(node.label) ?? 0, `starts of ${node.label}`).toBeGreaterThanOrEqual(1);
    expect(await auditWorkdir(workdir)).toEqual([]);
    expect(await committedOutputs(workdir, graph)).toEqual(expected);
  }, 120_000);
});
