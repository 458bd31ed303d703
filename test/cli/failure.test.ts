/**
 * A failing node: the run exits 1 naming the node and showing its stderr;
 * its store stays uncommitted and records the failed attempt (state
 * `failed`, its files in `attempts/1/`); its descendants are skipped and independent
 * branches still commit. Once the cause is gone (a marker file outside the
 * working directory, so the node's record does not change) the same command
 * runs the failed node and its descendants and reuses the rest.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventsOf, labelsOf, must, parseEvents, runCli, uidsByLabel } from '../support/cli.js';
import { createSandbox, exists, writeJson, type Sandbox } from '../support/sandbox.js';
import { readMetadata, storeUids } from '../support/stores.js';
import { loggedNode, readLog, type NodeSpec, type WorkflowDoc } from '../support/workflows.js';

/** Logs its run, then fails with "boom" on stderr and exit 3 unless `marker` exists. */
function flakyNode(label: string, log: string, marker: string): NodeSpec {
  return {
    label,
    operation: 'scalems.Subprocess',
    input: {
      argv: [
        'sh',
        '-c',
        'echo "$0" >> "$1"; test -f "$2" || { echo boom >&2; exit 3; }; echo "$0" > out.txt',
        label,
        log,
        marker,
      ],
      outputFiles: ['out.txt'],
    },
  };
}

function workflowWithFailure(log: string, marker: string): WorkflowDoc {
  return {
    nodes: [
      flakyNode('flaky', log, marker),
      loggedNode('after', log, { inputs: ['flaky.out.txt'] }),
      loggedNode('last', log, { inputs: ['after.out.txt'] }),
      loggedNode('independent', log),
      { label: 'matrix', operation: 'scalems.Integer64', input: { data: [1, 2, 3] } },
    ],
  };
}

