/**
 * `run --executor slurm` and job-array workers against a real Slurm cluster
 * (single node, .ci/slurm.sh). Jobs are counted from Slurm's own records
 * (sacct, or the job-completion log); executions from logs the nodes write
 * themselves, outside the working directory.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { AJV_OPTIONS } from '../../src/workflow/schema.js';
import { CLI, REPO_ROOT, runCli, startCli, type CliResult } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import {
  describeWithSlurm,
  memoryNotEnforced,
  recordedJobs,
  slurmCommand,
  type RecordedJob,
} from '../support/slurm.js';
import { readMetadata, storeUids } from '../support/stores.js';
import { waitUntil } from '../support/wait.js';
import { readLog, type NodeSpec } from '../support/workflows.js';

const execFileAsync = promisify(execFile);

interface Submission {
  name: string;
  jobId?: string;
  nodes: { uid: string; label: string }[];
  ended?: { state: string };
}

async function submissions(workdir: string): Promise<Submission[]> {
  const dir = join(workdir, 'slurm');
  const files = (await readdir(dir).catch(() => [] as string[])).filter(
    (f) => f.endsWith('.json') && !f.endsWith('.outcome.json'),
  );
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8')) as Submission));
}

/** Every submission record holds to schemas/slurm-submission.schema.json. */
async function expectRecordsMatchTheSchema(records: readonly Submission[]): Promise<void> {
  const schema = JSON.parse(
    await readFile(join(REPO_ROOT, 'schemas', 'slurm-submission.schema.json'), 'utf8'),
  ) as object;
  const validate = new Ajv2020(AJV_OPTIONS).compile(schema);
  for (const record of records) expect(validate(record) ? [] : validate.errors, record.name).toEqual([]);
}

/** The jobs Slurm recorded for a working directory's submissions, once Slurm has recorded `count` of them. */
async function jobsOf(records: readonly Submission[], count: number): Promise<RecordedJob[]> {
  const prefix = (records[0]?.name ?? 'rg-none-').replace(/[0-9a-f]+$/, '');
  let jobs: RecordedJob[] = [];
  await waitUntil(
    async () => (jobs = await recordedJobs(prefix)).length >= count,
    30_000,
    `${count} jobs named ${prefix}* in Slurm's records`,
  );
  return jobs;
}

/** How many of Slurm's recorded jobs were given each node. */
function jobsPerNode(records: readonly Submission[], jobs: readonly RecordedJob[]): Map<string, number> {
  const byName = new Map(records.map((r) => [r.name, r]));
  const counts = new Map<string, number>();
  for (const job of jobs)
    for (const node of byName.get(job.name)?.nodes ?? []) counts.set(node.label, (counts.get(node.label) ?? 0) + 1);
  return counts;
}

/** A node that appends its label to `log` as it starts, sleeps, then writes out.txt. */
function sleeper(
  label: string,
  log: string,
  seconds: number,
  extra: Partial<NodeSpec> & { retries?: number; resources?: object } = {},
): NodeSpec {
  return {
    label,
    operation: 'scalems.Subprocess',
    input: {
      // `&&`: a sleep killed by a signal fails the command, even if the shell outlives it for a moment.
      argv: ['sh', '-c', 'echo "$0" >> "$1"; sleep "$2" && echo "$0" > out.txt', label, log, String(seconds)],
      outputFiles: ['out.txt'],
    },
    ...extra,
  };
}

function joiner(label: string, upstream: readonly string[]): NodeSpec {
  return {
    label,
    operation: 'scalems.Subprocess',
    input: {
      argv: ['sh', '-c', 'cat "$@" > out.txt', label, ...upstream.map((u) => ({ $ref: `${u}.out.txt` }))],
      outputFiles: ['out.txt'],
    },
  };
}

/**
 * The run of a node and its dependent `after`, whose node's job Slurm ended
 * `state`: the node's line names the state, the job and its log, then says
 * which resource to raise; `after` is skipped; Slurm's record agrees.
 */
