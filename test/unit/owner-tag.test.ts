// Owner tags: the names of staging entries and temporary owner files say who
// made them, and must stay valid file names whatever the host is called.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WorkerContext } from '../../src/engine/worker-context.js';
import { currentOwner, ownerTag, parseOwnerTag, thisHost } from '../../src/store/owner.js';
import { loadGraph } from '../../src/workflow/load-graph.js';

// The longest name DNS allows: 253 characters.
const LONG_HOST = `${'node-0123456789.'.repeat(15)}example.org`.slice(0, 253);
let dir: string;
let savedHost: string | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'run-graph-tag-'));
  savedHost = process.env['RUN_GRAPH_HOSTNAME'];
});
afterEach(async () => {
  if (savedHost === undefined) delete process.env['RUN_GRAPH_HOSTNAME'];
  else process.env['RUN_GRAPH_HOSTNAME'] = savedHost;
  await rm(dir, { recursive: true, force: true });
});

describe('owner tags', () => {
  it('give back the pid, process start time and host they were made from', () => {
    const owner = currentOwner();
    expect(parseOwnerTag(ownerTag(owner))).toMatchObject({
      pid: owner.pid,
      host: owner.host,
      pidStartTime: owner.pidStartTime,
    });
    expect(parseOwnerTag(ownerTag({ ...owner, host: 'a.b/c d', pidStartTime: null }))).toMatchObject({
      host: 'a.b/c d',
      pidStartTime: null,
    });
  });

  it('stay short for a long host name, and still recognise this host', () => {
    process.env['RUN_GRAPH_HOSTNAME'] = LONG_HOST;
    const tag = ownerTag(currentOwner());
    expect(tag.length).toBeLessThan(100);
    expect(parseOwnerTag(tag)?.host).toBe(thisHost());
    const elsewhere = ownerTag({ ...currentOwner(), host: `other-${LONG_HOST}`.slice(0, 253) });
    expect(parseOwnerTag(elsewhere)?.host).not.toBe(thisHost());
  });

  it('refuse text of another form', () => {
    expect(parseOwnerTag('0123abcd')).toBeUndefined();
    expect(parseOwnerTag('12.34.abcdef.%E0%A4%A')).toBeUndefined();
  });

  it('let a run work on a host with the longest name DNS allows', async () => {
    process.env['RUN_GRAPH_HOSTNAME'] = LONG_HOST;
    const file = join(dir, 'one.json');
    await writeFile(
      file,
      JSON.stringify({ nodes: [{ label: 'one', operation: 'run-graph.Add', input: { a: [1], b: 2 } }] }),
    );
    const workdir = join(dir, 'work');
    const context = await WorkerContext.open({ workdir, jobs: 1 });
    const summary = await context.run(await loadGraph(file));
    expect(summary.failures).toEqual([]);
    expect(summary.ok).toBe(true);
    expect(await readdir(join(workdir, 'tmp'))).toEqual([]);
  });
});
