// Kill points a random SIGKILL rarely hits, hit on purpose: the process kills
// itself right after a named step of the store protocol. Each time the
// working directory must be in a state the next run repairs, and that run
// must finish with the outputs of an uninterrupted run, executing no node
// that had committed.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCommitted, readStoreMetadata } from '../../src/store/metadata.js';
import { auditExecutionLog, auditWorkdir, committedOutputs } from '../../torture/audit.js';
import type { ConcreteGraph } from '../../src/workflow/graph.js';
import { storeUids } from '../support/stores.js';
import { runCliAttempt, tortureReference } from '../support/torture.js';

const POINTS = [
  'after-tmp-created',
  'after-rename',
  'after-artifact-write',
  'after-metadata-temp',
  'after-commit',
] as const;

let dir: string;
let cleanup: () => Promise<void>;
let workflow: { file: string; log: string };
let graph: ConcreteGraph;
let expected: Map<string, string>;

beforeAll(async () => {
  ({ dir, cleanup, workflow, graph, expected } = await tortureReference({}, ['--json']));
});

afterAll(async () => cleanup?.());

describe('deliberate kill points', () => {
  for (const point of POINTS) {
    for (const pass of [1, 5]) {
      it(`recovers from a SIGKILL ${point} (pass ${pass})`, async () => {
        const workdir = join(dir, `${point}-${pass}`);
        const log = join(dir, `${point}-${pass}.log`);
        const env = { RUN_GRAPH_EXECUTION_LOG: log };
        const killed = await runCliAttempt(['run', workflow.file, '--workdir', workdir, '--jobs', '1', '--json'], {
          ...env,
          RUN_GRAPH_KILL_AT: `${point}#${pass}`,
        });
        expect(killed.signal, `the process should have killed itself ${point}: ${killed.stderr}`).toBe('SIGKILL');

        if (point === 'after-metadata-temp') {
          // The committed metadata exists only under its temporary name (in the killed node's store, and in any
          // other store committing at the same moment): none of those stores may read as committed.
          const stores = await storeUids(workdir);
          const staged = (
            await Promise.all(
              stores.map(async (s) =>
                (await readdir(join(workdir, s))).some((f) => f.startsWith('.rg-tmp-metadata.json')) ? [s] : [],
              ),
            )
          ).flat();
          expect(staged.length).toBeGreaterThanOrEqual(1);
          for (const store of staged)
            expect(isCommitted(await readStoreMetadata(join(workdir, store))), store).toBe(false);
        }

        const resumed = await runCliAttempt(['run', workflow.file, '--workdir', workdir, '--jobs', '2', '--json'], env);
        expect(resumed.code, resumed.stderr).toBe(0);
        const { problems } = await auditExecutionLog(log);
        expect(problems).toEqual([]);
        expect(await auditWorkdir(workdir)).toEqual([]);
        expect(await committedOutputs(workdir, graph)).toEqual(expected);
      });
    }
  }
});