async function expectJobVerdict(
  result: CliResult,
  workdir: string,
  label: string,
  state: string,
  raise: string,
): Promise<void> {
  expect(result.code, result.stdout + result.stderr).toBe(1);
  const [record] = await submissions(workdir);
  expect(result.stdout).toMatch(
    new RegExp(
      `${label}: ${state}: Slurm job ${record?.jobId} \\(${record?.name}\\) ended ${state}.*; log: .*${record?.name}\\.log`,
    ),
  );
  expect(result.stdout).toMatch(new RegExp(`raise the node's resources\\.${raise}`));
  expect(result.stdout).toMatch(/skipped +after/);
  expect(record?.ended?.state).toBe(state);
  const jobs = await jobsOf(await submissions(workdir), 1);
  expect(jobs.map((j) => j.state)).toEqual([state]);
}

/**
 * Start `run --executor slurm` of one sleeper `label` (with `extra`), with
 * `runArgs` added to the command line, and wait until its first job has
 * started the node.
 */
async function runUntilJobStarts(
  label: string,
  extra: Parameters<typeof sleeper>[3],
  runArgs: readonly string[],
  limitMs: number,
): Promise<{ controller: ReturnType<typeof startCli>; workdir: string; log: string; jobId: string }> {
  const log = box.path(`${label}.log`);
  const workflow = await box.write(`${label}.json`, { nodes: [sleeper(label, log, 6, extra)] });
  const workdir = box.path(`${label}.workdir`);
  const controller = startCli(
    ['run', workflow, '--workdir', workdir, '--executor', 'slurm', '--poll', '1', ...runArgs],
    { cwd: box.dir, limitMs },
  );
  let jobId: string | undefined;
  await waitUntil(
    async () => (await readLog(log)).length === 1 && (jobId = (await submissions(workdir))[0]?.jobId) !== undefined,
    60_000,
    'the first job to start its node',
  );
  return { controller, workdir, log, jobId: jobId as string };
}

/**
 * Run one sleeper `label` (retries: 1), with `runArgs` added to the command
 * line, and, once its first job has started it, `end` that job: the node
 * fails with `state`, is retried and commits; Slurm's records show the two
 * jobs as `state` and COMPLETED.
 */
async function expectRetriedAfter(
  label: string,
  state: string,
  end: (jobId: string) => Promise<unknown>,
  runArgs: readonly string[] = [],
): Promise<void> {
  const { controller, workdir, log, jobId } = await runUntilJobStarts(label, { retries: 1 }, runArgs, 120_000);
  await end(jobId);
  const exit = await controller.exited;
  const output = controller.stdout() + controller.stderr();
  expect(exit.code, output).toBe(0);
  expect(output).toMatch(
    new RegExp(`${label}: ${state}: Slurm job ${jobId} .*log: .*\\.log; retrying \\(attempt 2 of 2\\)`),
  );
  expect(await readLog(log)).toEqual([label, label]);
  const jobs = await jobsOf(await submissions(workdir), 2);
  expect(jobs.map((j) => j.state).sort()).toEqual([state, 'COMPLETED'].sort());
}

/**
 * Take down the Slurm node that runs `jobId` until Slurm's account of the
 * job (`scontrol show job`) passes `until`, then bring the node back.
 */
async function failNodeUnder(jobId: string, until: (job: string) => boolean, what: string): Promise<void> {
  const host = (await slurmCommand('squeue', ['-h', '-j', jobId, '-o', '%N'])).trim();
  expect(host).not.toBe('');
  try {
    await slurmCommand('scontrol', ['update', `nodename=${host}`, 'state=down', 'reason=run-graph node failure test']);
    await waitUntil(async () => until(await slurmCommand('scontrol', ['show', 'job', jobId])), 30_000, what);
  } finally {
    // The only node of the test cluster: the node's next run, and every later test, need it back.
    await nodeBackUp(host);
  }
}

/**
 * Wait until Slurm's node `host` is in service again. With ReturnToService=2
 * (.ci/slurm.sh) a node taken down comes back by itself once slurmd
 * registers again; resume is for one still down.
 */
async function nodeBackUp(host: string): Promise<void> {
  const state = async (): Promise<string> => (await slurmCommand('sinfo', ['-h', '-n', host, '-o', '%t'])).trim();
  await waitUntil(
    async () => {
      if (!/down|drain|fail/.test(await state())) return true;
      // Refused once the node is no longer down (it registered meanwhile): the next look says.
      await slurmCommand('scontrol', ['update', `nodename=${host}`, 'state=resume']).catch(() => undefined);
      return false;
    },
    60_000,
    `Slurm node ${host} to be back in service`,
  );
}

