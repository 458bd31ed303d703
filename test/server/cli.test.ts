/**
 * The commands, run as the built CLI: `serve` answers `status --remote`
 * and stops cleanly on SIGTERM; `run --serve` streams a run's live events
 * to a client while it runs; a non-loopback address without a token is
 * refused before anything binds.
 */
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { PublishedEvent } from '../../src/server/events.js';
import { startCli } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { runWorkflow, SMALL_WORKFLOW } from '../support/server.js';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await createSandbox();
  await writeFile(sandbox.path('small.json'), JSON.stringify(SMALL_WORKFLOW));
  await runWorkflow(SMALL_WORKFLOW, sandbox.dir, sandbox.path('small.workdir'));
});

afterAll(async () => {
  await sandbox?.cleanup();
});

describe('run-graph serve', () => {
  it('serves a workflow that status --remote reads, and stops on SIGTERM', async () => {
    const server = startCli(['serve', 'small.json', '--port', '0', '--json'], { cwd: sandbox.dir });
    try {
      const [line] = await server.waitFor(/\{"type":"listening".*\}/, 15_000);
      const { url } = JSON.parse(line) as { url: string };
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

      const status = startCli(['status', '--remote', url], { cwd: sandbox.dir, limitMs: 20_000 });
      expect((await status.exited).code).toBe(0);
      expect(status.stdout()).toMatch(/^total\s+[0-9a-f]{12}\s+committed$/m);
      expect(status.stdout()).toContain('4 nodes at');
      expect(status.stdout()).toContain('4 committed, 0 not started');

      // A local workflow file with one node the server does not have: that one is not started.
      await writeFile(
        sandbox.path('more.json'),
        JSON.stringify({
          nodes: [...SMALL_WORKFLOW.nodes, { label: 'extra', operation: 'scalems.Float64', input: { data: [42] } }],
        }),
      );
      const json = startCli(['status', 'more.json', '--remote', url, '--json'], { cwd: sandbox.dir, limitMs: 20_000 });
      expect((await json.exited).code).toBe(0);
      const report = JSON.parse(json.stdout()) as { counts: { committed: number; 'not-started': number } };
      expect(report.counts).toMatchObject({ committed: 4, 'not-started': 1 });
    } finally {
      expect((await server.stop()).code).toBe(0);
    }
  }, 60_000);

  it('refuses a non-loopback address without a token, and a remote that is not there', async () => {
    const refused = startCli(['serve', 'small.json', '--host', '0.0.0.0', '--port', '0'], {
      cwd: sandbox.dir,
      limitMs: 20_000,
    });
    expect((await refused.exited).code).toBe(2);
    expect(refused.stderr()).toMatch(/E_USAGE: .*needs a token/);
    const unreachable = startCli(['status', '--remote', 'http://127.0.0.1:9'], { cwd: sandbox.dir, limitMs: 20_000 });
    expect((await unreachable.exited).code).toBe(3);
    expect(unreachable.stderr()).toMatch(/E_REMOTE: NETWORK/);
  }, 60_000);
});

describe('run-graph run --serve', () => {
  it('streams the live events of the run to a client', async () => {
    const slow = {
      nodes: [
        {
          label: 'slow',
          operation: 'scalems.Subprocess',
          input: { argv: ['sh', '-c', 'sleep 2; echo done > out.txt'], outputFiles: ['out.txt'] },
        },
        ...SMALL_WORKFLOW.nodes,
      ],
    };
    await writeFile(sandbox.path('slow.json'), JSON.stringify(slow));
    const run = startCli(['run', 'slow.json', '--serve', '--port', '0', '--json'], { cwd: sandbox.dir });
    const [, url] = await run.waitFor(/live events at (http:\/\/[0-9.:]+)\/v1\/events/, 15_000);
    const client = await connect(url as string);
    const received: PublishedEvent[] = [];
    const abort = new AbortController();
    const limit = setTimeout(() => abort.abort(), 30_000);
    try {
      for await (const event of client.events({ signal: abort.signal })) {
        received.push(event);
        if (event.type === 'run-finished') break;
      }
    } finally {
      clearTimeout(limit);
      client.close();
    }
    expect((await run.exited).code).toBe(0);
    expect(received[0]?.type).toBe('run-started');
    expect(received.at(-1)).toMatchObject({ type: 'run-finished', ok: true });
    expect(
      received
        .filter((e) => e.type === 'node-committed')
        .map((e) => (e as { label: string }).label)
        .sort(),
    ).toEqual(['doubled', 'matrix', 'slow', 'total', 'vector']);
  }, 60_000);
});
