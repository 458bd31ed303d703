/**
 * Targeted runs through the real CLI: `run wf.json LABEL...` runs only what
 * the labels need; `--force` and `--force-downstream` build committed nodes
 * again (what a tool upgrade on PATH needs, since the executable is not in
 * the uid), keeping the old store aside until the new one commits and
 * putting it back when the new attempt fails or is killed; `--dry-run`
 * says what would run and why and writes nothing. Executions are counted
 * in a log outside the working directory.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { must, parseEvents, runCli, uidsByLabel } from '../support/cli.js';
import { createSandbox, exists, writeJson, type Sandbox } from '../support/sandbox.js';
import { readMetadata } from '../support/stores.js';
import { runCliAttempt } from '../support/torture.js';
import { loggedNode, readLog, type WorkflowDoc } from '../support/workflows.js';

/**
 * `tool` stands for a program whose version is not in its uid: it copies the
 * file `version` (outside the working directory) into out.txt, and fails
 * with exit 3 while the file `broken` exists.
 */
function workflowDoc(log: string, version: string, broken: string): WorkflowDoc {
  return {
    nodes: [
      {
        label: 'tool',
        operation: 'scalems.Subprocess',
        input: {
          argv: [
            'sh',
            '-c',
            'echo tool >> "$0"; test -f "$2" && { echo broken >&2; exit 3; }; cat "$1" > out.txt',
            log,
            version,
            broken,
          ],
          outputFiles: ['out.txt'],
        },
      },
      loggedNode('middle', log, { inputs: ['tool.out.txt'] }),
      loggedNode('last', log, { inputs: ['middle.out.txt'] }),
      loggedNode('other', log),
    ],
  };
}

/** Every file under `dir` with its size, mtime and sha256: equal before and after means nothing was written. */
async function treeSnapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (path: string): Promise<void> => {
    const info = await stat(path);
    const name = relative(dir, path);
    if (info.isDirectory()) {
      out.push(`${name}/ ${info.mtimeMs}`);
      for (const entry of (await readdir(path)).sort()) await walk(join(path, entry));
    } else {
      const hash = createHash('sha256')
        .update(await readFile(path))
        .digest('hex');
      out.push(`${name} ${info.size} ${info.mtimeMs} ${hash}`);
    }
  };
  await walk(dir);
  return out;
}