let box: Sandbox;
beforeAll(async () => {
  box = await createSandbox();
});
afterAll(async () => {
  await box.cleanup();
});

describeWithSlurm('run --executor slurm on a real Slurm', () => {
  test('--force builds a committed node again in a job, and puts the old store back when that job fails', async () => {
    await mkdir(box.path('force'), { recursive: true });
    const version = box.path('force', 'version');
    const broken = box.path('force', 'broken');
    await writeFile(version, 'v1\n');
    const workflow = await box.write('force/wf.json', {
      nodes: [
        {
          label: 'tool',
          operation: 'scalems.Subprocess',
          input: {
            argv: ['sh', '-c', 'test -f "$1" && { echo broken >&2; exit 3; }; cat "$0" > out.txt', version, broken],
            outputFiles: ['out.txt'],
          },
        },
      ],
    });
    const workdir = box.path('force', 'wd');
    const args = ['run', workflow, '--workdir', workdir, '--executor', 'slurm', '--poll', '1'];
    expect((await runCli(args, { timeoutMs: 90_000 })).code).toBe(0);
    const [uid = ''] = await storeUids(workdir);
    const output = (): Promise<string> => readFile(join(workdir, uid, 'out.txt'), 'utf8');
    expect(await output()).toBe('v1\n');

    await writeFile(version, 'v2\n');
    const forced = await runCli([...args, '--force', 'tool'], { timeoutMs: 90_000 });
    expect(forced.code, forced.stdout + forced.stderr).toBe(0);
    expect(await output()).toBe('v2\n');
    expect(await submissions(workdir)).toHaveLength(2);

    await writeFile(broken, '');
    await writeFile(version, 'v3\n');
    const failed = await runCli([...args, '--force', 'tool'], { timeoutMs: 90_000 });
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/restored +tool/);
    expect((await readMetadata(workdir, uid)).state).toBe('committed');
    expect(await output()).toBe('v2\n');
    expect(await readdir(join(workdir, 'superseded'))).toEqual([]);
    expect(await readdir(join(workdir, 'forced-failures'))).toEqual([uid]);
  });

  test('--fail-fast submits nothing after the first failure', async () => {
    await mkdir(box.path('failfast'), { recursive: true });
    const log = box.path('failfast', 'log.txt');
    const workflow = await box.write('failfast/wf.json', {
      nodes: [
        {
          label: 'bad',
          operation: 'scalems.Subprocess',
          input: { argv: ['sh', '-c', 'echo bad >> "$0"; exit 3', log] },
        },
        sleeper('a', log, 1),
        sleeper('b', log, 1),
      ],
    });
    const workdir = box.path('failfast', 'wd');
    const args = [
      'run',
      workflow,
      '--workdir',
      workdir,
      '--executor',
      'slurm',
      '--poll',
      '1',
      '--max-jobs',
      '1',
      '--group-size',
      '1',
    ];
    const result = await runCli([...args, '--fail-fast'], { timeoutMs: 90_000 });
    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.stdout).toMatch(/0 built, 0 reused, 1 failed, 0 skipped, 2 not run, of 3 nodes/);
    expect(await readLog(log)).toEqual(['bad']);
    expect(await submissions(workdir)).toHaveLength(1);
  });

  test('the random-walk example: artifacts identical to a local run, one job per node or group, a rerun submits nothing', async () => {
    await cp(join(REPO_ROOT, 'examples', 'random-walk-ensemble.json'), box.path('rw', 'random-walk-ensemble.json'));
    await cp(join(REPO_ROOT, 'examples', 'scripts'), box.path('rw', 'scripts'), { recursive: true });
    const workflow = box.path('rw', 'random-walk-ensemble.json');
    const local = await runCli(['run', workflow, '--workdir', box.path('rw', 'local')], { timeoutMs: 60_000 });
    expect(local.code, local.stderr).toBe(0);
    const slurmDir = box.path('rw', 'slurm-run');
    const started = Date.now();
    const onSlurm = await runCli(['run', workflow, '--workdir', slurmDir, '--executor', 'slurm', '--poll', '2'], {
      timeoutMs: 150_000,
    });
    const elapsedMs = Date.now() - started;
    expect(onSlurm.code, onSlurm.stdout + onSlurm.stderr).toBe(0);

    const uids = await storeUids(box.path('rw', 'local'));
    expect(uids).toHaveLength(11);
    expect((await storeUids(slurmDir)).sort()).toEqual([...uids].sort());
    for (const uid of uids) {
      const here = await readMetadata(box.path('rw', 'local'), uid);
      const there = await readMetadata(slurmDir, uid);
      expect(there.state).toBe('committed');
      expect(there.artifacts).toEqual(here.artifacts);
    }

    const records = await submissions(slurmDir);
    await expectRecordsMatchTheSchema(records);
    expect(records.every((r) => r.ended?.state === 'COMPLETED')).toBe(true);
    const jobs = await jobsOf(records, records.length);
    expect(jobs).toHaveLength(records.length);
    expect(jobs.every((j) => j.state === 'COMPLETED')).toBe(true);
    const perNode = jobsPerNode(records, jobs);
    expect(perNode.size).toBe(11);
    expect([...perNode.values()].every((n) => n === 1)).toBe(true);
    process.stdout.write(`random walk on Slurm: ${records.length} jobs for 11 nodes in ${elapsedMs} ms\n`);

    const again = await runCli(['run', workflow, '--workdir', slurmDir, '--executor', 'slurm'], { timeoutMs: 60_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/0 built, 11 reused/);
    expect(await submissions(slurmDir)).toHaveLength(records.length);
    expect(await recordedJobs(jobs[0]?.name.replace(/[0-9a-f]+$/, '') ?? '')).toHaveLength(jobs.length);
  }, 240_000);

  test('a node whose time is too short fails with TIMEOUT from Slurm, naming the job, its log and the fix', async () => {
    const log = box.path('timeout.log');
    const workflow = await box.write('timeout.json', {
      nodes: [sleeper('endless', log, 600, { resources: { time: 1 } }), joiner('after', ['endless'])],
    });
    const workdir = box.path('timeout.workdir');
    const result = await runCli(['run', workflow, '--workdir', workdir, '--executor', 'slurm', '--poll', '2'], {
      timeoutMs: 200_000,
    });
    await expectJobVerdict(result, workdir, 'endless', 'TIMEOUT', 'time');
  }, 240_000);

  test('a node over its memory fails with OUT_OF_MEMORY from Slurm, naming the job, its log and the fix', async ({
    skip,
  }) => {
    const unenforced = await memoryNotEnforced();
    if (unenforced !== undefined) {
      if (process.env['CI'] === 'true') throw new Error(`CI=true and ${unenforced}`);
      process.stdout.write(`skipping the OUT_OF_MEMORY test: ${unenforced}\n`);
      skip();
    }
    // 1 GiB written (every page touched) in a job held to 400 MiB: the cgroup's OOM killer ends it.
    const hungry: NodeSpec = {
      label: 'hungry',
      operation: 'scalems.Subprocess',
      input: {
        argv: [
          process.execPath,
          '-e',
          "const b = Buffer.alloc(2 ** 30, 1); require('fs').writeFileSync('out.txt', String(b.length))",
        ],
        outputFiles: ['out.txt'],
      },
    };
    const workflow = await box.write('oom.json', {
      nodes: [{ ...hungry, resources: { memory: '400M' } }, joiner('after', ['hungry'])],
    });
    const workdir = box.path('oom.workdir');
    const result = await runCli(['run', workflow, '--workdir', workdir, '--executor', 'slurm', '--poll', '1'], {
      timeoutMs: 120_000,
    });
    await expectJobVerdict(result, workdir, 'hungry', 'OUT_OF_MEMORY', 'memory');
  }, 150_000);

  test('a job cancelled with scancel fails its node with CANCELLED, and the node is retried', async () => {
    await expectRetriedAfter('slow', 'CANCELLED', (jobId) => slurmCommand('scancel', [jobId]));
  }, 150_000);

  test('a job preempted by a job of a higher priority tier fails its node with PREEMPTED, and the node is retried', async () => {
    // The whole node for 2 s in the partition that preempts (.ci/slurm.sh): the node's job is cancelled for it.
    await expectRetriedAfter('bumped', 'PREEMPTED', () =>
      slurmCommand('sbatch', ['--parsable', '-p', 'urgent', '--exclusive', '-o', '/dev/null', '--wrap', 'sleep 2']),
    );
  }, 150_000);

  test('a job whose node goes down, submitted with --no-requeue, fails its node with NODE_FAIL, and the node is retried', async () => {
    await expectRetriedAfter(
      'stranded',
      'NODE_FAIL',
      (jobId) => failNodeUnder(jobId, (job) => /JobState=NODE_FAIL/.test(job), 'the job to end NODE_FAIL'),
      ['--sbatch-option=--no-requeue'],
    );
  }, 150_000);

  test('a job whose node goes down is requeued by Slurm: the same job runs its node again, and nothing is submitted twice', async () => {
    // No retries: the second run is Slurm's requeue, not run-graph's retry. Slurm holds a requeued job back about
    // two minutes before it starts it again.
    const { controller, workdir, log, jobId } = await runUntilJobStarts('requeued', {}, [], 330_000);
    await failNodeUnder(
      jobId,
      (job) => /JobState=PENDING/.test(job) && /Restarts=1\b/.test(job),
      'Slurm to requeue the job',
    );
    const exit = await controller.exited;
    const output = controller.stdout() + controller.stderr();
    expect(exit.code, output).toBe(0);
    expect(output).not.toMatch(/retrying/);
    expect(output).toMatch(/committed +requeued/);
    expect(await readLog(log)).toEqual(['requeued', 'requeued']);
    const records = await submissions(workdir);
    expect(records.map((r) => r.jobId)).toEqual([jobId]);
    // Slurm's records: the job-completion log of .ci/slurm.sh keeps both runs of the one job, the one its node's
    // failure ended and the requeued one; sacct shows the last.
    let jobs: RecordedJob[] = [];
    await waitUntil(
      async () => (jobs = await jobsOf(records, 1)).some((j) => j.state === 'COMPLETED'),
      30_000,
      `job ${jobId} COMPLETED in Slurm's records`,
    );
    expect(jobs.map((j) => j.jobId)).toEqual(jobs.map(() => jobId));
    expect(jobs.map((j) => j.state).sort()).toEqual(jobs.length === 2 ? ['COMPLETED', 'NODE_FAIL'] : ['COMPLETED']);
  }, 360_000);

  test('the controller SIGKILLed mid-run and started again: its jobs ran on, no node was submitted twice, the run completes', async () => {
    const log = box.path('crash.log');
    const members = Array.from({ length: 6 }, (_, i) => `m${i}`);
    const workflow = await box.write('crash.json', {
      nodes: [...members.map((m) => sleeper(m, log, 4)), joiner('all', members)],
    });
    const workdir = box.path('crash.workdir');
    const args = [
      'run',
      workflow,
      '--workdir',
      workdir,
      '--executor',
      'slurm',
      '--poll',
      '1',
      '--max-jobs',
      '3',
      '--group-size',
      '1',
    ];
    const first = startCli(args, { cwd: box.dir, limitMs: 120_000 });
    await waitUntil(
      async () => (await submissions(workdir)).filter((s) => s.jobId !== undefined).length >= 3,
      60_000,
      'three jobs submitted',
    );
    process.kill(first.pid, 'SIGKILL');
    await first.exited;
    const second = await runCli(args, { cwd: box.dir, timeoutMs: 150_000 });
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.stdout).toMatch(/re-attached to Slurm job/);

    const records = await submissions(workdir);
    await expectRecordsMatchTheSchema(records);
    const jobs = await jobsOf(records, records.length);
    const perNode = jobsPerNode(records, jobs);
    expect([...perNode.keys()].sort()).toEqual([...members, 'all'].sort());
    expect([...perNode.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect(jobs.every((j) => j.state === 'COMPLETED')).toBe(true);
    expect((await readLog(log)).sort()).toEqual([...members].sort());
  }, 200_000);
});

