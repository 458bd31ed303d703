// A working directory where every node is committed is usable read-only: run (and status, inspect, explain)
// succeed without writing anything; a run that would have to build a node fails with E_WORKDIR saying so.
// Read-only two ways: a read-only bind mount (EROFS; needs root and the right to mount), and a directory
// without write permission read by an unprivileged user (EACCES; as root, the CLI runs as nobody through
// setpriv, since root writes through permissions). A way that is not available here is skipped, saying why;
// under CI=true the permission way must work.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, requireBuiltCli } from '../support/cli.js';
import { tempDirsRemovedAfterAll } from '../support/sandbox.js';

const freshDir = tempDirsRemovedAfterAll();
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

const WORKFLOW = {
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
    { label: 'doubled', operation: 'run-graph.Add', input: { a: { $ref: 'matrix' }, b: { $ref: 'matrix' } } },
    { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'doubled' } } },
  ],
};
const GROWN = {
  nodes: [
    ...WORKFLOW.nodes,
    { label: 'more', operation: 'run-graph.Sum', input: { array: { $ref: 'matrix' }, axis: 0 } },
  ],
};

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A committed working directory `wd` inside a fresh folder readable by anyone; returns the folder. */
function committedFolder(): string {
  requireBuiltCli();
  const dir = freshDir();
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'wf.json'), JSON.stringify(WORKFLOW));
  writeFileSync(join(dir, 'grown.json'), JSON.stringify(GROWN));
  const run = spawnSync(process.execPath, [CLI, 'run', join(dir, 'wf.json'), '--workdir', join(dir, 'wd')], {
    encoding: 'utf8',
    env: { ...process.env, CI: '1' },
  });
  expect(run.status, run.stderr).toBe(0);
  return dir;
}

/** Every path under `dir` with its mtime and size: what must not change. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (path: string): void => {
    const info = statSync(path);
    out.push(`${path} ${info.mtimeMs} ${info.size}`);
    if (info.isDirectory()) for (const name of readdirSync(path).sort()) walk(join(path, name));
  };
  walk(dir);
  return out;
}

function cli(prefix: readonly string[], args: readonly string[]): Result {
  const [command, ...rest] = [...prefix, process.execPath, CLI, ...args];
  const result = spawnSync(command ?? '', rest, {
    encoding: 'utf8',
    env: { ...process.env, CI: '1' },
    timeout: 30_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function checkReadOnlyUse(dir: string, readOnlyDir: string, prefix: readonly string[], cause: RegExp): void {
  const wd = join(readOnlyDir, 'wd');
  const before = snapshot(join(dir, 'wd'));
  const run = cli(prefix, ['run', join(readOnlyDir, 'wf.json'), '--workdir', wd]);
  expect(run.code, run.stderr).toBe(0);
  expect(run.stdout).toMatch(/done: 0 built, 3 reused, 0 failed/);
  const json = cli(prefix, ['run', join(readOnlyDir, 'wf.json'), '--workdir', wd, '--json', '--verify']);
  expect(json.code, json.stderr).toBe(0);
  expect(json.stdout).toContain('"reused":3');
  const status = cli(prefix, ['status', join(readOnlyDir, 'wf.json'), '--workdir', wd]);
  expect(status.code, status.stderr).toBe(0);
  expect(status.stdout).toContain('3 committed');
  const inspect = cli(prefix, ['inspect', 'total', '--workflow', join(readOnlyDir, 'wf.json'), '--workdir', wd]);
  expect(inspect.code, inspect.stderr).toBe(0);
  expect(inspect.stdout).toContain('result.npy: 20');
  const explain = cli(prefix, ['explain', join(readOnlyDir, 'wf.json'), 'total', '--workdir', wd]);
  expect(explain.code, explain.stderr).toBe(0);
  expect(explain.stdout).toContain('reused');
  // A node that would have to run: the working directory's error, saying so, exit 3.
  const grown = cli(prefix, ['run', join(readOnlyDir, 'grown.json'), '--workdir', wd]);
  expect(grown.code).toBe(3);
  expect(grown.stderr).toMatch(cause);
  expect(grown.stderr).toContain("1 of 4 nodes would run (first: 'more')");
  expect(snapshot(join(dir, 'wd'))).toEqual(before);
}

describe('a fully committed working directory, read-only', () => {
  const mountDirs: string[] = [];
  afterAll(() => {
    for (const dir of mountDirs) spawnSync('umount', [dir]);
  });

  it('on a read-only bind mount (EROFS)', (context) => {
    if (!isRoot) return context.skip('a bind mount needs root; the permission case below covers this user');
    const dir = committedFolder();
    const mounted = join(dir, 'mounted');
    mkdirSync(mounted);
    const bind = spawnSync('mount', ['--bind', dir, mounted], { encoding: 'utf8' });
    if (bind.status !== 0) return context.skip(`cannot bind-mount here (${bind.stderr.trim()}): not run`);
    mountDirs.push(mounted);
    const remount = spawnSync('mount', ['-o', 'remount,ro,bind', mounted], { encoding: 'utf8' });
    if (remount.status !== 0) return context.skip(`cannot remount read-only (${remount.stderr.trim()}): not run`);
    checkReadOnlyUse(dir, mounted, [], /E_WORKDIR: working directory .*: read-only file system, and /);
  });

  it('without write permission, for a user who is not root (EACCES)', (context) => {
    const dir = committedFolder();
    let prefix: string[] = [];
    if (isRoot) {
      const probe = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'true']);
      if (probe.status !== 0) {
        const why = 'as root, this needs setpriv (util-linux) to run the CLI as an unprivileged user';
        if (process.env['CI'] === 'true') throw new Error(`${why}: not available`);
        return context.skip(why);
      }
      prefix = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];
    }
    spawnSync('chmod', ['-R', 'a-w', join(dir, 'wd')]);
    try {
      checkReadOnlyUse(dir, dir, prefix, /E_WORKDIR: working directory .*: permission denied, and /);
    } finally {
      spawnSync('chmod', ['-R', 'u+w', join(dir, 'wd')]);
    }
  });
});
