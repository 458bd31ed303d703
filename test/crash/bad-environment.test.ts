// A full disk, a read-only or forbidden working directory, a path that is a
// file: one clear error, a non-zero exit, no store committed by halves, and
// once the cause is gone the same command completes.
import { spawnSync } from 'node:child_process';
import { chmod, chown, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditWorkdir } from '../../torture/audit.js';
import { readStoreMetadata } from '../../src/store/metadata.js';
import { CLI, requireBuiltCli } from '../support/cli.js';
import { createSandbox } from '../support/sandbox.js';
import { storeUids } from '../support/stores.js';
import { runCliAttempt, writeTortureWorkflow } from '../support/torture.js';

let dir: string;
let cleanup: () => Promise<void>;
let workflow: { file: string; log: string };

beforeEach(async () => {
  requireBuiltCli();
  ({ dir, cleanup } = await createSandbox());
  workflow = await writeTortureWorkflow(dir);
});
afterEach(async () => cleanup());

async function committedCount(workdir: string): Promise<number> {
  const stores = await storeUids(workdir).catch(() => [] as string[]);
  const metadata = await Promise.all(stores.map((s) => readStoreMetadata(join(workdir, s))));
  return metadata.filter((m) => m?.state === 'committed').length;
}

describe('bad environments', () => {
  it('a full disk while writing an artifact stops the run with one clear error, then the run completes', async () => {
    const workdir = join(dir, 'work');
    const full = await runCliAttempt(['run', workflow.file, '--workdir', workdir], {
      RUN_GRAPH_FAIL_AT: 'artifact-write:ENOSPC',
    });
    expect(full.code).toBe(3);
    expect(full.stderr).toMatch(
      /E_WORKDIR: node '[^']+': no space left on device while building the node \((result|data)\.npy\)/,
    );
    expect(await committedCount(workdir)).toBe(0);

    const fixed = await runCliAttempt(['run', workflow.file, '--workdir', workdir]);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(await auditWorkdir(workdir)).toEqual([]);
  });

  it('a read-only file system when publishing a store: exit 3, nothing committed, then completes', async () => {
    const workdir = join(dir, 'work');
    const ro = await runCliAttempt(['run', workflow.file, '--workdir', workdir], {
      RUN_GRAPH_FAIL_AT: 'publish:EROFS',
    });
    expect(ro.code).toBe(3);
    expect(ro.stderr).toContain('read-only file system');
    expect(await committedCount(workdir)).toBe(0);
    const fixed = await runCliAttempt(['run', workflow.file, '--workdir', workdir]);
    expect(fixed.code, fixed.stderr).toBe(0);
  });

  it('a failed commit write leaves the store uncommitted and the next run rebuilds it', async () => {
    const workdir = join(dir, 'work');
    const failed = await runCliAttempt(['run', workflow.file, '--workdir', workdir, '--jobs', '1'], {
      RUN_GRAPH_FAIL_AT: 'metadata-write:EIO',
    });
    expect(failed.code).toBe(3);
    expect(failed.stderr).toContain('i/o error');
    expect(await committedCount(workdir)).toBe(0);
    const fixed = await runCliAttempt(['run', workflow.file, '--workdir', workdir]);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(await auditWorkdir(workdir)).toEqual([]);
  });

  it('a working directory that is a file is refused before anything runs', async () => {
    const file = join(dir, 'not-a-dir');
    await writeFile(file, 'precious');
    const run = await runCliAttempt(['run', workflow.file, '--workdir', file]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('is a file, not a directory');
  });

  // Root ignores file permissions, so as root the run is repeated as the unprivileged user 'nobody'.
  const asRoot = process.getuid?.() === 0;
  const setprivWorks =
    asRoot && spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'true']).status === 0;
  it.skipIf(asRoot && !setprivWorks)(
    'a working directory without write permission: exit 3 naming it, then completes once permitted',
    async () => {
      await chmod(dir, 0o755);
      await chmod(workflow.file, 0o644);
      const workdir = join(dir, 'locked');
      await mkdir(workdir, { mode: 0o555 });
      await chmod(workdir, 0o555);
      const command = asRoot
        ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath]
        : [process.execPath];
      const run = (): ReturnType<typeof spawnSync> =>
        spawnSync(command[0] as string, [...command.slice(1), CLI, 'run', workflow.file, '--workdir', workdir], {
          encoding: 'utf8',
          env: { ...process.env, RUN_GRAPH_EXECUTION_LOG: '' },
        });
      const denied = run();
      expect(denied.status).toBe(3);
      expect(String(denied.stderr)).toContain('permission denied');
      expect(await readdir(workdir)).toEqual([]);

      await chmod(workdir, 0o777);
      if (asRoot) await chown(workdir, 65534, 65534);
      const allowed = run();
      expect(allowed.status, String(allowed.stderr)).toBe(0);
    },
  );
});