describeWithSlurm('run --executor slurm: grouping, status, Ctrl-C', () => {
  test('ready nodes of one resource class share jobs: 8 small nodes with --max-jobs 2 make 2 jobs, the join a third', async () => {
    const log = box.path('group.log');
    const members = Array.from({ length: 8 }, (_, i) => `g${i}`);
    const workflow = await box.write('group.json', {
      nodes: [...members.map((m) => sleeper(m, log, 0)), joiner('all', members)],
    });
    const workdir = box.path('group.workdir');
    const result = await runCli(
      ['run', workflow, '--workdir', workdir, '--executor', 'slurm', '--poll', '1', '--max-jobs', '2'],
      {
        timeoutMs: 120_000,
      },
    );
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const records = await submissions(workdir);
    expect(records.map((r) => r.nodes.length).sort()).toEqual([1, 4, 4]);
    const jobs = await jobsOf(records, 3);
    expect(jobs).toHaveLength(3);
    expect((await readLog(log)).sort()).toEqual([...members].sort());
  }, 150_000);

  test('1,000 small nodes with --max-jobs 10 make 10 jobs of 100 nodes', async () => {
    const nodes = Array.from({ length: 1000 }, (_, i) => ({
      label: `c${i}`,
      operation: 'scalems.Integer64',
      input: { data: [i] },
    }));
    const workflow = await box.write('thousand.json', { nodes });
    const workdir = box.path('thousand.workdir');
    const result = await runCli(
      ['run', workflow, '--workdir', workdir, '--executor', 'slurm', '--poll', '1', '--max-jobs', '10'],
      {
        timeoutMs: 120_000,
      },
    );
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/1000 built/);
    const records = await submissions(workdir);
    expect(records.map((r) => r.nodes.length)).toEqual(Array.from({ length: 10 }, () => 100));
    expect(await jobsOf(records, 10)).toHaveLength(10);
  }, 150_000);

  test("status shows each node's Slurm job and state; SIGINT cancels the run's jobs and says how to resume", async () => {
    const log = box.path('interrupt.log');
    const workflow = await box.write('interrupt.json', {
      // Long enough that neither commits before the interrupt, however slowly status answers on a loaded machine.
      nodes: [sleeper('a', log, 20), sleeper('b', log, 20), joiner('ab', ['a', 'b'])],
    });
    const workdir = box.path('interrupt.workdir');
    const args = ['run', workflow, '--workdir', workdir, '--executor', 'slurm', '--poll', '1', '--group-size', '1'];
    const controller = startCli(args, { cwd: box.dir, limitMs: 120_000 });
    let status = '';
    await waitUntil(
      async () => {
        status = (await runCli(['status', workflow, '--workdir', workdir])).stdout;
        return (status.match(/\[slurm job \d+ RUNNING\]/g) ?? []).length === 2 && (await readLog(log)).length === 2;
      },
      60_000,
      'status to show two running Slurm jobs, both nodes started',
    );
    expect(status).toMatch(/^a +[0-9a-f]{12} +.*\[slurm job \d+ RUNNING\]$/m);
    expect(status).toMatch(/^ab +[0-9a-f]{12} +not started$/m);
    process.kill(controller.pid, 'SIGINT');
    const exit = await controller.exited;
    expect(exit.code).toBe(130);
    expect(controller.stdout() + controller.stderr()).toMatch(
      /interrupted: cancelled 2 Slurm job\(s\) of this run; run `run-graph run .*interrupt\.json --workdir .* --executor slurm` again to resume/,
    );
    const records = await submissions(workdir);
    const jobs = await jobsOf(records, 2);
    expect(jobs.map((j) => j.state)).toEqual(['CANCELLED', 'CANCELLED']);
    expect((await runCli(['status', workflow, '--workdir', workdir])).stdout).toMatch(/\[slurm job \d+ CANCELLED\]/);

    const resumed = await runCli(args, { cwd: box.dir, timeoutMs: 120_000 });
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
    expect((await readLog(log)).sort()).toEqual(['a', 'a', 'b', 'b']);
  }, 200_000);
});