describe('a failing node', () => {
  let box: Sandbox;
  let log: string;
  let marker: string;
  let workflow: string;
  let workdir: string;

  beforeEach(async () => {
    box = await createSandbox();
    log = box.path('executions.log');
    marker = box.path('ok');
    workflow = box.path('flaky.json');
    workdir = box.path('wd');
    await writeJson(workflow, workflowWithFailure(log, marker));
  });
  afterEach(async () => {
    await box.cleanup();
  });

  it('exits 1, leaves its store uncommitted, skips its descendants, and commits independent branches', async () => {
    const uids = await uidsByLabel(workflow);
    const result = await runCli(['run', workflow, '--workdir', workdir]);
    expect(result.code).toBe(1);
    const output = result.stdout + result.stderr;
    expect(output).toMatch(/FAILED +flaky/);
    expect(output).toContain('boom');
    expect(output).toContain('exited with code 3');
    expect(output).toMatch(/skipped +after: upstream node 'flaky' failed/);
    expect(output).toMatch(/skipped +last: upstream node 'flaky' failed/);

    const flakyStore = join(workdir, must(uids, 'flaky'));
    expect(await exists(flakyStore)).toBe(true);
    const metadata = await readMetadata(workdir, must(uids, 'flaky'));
    expect(metadata.state).toBe('failed');
    expect(metadata.artifacts).toBeUndefined();
    // The failed attempt's files stay in its attempt directory inside the store, for a look.
    expect(await readdir(join(flakyStore, 'attempts'))).toEqual(['1']);
    expect(await readFile(join(flakyStore, 'attempts', '1', 'stderr.txt'), 'utf8')).toBe('boom\n');
    expect(await readdir(flakyStore)).not.toContain('stderr.txt');
    expect(await readdir(flakyStore)).not.toContain('lock');
    expect(await readdir(flakyStore)).not.toContain('out.txt');
    // Skipped nodes never got a store; the independent branch committed.
    expect(await exists(join(workdir, must(uids, 'after')))).toBe(false);
    expect(await exists(join(workdir, must(uids, 'last')))).toBe(false);
    expect((await readMetadata(workdir, must(uids, 'independent'))).state).toBe('committed');
    expect((await readMetadata(workdir, must(uids, 'matrix'))).state).toBe('committed');
    expect((await readLog(log)).sort()).toEqual(['flaky', 'independent']);
    expect(await readdir(join(workdir, 'tmp'))).toEqual([]);
  });

  it('reports the failure and the skips as events, and retries the failed node on the next run', async () => {
    expect((await runCli(['run', workflow, '--workdir', workdir])).code).toBe(1);
    const again = await runCli(['run', workflow, '--workdir', workdir, '--json']);
    expect(again.code).toBe(1);
    const events = parseEvents(again.stdout);
    const failed = eventsOf(events, 'node-failed');
    expect(failed.map((e) => e.label)).toEqual(['flaky']);
    expect(failed[0]?.error.code).toBe('E_NODE_FAILED');
    expect(failed[0]?.error.message).toContain('boom');
    const skipped = eventsOf(events, 'node-skipped');
    expect(skipped.map((e) => [e.label, e.upstream]).sort()).toEqual([
      ['after', 'flaky'],
      ['last', 'flaky'],
    ]);
    expect(labelsOf(events, 'node-started')).toEqual(['flaky']);
    expect(labelsOf(events, 'node-reused')).toEqual(['independent', 'matrix']);
    expect(eventsOf(events, 'run-finished')[0]).toMatchObject({
      ok: false,
      counts: { total: 5, reused: 2, committed: 0, failed: 1, skipped: 2, notRun: 0 },
    });
    // The failed node ran again (it is not committed); nothing else did.
    expect((await readLog(log)).sort()).toEqual(['flaky', 'flaky', 'independent']);
  });

  it('shows the failed node as failed in status, with its exit code and attempt', async () => {
    expect((await runCli(['run', workflow, '--workdir', workdir])).code).toBe(1);
    const text = await runCli(['status', workflow, '--workdir', workdir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^flaky +[0-9a-f]{12} +failed \(exit 3, attempt 1 of 1\)$/m);
    expect(text.stdout).toMatch(/^after +[0-9a-f]{12} +not started$/m);
    expect(text.stdout).toMatch(/^independent +[0-9a-f]{12} +committed$/m);
    const json = await runCli(['status', workflow, '--workdir', workdir, '--json']);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as {
      nodes: { label: string; state: string }[];
      counts: { [state: string]: number };
    };
    expect(report.counts).toEqual({ committed: 2, 'not-started': 2, incomplete: 0, failed: 1, running: 0, total: 5 });
    expect(Object.fromEntries(report.nodes.map((n) => [n.label, n.state]))).toEqual({
      flaky: 'failed',
      after: 'not-started',
      last: 'not-started',
      independent: 'committed',
      matrix: 'committed',
    });
  });

  it('runs the failed node and its descendants once the cause is fixed, reusing the rest', async () => {
    expect((await runCli(['run', workflow, '--workdir', workdir])).code).toBe(1);
    const uidsBefore = await uidsByLabel(workflow);
    await writeFile(marker, '');
    // The fix is outside the record: same uids.
    expect(await uidsByLabel(workflow)).toEqual(uidsBefore);

    const fixed = await runCli(['run', workflow, '--workdir', workdir, '--json']);
    expect(fixed.code).toBe(0);
    const events = parseEvents(fixed.stdout);
    expect(labelsOf(events, 'node-started')).toEqual(['after', 'flaky', 'last']);
    expect(labelsOf(events, 'node-committed')).toEqual(['after', 'flaky', 'last']);
    expect(labelsOf(events, 'node-reused')).toEqual(['independent', 'matrix']);
    // The failed attempt's files stayed (nothing to reset) until the node committed, then went.
    expect(eventsOf(events, 'store-reset')).toEqual([]);
    expect(await exists(join(workdir, must(uidsBefore, 'flaky'), 'attempts'))).toBe(false);
    expect((await readLog(log)).slice(0, 2).sort()).toEqual(['flaky', 'independent']);
    expect((await readLog(log)).slice(2)).toEqual(['flaky', 'after', 'last']);

    const metadata = await readMetadata(workdir, must(uidsBefore, 'flaky'));
    expect(metadata.state).toBe('committed');
    expect(await readFile(join(workdir, must(uidsBefore, 'flaky'), 'stderr.txt'), 'utf8')).toBe('');
    expect(await readFile(join(workdir, must(uidsBefore, 'last'), 'out.txt'), 'utf8')).toBe('last\nafter\nflaky\n');

    const status = await runCli(['status', workflow, '--workdir', workdir, '--json']);
    expect((JSON.parse(status.stdout) as { counts: { committed: number; total: number } }).counts).toMatchObject({
      committed: 5,
      total: 5,
    });
  });
});

describe('a subprocess output that is a symbolic link', () => {
  it('fails the node instead of committing a file from outside the store', async () => {
    const sandbox = await createSandbox();
    try {
      const outside = sandbox.path('outside.txt');
      await writeFile(outside, 'not ours');
      const file = await writeJson(sandbox.path('link.json'), {
        nodes: [
          {
            label: 'linker',
            operation: 'scalems.Subprocess',
            input: { argv: ['ln', '-s', outside, 'out.txt'], outputFiles: ['out.txt'] },
          },
        ],
      });
      const workdir = join(sandbox.dir, 'work');
      const run = await runCli(['run', file, '--workdir', workdir]);
      expect(run.code).toBe(1);
      expect(run.stdout + run.stderr).toContain("declared output file 'out.txt' is a symbolic link");
      const stores = await storeUids(workdir);
      for (const uid of stores) expect((await readMetadata(workdir, uid)).state).not.toBe('committed');
    } finally {
      await sandbox.cleanup();
    }
  });
});
