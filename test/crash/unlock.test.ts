// `run-graph unlock` removes only the locks of provably dead owners, reports
// live owners, and removes a named lock with --force after a warning.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OwnerInfo } from '../../src/store/owner.js';
import { CLI, requireBuiltCli } from '../support/cli.js';
import { deadPid, ownerFor } from '../support/locks.js';
import { createSandbox } from '../support/sandbox.js';
import { storeUids } from '../support/stores.js';
import { runCliAttempt, writeTortureWorkflow } from '../support/torture.js';

let dir: string;
let cleanup: () => Promise<void>;
let workdir: string;
let stores: string[];

beforeEach(async () => {
  requireBuiltCli();
  ({ dir, cleanup } = await createSandbox());
  const workflow = await writeTortureWorkflow(dir);
  workdir = join(dir, 'work');
  const run = await runCliAttempt(['run', workflow.file, '--workdir', workdir]);
  expect(run.code, run.stderr).toBe(0);
  stores = await storeUids(workdir);
});
afterEach(async () => cleanup());

async function fakeLock(uid: string, owner: OwnerInfo): Promise<void> {
  await mkdir(join(workdir, uid, 'lock'));
  await writeFile(join(workdir, uid, 'owner'), JSON.stringify(owner));
}

describe('run-graph unlock', () => {
  it("removes dead owners' locks, keeps live ones and names their holders, --force removes a live one", async () => {
    const [dead, live, remote] = stores;
    if (dead === undefined || live === undefined || remote === undefined) throw new Error('too few stores');
    const sleeper = spawn('sleep', ['30']);
    try {
      await fakeLock(dead, ownerFor(deadPid()));
      await fakeLock(live, ownerFor(sleeper.pid ?? 0));
      await fakeLock(remote, ownerFor(1, { host: 'elsewhere.invalid', pidStartTime: null }));

      const listed = spawnSync(process.execPath, [CLI, 'unlock', '--workdir', workdir], { encoding: 'utf8' });
      expect(listed.status, listed.stderr).toBe(0);
      expect(listed.stdout).toMatch(new RegExp(`removed\\s+${dead.slice(0, 12)}.*is dead`));
      expect(listed.stdout).toMatch(new RegExp(`kept\\s+${live.slice(0, 12)}.*live pid ${sleeper.pid}`));
      expect(listed.stdout).toMatch(new RegExp(`kept\\s+${remote.slice(0, 12)}.*elsewhere\\.invalid`));
      expect(await readdir(join(workdir, dead))).not.toContain('lock');
      expect(await readdir(join(workdir, live))).toContain('lock');

      const forced = spawnSync(process.execPath, [CLI, 'unlock', '--workdir', workdir, '--force', live], {
        encoding: 'utf8',
      });
      expect(forced.status).toBe(0);
      expect(forced.stderr).toContain('warning');
      expect(await readdir(join(workdir, live))).not.toContain('lock');
      expect(await readdir(join(workdir, remote))).toContain('lock');
    } finally {
      sleeper.kill();
    }
  });

  it('refuses a directory that is not a working directory, and a malformed uid', async () => {
    const notWorkdir = spawnSync(process.execPath, [CLI, 'unlock', '--workdir', dir], { encoding: 'utf8' });
    expect(notWorkdir.status).toBe(3);
    expect(notWorkdir.stderr).toContain('not a run-graph working directory');
    const badUid = spawnSync(process.execPath, [CLI, 'unlock', '--workdir', workdir, '--force', 'nothex'], {
      encoding: 'utf8',
    });
    expect(badUid.status).toBe(2);
    expect(badUid.stderr).toContain('not a uid');
  });
});