describe('targeted runs, --force, --force-downstream and --dry-run', () => {
  let box: Sandbox;
  let log: string;
  let version: string;
  let broken: string;
  let workflow: string;
  let workdir: string;
  let uids: Map<string, string>;

  const toolOutput = async (): Promise<string> => readFile(join(workdir, must(uids, 'tool'), 'out.txt'), 'utf8');

  beforeEach(async () => {
    box = await createSandbox();
    log = box.path('executions.log');
    version = await box.write('version', 'v1\n');
    broken = box.path('broken');
    workflow = await writeJson(box.path('flow.json'), workflowDoc(log, version, broken));
    workdir = box.path('wd');
    uids = await uidsByLabel(workflow);
  });
  afterEach(async () => {
    await box.cleanup();
  });

  it('runs only what the named labels need', async () => {
    const result = await runCli(['run', workflow, 'middle', '--workdir', workdir]);
    expect(result.code, result.stderr).toBe(0);
    expect((await readLog(log)).sort()).toEqual(['middle', 'tool']);
    expect(await exists(join(workdir, must(uids, 'last')))).toBe(false);
    expect(await exists(join(workdir, must(uids, 'other')))).toBe(false);

    const both = await runCli(['run', workflow, 'last', 'other', '--workdir', workdir, '--json']);
    expect(both.code, both.stderr).toBe(0);
    expect((await readLog(log)).sort()).toEqual(['last', 'middle', 'other', 'tool']);
    const started = parseEvents(both.stdout).filter((e) => e.type === 'run-started');
    expect(started).toMatchObject([{ total: 4 }]);
  });

  it('names an unknown target with E_UNKNOWN_NODE, exit 2, and writes nothing', async () => {
    const result = await runCli(['run', workflow, 'midle', '--workdir', workdir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/E_UNKNOWN_NODE: .*flow\.json.*target 'midle'.*did you mean 'middle'/);
    expect(await exists(workdir)).toBe(false);
    const force = await runCli(['run', workflow, '--force', 'nothing', '--workdir', workdir]);
    expect(force.code).toBe(2);
    expect(force.stderr).toContain("--force 'nothing' names no node");
  });

  it('--force runs a committed node again (a new tool version), its dependents only with --force-downstream', async () => {
    expect((await runCli(['run', workflow, '--workdir', workdir])).code).toBe(0);
    expect(await toolOutput()).toBe('v1\n');
    await writeFile(version, 'v2\n');

    const plain = await runCli(['run', workflow, '--workdir', workdir]);
    expect(plain.code).toBe(0);
    expect(await toolOutput()).toBe('v1\n');
    expect(await readLog(log)).toHaveLength(4);

    const forced = await runCli(['run', workflow, '--workdir', workdir, '--force', 'tool']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/forced +tool/);
    expect((await readLog(log)).slice(4)).toEqual(['tool']);
    expect(await toolOutput()).toBe('v2\n');
    expect(await readdir(join(workdir, 'superseded'))).toEqual([]);

    const downstream = await runCli(['run', workflow, '--workdir', workdir, '--force-downstream', 'tool']);
    expect(downstream.code, downstream.stderr).toBe(0);
    expect((await readLog(log)).slice(5).sort()).toEqual(['last', 'middle', 'tool']);
  });

  it('puts the old store back when the forced attempt fails', async () => {
    expect((await runCli(['run', workflow, '--workdir', workdir])).code).toBe(0);
    await writeFile(version, 'v2\n');
    await writeFile(broken, '');
    const result = await runCli(['run', workflow, '--workdir', workdir, '--force', 'tool']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/restored +tool/);
    const metadata = await readMetadata(workdir, must(uids, 'tool'));
    expect(metadata.state).toBe('committed');
    expect(await toolOutput()).toBe('v1\n');
    expect(await readdir(join(workdir, 'superseded'))).toEqual([]);
    // The dependents were not skipped into oblivion: they are still committed from before.
    expect((await readMetadata(workdir, must(uids, 'middle'))).state).toBe('committed');
  });

  it('keeps the failed forced attempt, for logs and explain, until a forced rerun commits', async () => {
    expect((await runCli(['run', workflow, '--workdir', workdir])).code).toBe(0);
    await writeFile(broken, '');
    expect((await runCli(['run', workflow, '--workdir', workdir, '--force', 'tool'])).code).toBe(1);
    const toolUid = must(uids, 'tool');
    expect(await readdir(join(workdir, 'forced-failures'))).toEqual([toolUid]);

    const logs = await runCli(['logs', workflow, 'tool', '--workdir', workdir]);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/^== tool, attempt 1 of a forced rerun: failed \(exit 3\)/);
    expect(logs.stdout).toMatch(/the result committed at \S+ was kept; --attempt 1 shows its logs/);
    expect(logs.stdout).toMatch(/-- stderr\nbroken\n/);
    // The committed attempt's logs, by number: it wrote nothing on stderr.
    const committed = await runCli(['logs', workflow, 'tool', '--workdir', workdir, '--attempt', '1']);
    expect(committed.stdout).toMatch(/^== tool, attempt 1: committed\n-- stdout\n-- stderr\n$/);

    const status = await runCli(['status', workflow, '--workdir', workdir]);
    expect(status.stdout).toMatch(
      /^tool +[0-9a-f]{12} +committed \(a forced rerun failed: exit 3; run-graph logs tool\)$/m,
    );
    expect(status.stdout).toMatch(/^middle +[0-9a-f]{12} +committed$/m);
    const explained = await runCli(['explain', workflow, 'tool', '--workdir', workdir]);
    expect(explained.stdout).toMatch(/tool \(uid \w+, .*\): reused\./);
    expect(explained.stdout).toMatch(/A forced rerun failed at \S+ \(exit 3\): sh exited with code 3/);

    // A second failure replaces the first; a forced rerun that commits removes it.
    expect((await runCli(['run', workflow, '--workdir', workdir, '--force', 'tool'])).code).toBe(1);
    expect(await readdir(join(workdir, 'forced-failures'))).toEqual([toolUid]);
    await rm(broken);
    const fixed = await runCli(['run', workflow, '--workdir', workdir, '--force', 'tool']);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(await readdir(join(workdir, 'forced-failures'))).toEqual([]);
    expect((await runCli(['logs', workflow, 'tool', '--workdir', workdir])).stdout).toMatch(
      /^== tool, attempt 1: committed/,
    );
  });

  it("gc keeps a forced failure while its node is kept, and deletes it with the node's store", async () => {
    expect((await runCli(['run', workflow, '--workdir', workdir])).code).toBe(0);
    await writeFile(broken, '');
    expect((await runCli(['run', workflow, '--workdir', workdir, '--force', 'tool'])).code).toBe(1);
    const toolUid = must(uids, 'tool');
    expect((await runCli(['gc', '--keep', workflow, '--workdir', workdir, '--yes'])).code).toBe(0);
    expect(await readdir(join(workdir, 'forced-failures'))).toEqual([toolUid]);
    const other = await box.write('other.json', { nodes: [loggedNode('other', log)] });
    const gc = await runCli(['gc', '--keep', other, '--workdir', workdir, '--yes']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(await exists(join(workdir, toolUid))).toBe(false);
    expect(await readdir(join(workdir, 'forced-failures'))).toEqual([]);
  });

  for (const point of [
    'after-supersede',
    'after-rename',
    'after-artifact-write',
    'after-metadata-temp',
    'after-commit',
  ]) {
    it(`a SIGKILL ${point} of a forced node leaves the old result or the new one, never neither`, async () => {
      expect((await runCli(['run', workflow, '--workdir', workdir])).code).toBe(0);
      await writeFile(version, 'v2\n');
      const toolUid = must(uids, 'tool');
      const attempt = await runCliAttempt(['run', workflow, 'tool', '--workdir', workdir, '--force', 'tool'], {
        RUN_GRAPH_KILL_AT: point,
        CI: '1',
      });
      expect(attempt.signal).toBe('SIGKILL');
      // Right after the kill: committed at its place (the new one) or kept aside (the old one).
      const here = await readMetadata(workdir, toolUid).catch(() => undefined);
      const aside = await readFile(join(workdir, 'superseded', toolUid, 'metadata.json'), 'utf8')
        .then((text) => JSON.parse(text) as { state: string })
        .catch(() => undefined);
      expect(here?.state === 'committed' || aside?.state === 'committed').toBe(true);

      const resumed = await runCli(['run', workflow, '--workdir', workdir]);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect((await readMetadata(workdir, toolUid)).state).toBe('committed');
      expect(await toolOutput()).toBe(point === 'after-commit' ? 'v2\n' : 'v1\n');
      expect(await readdir(join(workdir, 'superseded'))).toEqual([]);
      // Restored, not rebuilt: the tool ran once for the first run and once in the killed attempt.
      expect((await readLog(log)).filter((line) => line === 'tool').length).toBeLessThanOrEqual(2);
    });
  }

  it('--dry-run says what would run and why, and writes nothing', async () => {
    const fresh = await runCli(['run', workflow, 'middle', '--workdir', workdir, '--dry-run']);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stdout).toMatch(/of 2 nodes, 2 would run, 0 would be reused/);
    expect(await exists(workdir)).toBe(false);

    expect((await runCli(['run', workflow, '--workdir', workdir])).code).toBe(0);
    await rm(log);
    // A changed input: the dry run traces it as explain does.
    const changed = workflowDoc(log, version, broken);
    changed.nodes[3] = loggedNode('other', log, { tag: 'renamed-tag' });
    await writeJson(workflow, changed);
    const before = await treeSnapshot(box.dir);
    const dry = await runCli(['run', workflow, '--workdir', workdir, '--dry-run', '--force', 'tool']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/of 4 nodes, 2 would run, 2 would be reused/);
    expect(dry.stdout).toMatch(/tool: will run \(forced\)/);
    expect(dry.stdout).toMatch(
      /other \(uid [0-9a-f]+, scalems\.Subprocess.*\): will run\.\n.*closest existing store.*differs/,
    );
    expect(dry.stdout).toMatch(/reused: middle, last/);
    const json = await runCli(['run', workflow, '--workdir', workdir, '--dry-run', '--json']);
    const plan = JSON.parse(json.stdout) as { nodes: { label: string; action: string }[] };
    expect(new Map(plan.nodes.map((n) => [n.label, n.action]))).toEqual(
      new Map([
        ['tool', 'reuse'],
        ['middle', 'reuse'],
        ['last', 'reuse'],
        ['other', 'run'],
      ]),
    );
    expect(await treeSnapshot(box.dir)).toEqual(before);
    expect(await readLog(log)).toEqual([]);
  });
});
