/**
 * `GET /v1/view/logs/:label`: what `run-graph logs` prints of a node's
 * latest attempt, for the web page's panel of a node not committed. A failed
 * Subprocess's stderr, a committed one's stdout (its end only when large),
 * NO_LOGS for a node that has not run, and a log file a command replaced
 * with a symbolic link is not followed.
 */
import { symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../../src/operations/registry.js';
import { startServer, type RunGraphServer } from '../../src/server/server.js';
import type { ViewLogs } from '../../src/views/web/types.js';
import { buildGraph } from '../../src/workflow/graph.js';
import { must, runCli, uidsByLabel } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';

const TOKEN = 'view-logs-token-0123456789';
let box: Sandbox;
let server: RunGraphServer;
let workdir: string;
let uids: Map<string, string>;

const spec = {
  nodes: [
    {
      label: 'broken',
      operation: 'scalems.Subprocess',
      input: { argv: ['sh', '-c', 'echo "no input here" >&2; exit 3'] },
    },
    {
      label: 'leaky',
      operation: 'scalems.Subprocess',
      input: { argv: ['sh', '-c', 'echo "a secret path" >&2; exit 4'] },
    },
    // 100 KiB of numbered lines on stdout.
    { label: 'chatty', operation: 'scalems.Subprocess', input: { argv: ['sh', '-c', 'seq 1 18000'] } },
    { label: 'later', operation: 'scalems.Subprocess', input: { argv: ['cat', { $ref: 'broken' }] } },
  ],
};

beforeAll(async () => {
  box = await createSandbox();
  workdir = box.path('wd');
  const workflow = await box.write('flow.json', spec);
  const run = await runCli(['run', workflow, '--workdir', workdir]);
  expect(run.code).toBe(1);
  uids = await uidsByLabel(workflow);
  // leaky's stderr replaced by a link to a file outside the store.
  const secret = await box.write('secret.txt', 'do not serve me\n');
  const stderr = join(workdir, must(uids, 'leaky'), 'attempts', '1', 'stderr.txt');
  await unlink(stderr);
  await symlink(secret, stderr);
  const graph = await buildGraph(spec, { registry: builtinRegistry(), baseDir: box.dir, file: workflow });
  server = await startServer({ workdir, graph, port: 0, token: TOKEN });
});

afterAll(async () => {
  await server?.close();
  await box?.cleanup();
});

async function logsOf(label: string): Promise<{ status: number; body: ViewLogs & { status?: string } }> {
  const res = await fetch(`${server.url}/v1/view/logs/${label}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  return { status: res.status, body: (await res.json()) as ViewLogs & { status?: string } };
}

describe('GET /v1/view/logs/:label', () => {
  it("gives a failed attempt's heading, error and stderr", async () => {
    const { status, body } = await logsOf('broken');
    expect(status).toBe(200);
    expect(body.heading).toMatch(/^== broken, attempt 1: failed \(exit 3\) after \d+ ms/);
    expect(body.error).toMatch(/sh exited with code 3/);
    expect(body.stderr).toEqual({ text: 'no input here\n', size: 14 });
    expect(body.stdout).toEqual({ text: '', size: 0 });
  });

  it("gives the end of a committed attempt's long stdout, with its size", async () => {
    const { body } = await logsOf('chatty');
    expect(body.heading).toBe('== chatty, attempt 1: committed');
    const whole = Array.from({ length: 18000 }, (_, i) => `${i + 1}\n`).join('');
    expect(body.stdout?.size).toBe(whole.length);
    expect(body.stdout?.text).toBe(whole.slice(whole.length - 64 * 1024));
  });

  it('does not follow a log file replaced by a symbolic link', async () => {
    const { status, body } = await logsOf('leaky');
    expect(status).toBe(200);
    expect(body.stderr).toBeUndefined();
    expect(JSON.stringify(body)).not.toContain('do not serve me');
  });

  it('answers NO_LOGS for a node that has not run, UNKNOWN_LABEL for one not in the workflow', async () => {
    expect(await logsOf('later')).toMatchObject({ status: 404, body: { status: 'NO_LOGS' } });
    expect(await logsOf('nothing')).toMatchObject({ status: 404, body: { status: 'UNKNOWN_LABEL' } });
  });
});
