/**
 * Parallelism changes when nodes run, never what they produce: `--jobs 1`
 * and `--jobs 4` on the same workflow give the same stores (same uids, same
 * records, same artifacts byte for byte), and each node runs exactly once.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventsOf, parseEvents, runCli } from '../support/cli.js';
import { createSandbox, writeJson, type Sandbox } from '../support/sandbox.js';
import { readMetadata, sha256File, storeUids } from '../support/stores.js';
import { loggedNode, readLog, ref, type WorkflowDoc } from '../support/workflows.js';

/** A fan-out of three branches off one matrix, a fan-in, and four subprocesses of which three run side by side. */
function fanOutFanIn(log: string): WorkflowDoc {
  return {
    nodes: [
      {
        label: 'matrix',
        operation: 'scalems.Integer64',
        input: {
          data: [
            [1, 2],
            [3, 4],
          ],
        },
      },
      { label: 'plus', operation: 'run-graph.Add', input: { a: ref('matrix'), b: 10 } },
      { label: 'times', operation: 'run-graph.Multiply', input: { a: ref('matrix'), b: ref('matrix') } },
      { label: 'half', operation: 'run-graph.Multiply', input: { a: ref('matrix'), b: 0.5 } },
      {
        label: 'joined',
        operation: 'run-graph.Concatenate',
        input: { arrays: [ref('plus'), ref('times'), ref('half')], axis: 1 },
      },
      { label: 'rowSums', operation: 'run-graph.Sum', input: { array: ref('joined'), axis: 1 } },
      loggedNode('left', log),
      loggedNode('middle', log),
      loggedNode('right', log),
      loggedNode('gather', log, { inputs: ['left.out.txt', 'middle.out.txt', 'right.out.txt', 'rowSums'] }),
    ],
  };
}

/** For each store: its record and, per output, the artifact's path and sha256 (from metadata, checked against the file). */
async function storeFingerprints(workdir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const uid of await storeUids(workdir)) {
    const metadata = await readMetadata(workdir, uid);
    expect(metadata.state).toBe('committed');
    const artifacts: [string, string, string][] = [];
    for (const [output, artifact] of Object.entries(metadata.artifacts ?? {})) {
      expect(await sha256File(join(workdir, uid, artifact.path))).toBe(artifact.sha256);
      artifacts.push([output, artifact.path, artifact.sha256]);
    }
    artifacts.sort((a, b) => a[0].localeCompare(b[0]));
    out.set(uid, JSON.stringify({ record: metadata.record, artifacts }));
  }
  return out;
}

describe('--jobs', () => {
  let box: Sandbox;
  beforeAll(async () => {
    box = await createSandbox();
  });
  afterAll(async () => {
    await box.cleanup();
  });

  it('gives identical stores with --jobs 1 and --jobs 4, each node run once', async () => {
    // One log for both runs: it is part of the subprocess records, so both runs must name the same file.
    const log = box.path('executions.log');
    const workflow = await writeJson(box.path('fan.json'), fanOutFanIn(log));

    const serial = await runCli(['run', workflow, '--workdir', box.path('serial'), '--jobs', '1', '--json']);
    expect(serial.code).toBe(0);
    expect((await readLog(log)).sort()).toEqual(['gather', 'left', 'middle', 'right']);
    const parallel = await runCli(['run', workflow, '--workdir', box.path('parallel'), '--jobs', '4', '--json']);
    expect(parallel.code).toBe(0);
    expect((await readLog(log)).sort()).toEqual([
      'gather',
      'gather',
      'left',
      'left',
      'middle',
      'middle',
      'right',
      'right',
    ]);

    const serialEvents = parseEvents(serial.stdout);
    const parallelEvents = parseEvents(parallel.stdout);
    expect(eventsOf(serialEvents, 'run-started')[0]?.jobs).toBe(1);
    expect(eventsOf(parallelEvents, 'run-started')[0]?.jobs).toBe(4);
    expect(eventsOf(serialEvents, 'node-started')).toHaveLength(10);
    expect(eventsOf(parallelEvents, 'node-started')).toHaveLength(10);

    // With one job, no operation starts before the previous one finished (its commit may still be going on).
    let running = 0;
    let most = 0;
    for (const event of serialEvents) {
      if (event.type === 'node-started') running++;
      if (event.type === 'node-committing') running--;
      expect(running).toBeLessThanOrEqual(1);
      most = Math.max(most, running);
    }
    expect(most).toBe(1);
    expect(eventsOf(serialEvents, 'node-committing')).toHaveLength(10);

    const a = await storeFingerprints(box.path('serial'));
    const b = await storeFingerprints(box.path('parallel'));
    expect(a.size).toBe(10);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [uid, fingerprint] of a) expect(b.get(uid), uid).toBe(fingerprint);
    expect(await readdir(box.path('parallel', 'tmp'))).toEqual([]);
  });

  it('refuses --jobs 0 with exit code 2 before touching anything', async () => {
    const workflow = await writeJson(box.path('small.json'), {
      nodes: [{ label: 'one', operation: 'scalems.Integer64', input: { data: [1] } }],
    });
    const result = await runCli(['run', workflow, '--workdir', box.path('never'), '--jobs', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('expected a positive integer, got "0"');
    expect((await readdir(box.dir)).includes('never')).toBe(false);
  });
});
