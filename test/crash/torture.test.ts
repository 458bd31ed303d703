// The crash torture in CI: a 222-node workflow (in-process transforms,
// subprocesses, one of each group's with no declared files, fan-out and
// fan-in) is SIGKILLed at seeded random moments and restarted until it
// completes, at least 25 times in all. The harness
// checks that outputs equal an uninterrupted run's, that no committed node
// executed again, and that no lock, staging entry or temp file is left.
import { describe, expect, it } from 'vitest';
import { torture } from '../../torture/harness.js';
import { CLI, requireBuiltCli } from '../support/cli.js';
import { createSandbox } from '../support/sandbox.js';

const SEED = 20261122;

describe('crash torture', () => {
  it('survives 25 SIGKILLs at random moments with nothing lost, repeated or half written', async () => {
    requireBuiltCli();
    const { dir, cleanup } = await createSandbox();
    try {
      const report = await torture({ kills: 25, seed: SEED, cli: CLI, scratch: dir, groups: 20, jobs: 4 });
      expect(report.problems, `seed ${SEED}: replay with npm run torture -- --seed ${SEED}`).toEqual([]);
      expect(report.nodes).toBeGreaterThanOrEqual(200);
      expect(report.kills).toBeGreaterThanOrEqual(25);
    } finally {
      await cleanup();
    }
  }, 300_000);
});
