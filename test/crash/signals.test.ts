// SIGINT and SIGTERM stop new nodes from starting, stop running
// subprocesses, release every lock and exit non-zero saying how to resume; a
// second signal exits at once. Either way the next run resumes and finishes.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditExecutionLog, auditWorkdir } from '../../torture/audit.js';
import { CLI, requireBuiltCli } from '../support/cli.js';
import { createSandbox } from '../support/sandbox.js';
import { runCliAttempt, writeTortureWorkflow } from '../support/torture.js';

let dir: string;
let cleanup: () => Promise<void>;
let workflow: { file: string; log: string };

beforeEach(async () => {
  requireBuiltCli();
  ({ dir, cleanup } = await createSandbox());
  // Slow subprocesses, so the signal lands while some run.
  workflow = await writeTortureWorkflow(dir, { groups: 4, subprocesses: 2, subprocessSleep: 1 });
});
afterEach(async () => cleanup());

interface Stopped {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Start a run, send `signals` once its first subprocess is running, and wait for it to exit. */
function interruptedRun(workdir: string, signals: NodeJS.Signals[], file = workflow.file): Promise<Stopped> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'run', file, '--workdir', workdir, '--jobs', '2'], {
      env: { ...process.env, RUN_GRAPH_EXECUTION_LOG: workflow.log, CI: '1' },
    });
    let stdout = '';
    let stderr = '';
    let sent = false;
    let sentAt = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!sent && /started\s+sub/.test(stdout)) {
        sent = true;
        sentAt = performance.now();
        signals.forEach((signal, i) => setTimeout(() => child.kill(signal), 100 + i * 50));
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - sentAt }));
  });
}

describe('signals', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} stops the run, releases its locks, says how to resume, and the run resumes`, async () => {
      const workdir = join(dir, 'work');
      const stopped = await interruptedRun(workdir, [signal]);
      expect(stopped.code).toBe(130);
      expect(stopped.stdout).toContain('again to resume');
      // Subprocesses sleep 1 s; being stopped means not waiting for them.
      expect(stopped.ms).toBeLessThan(5_000);
      const problems = await auditWorkdir(workdir);
      expect(problems.filter((p) => p.includes('lock'))).toEqual([]);

      const resumed = await runCliAttempt(['run', workflow.file, '--workdir', workdir], {
        RUN_GRAPH_EXECUTION_LOG: workflow.log,
      });
      expect(resumed.code, resumed.stderr).toBe(0);
      expect((await auditExecutionLog(workflow.log)).problems).toEqual([]);
      expect(await auditWorkdir(workdir)).toEqual([]);
    });
  }

  it('a second SIGINT exits at once, and a later run still resumes correctly', async () => {
    // A subprocess that ignores SIGTERM keeps the first, orderly stop waiting; only the second signal ends it.
    const stubborn = join(dir, 'stubborn.json');
    await writeFile(
      stubborn,
      JSON.stringify({
        nodes: [
          { label: 'source', operation: 'scalems.Integer64', input: { data: [1, 2] } },
          {
            label: 'sub_stubborn',
            operation: 'scalems.Subprocess',
            input: {
              argv: ['sh', '-c', "trap '' TERM; sleep 3; echo done > out.txt", { $ref: 'source' }],
              outputFiles: ['out.txt'],
            },
          },
        ],
      }),
    );
    const workdir = join(dir, 'work');
    const stopped = await interruptedRun(workdir, ['SIGINT', 'SIGINT'], stubborn);
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toContain('exiting at once');
    expect(stopped.ms).toBeLessThan(2_500);
    const resumed = await runCliAttempt(['run', stubborn, '--workdir', workdir], {
      RUN_GRAPH_EXECUTION_LOG: workflow.log,
    });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((await auditExecutionLog(workflow.log)).problems).toEqual([]);
    expect(await auditWorkdir(workdir)).toEqual([]);
  });
});
