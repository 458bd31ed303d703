// JavaScript compute runs in worker threads so the main thread keeps the
// lock heartbeat beating. Two processes play two hosts sharing a working
// directory (RUN_GRAPH_HOSTNAME), with a 2 s stale limit, on a node that
// computes for 5 s. In a worker thread the owner's heartbeat stays fresh:
// the other host waits and reuses its result, and the node runs once. On the
// main thread the heartbeat stalls, the other host rightly takes the stale
// lock over, and the first process, learning its lock was lost, must not
// commit: the second host's result is the one committed, and the first
// waits for it and reuses it rather than failing.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIST_INDEX_URL, requireBuiltCli } from '../support/cli.js';
import { createSandbox } from '../support/sandbox.js';

const OPERATIONS = `
import { appendFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
export const busy = {
  namespace: 'test', name: 'Busy', version: '1', module: import.meta.url, summary: 'computes for 5 s', defaultOutput: 'ran',
  check: () => ({ ran: { kind: 'json' } }),
  async run() {
    appendFileSync(process.env.BUSY_LOG, process.env.RUN_GRAPH_HOSTNAME + '\\n');
    const until = Date.now() + 5000;
    while (Date.now() < until) { /* pure compute: no await, no I/O */ }
    return { ran: { kind: 'json', value: { host: process.env.RUN_GRAPH_HOSTNAME, thread: isMainThread ? 'main' : 'worker' } } };
  },
};
`;

const SCRIPT = `
import { WorkerContext, buildGraph, builtinRegistry } from ${JSON.stringify(DIST_INDEX_URL)};
import { busy } from './operations.mjs';
const [workdir, threads] = process.argv.slice(2);
const graph = await buildGraph({ nodes: [{ label: 'spin', operation: 'test.Busy', input: {} }] }, { registry: builtinRegistry().register(busy) });
const events = [];
const context = await WorkerContext.open({ workdir, jobs: 1, staleMs: 2000, threads: threads === 'on', onEvent: (e) => events.push(e.type) });
const summary = await context.run(graph);
console.log(JSON.stringify({ ok: summary.ok, failures: summary.failures.map((f) => f.error.code), events }));
`;

interface Outcome {
  ok: boolean;
  failures: string[];
  events: string[];
}

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  requireBuiltCli();
  ({ dir, cleanup } = await createSandbox());
  await writeFile(join(dir, 'operations.mjs'), OPERATIONS);
  await writeFile(join(dir, 'spin.mjs'), SCRIPT);
});
afterEach(async () => cleanup());

function host(name: string, workdir: string, threads: 'on' | 'off', log: string): Promise<Outcome> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(dir, 'spin.mjs'), workdir, threads], {
      env: { ...process.env, RUN_GRAPH_HOSTNAME: name, BUSY_LOG: log },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', fail);
    child.once('close', (code) =>
      code === 0
        ? done(JSON.parse(out.trim().split('\n').pop() ?? '{}') as Outcome)
        : fail(new Error(`${name} exited ${String(code)}: ${err}`)),
    );
  });
}

async function twoHosts(
  threads: 'on' | 'off',
): Promise<{ a: Outcome; b: Outcome; executions: string[]; committed: { host: string; thread: string } }> {
  const workdir = join(dir, `work-${threads}`);
  const log = join(dir, `busy-${threads}.log`);
  const a = host('host-a', workdir, threads, log);
  // Host b starts once host a is computing.
  for (
    let waited = 0;
    waited < 20_000 && !(await readFile(log, 'utf8').catch(() => '')).includes('host-a');
    waited += 20
  )
    await new Promise((r) => setTimeout(r, 20));
  const b = host('host-b', workdir, 'on', log);
  const [outcomeA, outcomeB] = await Promise.all([a, b]);
  const uid = readdirSync(workdir).find((n) => /^[0-9a-f]{64}$/.test(n)) ?? '';
  const metadata = JSON.parse(await readFile(join(workdir, uid, 'metadata.json'), 'utf8')) as {
    state: string;
    artifacts: { ran: { path: string } };
  };
  expect(metadata.state).toBe('committed');
  const committed = JSON.parse(await readFile(join(workdir, uid, metadata.artifacts.ran.path), 'utf8')) as {
    host: string;
    thread: string;
  };
  return { a: outcomeA, b: outcomeB, executions: (await readFile(log, 'utf8')).trim().split('\n'), committed };
}

describe('worker threads', () => {
  it('in a worker thread the owner keeps its heartbeat: the other host waits and reuses, one execution', async () => {
    const { a, b, executions, committed } = await twoHosts('on');
    expect(a).toMatchObject({ ok: true, failures: [] });
    expect(b).toMatchObject({ ok: true, failures: [] });
    expect(b.events).toContain('lock-waiting');
    expect(b.events).toContain('node-reused');
    expect(executions).toEqual(['host-a']);
    expect(committed).toEqual({ host: 'host-a', thread: 'worker' });
  }, 60_000);

  it('on the main thread the heartbeat stalls, the other host takes over, and the first must not commit', async () => {
    const { a, b, executions, committed } = await twoHosts('off');
    // The first lost the node to the second: not a failure of its own; it reuses the second's commit.
    expect(a).toMatchObject({ ok: true, failures: [] });
    expect(a.events).toContain('node-reused');
    expect(a.events).not.toContain('node-committed');
    expect(b).toMatchObject({ ok: true, failures: [] });
    expect(executions).toEqual(['host-a', 'host-b']);
    expect(committed).toEqual({ host: 'host-b', thread: 'worker' });
  }, 60_000);
});