describeWithSlurm('a job array of plain workers on one working directory', () => {
  test("4 workers: each node committed exactly once, a cancelled task's node taken over, the others exit 0", async () => {
    const log = box.path('array-nodes.log');
    const audit = box.path('array-audit.log');
    const members = Array.from({ length: 8 }, (_, i) => `w${i}`);
    const workflow = await box.write('array.json', {
      nodes: [...members.map((m) => sleeper(m, log, 4)), joiner('all', members)],
    });
    const workdir = box.path('array.workdir');
    const arrayName = `rg-array-${Date.now().toString(36)}`;
    const command = `exec ${process.execPath} ${CLI} run ${workflow} --workdir ${workdir} --jobs 1`;
    const { stdout } = await execFileAsync(
      'sbatch',
      ['--parsable', '--array=1-4', '-J', arrayName, '-o', box.path('array-%a.out'), '--wrap', command],
      { env: { ...process.env, CI: '1', RUN_GRAPH_EXECUTION_LOG: audit } },
    );
    const arrayId = stdout.trim().split(';')[0] ?? '';
    // Every task is in the middle of a node: four distinct processes have started one.
    await waitUntil(
      async () => new Set((await readLog(audit)).map((line) => (JSON.parse(line) as { pid: number }).pid)).size === 4,
      60_000,
      'four workers running a node each',
    );
    await slurmCommand('scancel', [`${arrayId}_2`]);
    await waitUntil(
      async () => (await slurmCommand('squeue', ['-h', '-j', arrayId])).trim() === '',
      120_000,
      'the array to finish',
    );

    const lines = (await readLog(audit)).map((l) => JSON.parse(l) as { event: string; uid: string; pid: number });
    const commits = lines.filter((l) => l.event === 'commit');
    const uids = await storeUids(workdir);
    expect(uids).toHaveLength(9);
    for (const uid of uids) expect((await readMetadata(workdir, uid)).state).toBe('committed');
    expect(commits).toHaveLength(9);
    expect(new Set(commits.map((c) => c.uid)).size).toBe(9);
    // The cancelled task started a node and never committed it; another worker did.
    const interrupted = lines.filter(
      (l) => l.event === 'start' && !commits.some((c) => c.uid === l.uid && c.pid === l.pid),
    );
    expect(interrupted.length).toBeGreaterThanOrEqual(1);
    for (const start of interrupted) expect(commits.find((c) => c.uid === start.uid)?.pid).not.toBe(start.pid);

    // The job-completion log names an array's tasks by their own job ids: count them by the array's name.
    const tasks = await recordedJobs(arrayName);
    expect(tasks.map((j) => j.state).sort()).toEqual(['CANCELLED', 'COMPLETED', 'COMPLETED', 'COMPLETED']);
    expect(tasks.filter((j) => j.state === 'COMPLETED').map((j) => j.exitCode)).toEqual(['0:0', '0:0', '0:0']);
  }, 200_000);
});

describeWithSlurm('srun -n K workers in one allocation', () => {
  test('3 tasks of one job share the work: each node committed exactly once, the job completes', async () => {
    const log = box.path('srun-nodes.log');
    const audit = box.path('srun-audit.log');
    const members = Array.from({ length: 6 }, (_, i) => `s${i}`);
    const workflow = await box.write('srun.json', {
      nodes: [...members.map((m) => sleeper(m, log, 1)), joiner('all', members)],
    });
    const workdir = box.path('srun.workdir');
    const name = `rg-srun-${Date.now().toString(36)}`;
    const command = `srun -n 3 -O ${process.execPath} ${CLI} run ${workflow} --workdir ${workdir} --jobs 1`;
    const { stdout } = await execFileAsync(
      'sbatch',
      ['--parsable', '-n', '3', '-O', '-J', name, '-o', box.path('srun-%j.out'), '--wrap', command],
      { env: { ...process.env, CI: '1', RUN_GRAPH_EXECUTION_LOG: audit } },
    );
    const jobId = stdout.trim().split(';')[0] ?? '';
    await waitUntil(
      async () => (await slurmCommand('squeue', ['-h', '-j', jobId])).trim() === '',
      120_000,
      'the job to end',
    );
    const lines = (await readLog(audit)).map((l) => JSON.parse(l) as { event: string; uid: string; pid: number });
    const commits = lines.filter((l) => l.event === 'commit');
    expect(commits).toHaveLength(7);
    expect(new Set(commits.map((c) => c.uid)).size).toBe(7);
    expect(new Set(lines.map((l) => l.pid)).size).toBeGreaterThan(1);
    expect((await readLog(log)).sort()).toEqual([...members].sort());
    const [job] = await jobsOf([{ name, nodes: [] }], 1);
    expect(job?.state).toBe('COMPLETED');
    expect(job?.exitCode).toBe('0:0');
  }, 150_000);
});
