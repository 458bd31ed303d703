/**
 * `/v1/nodes`, `/v1/nodes/:uid/ledger` and `/v1/nodes/:uid/edges` in a
 * working directory of 100,000 stores and 100,000 ledger entries: once
 * the server has looked at the directory, a request lists no directory
 * and reads no other store's metadata (counted through LocalGraph.reads),
 * whatever the number of entries, until the directory changes; `/v1/nodes`
 * answers in pages (limit and cursor).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { Uid } from '../../src/identity/fingerprint.js';
import { startServer, type RunGraphServer } from '../../src/server/server.js';
import type { ConcreteGraph } from '../../src/workflow/graph.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { rawRequest, runWorkflow, SMALL_WORKFLOW } from '../support/server.js';

const ENTRIES = 100_000;

let sandbox: Sandbox;
let workdir: string;
let graph: ConcreteGraph;
let server: RunGraphServer;

function uidOf(label: string): Uid {
  return graph.byLabel.get(label)?.uid as Uid;
}

/** The i-th made-up uid: 64 hex digits. */
function fakeUid(i: number): string {
  return `c${i.toString(16).padStart(63, '0')}`;
}

beforeAll(async () => {
  sandbox = await createSandbox();
  workdir = sandbox.path('work');
  graph = await runWorkflow(SMALL_WORKFLOW, sandbox.dir, workdir);
  // Empty store directories and ledger entries of other uids, made by xargs (100,000 calls from here would take long).
  const names: string[] = [];
  for (let i = 0; i < ENTRIES; i++) {
    names.push(join(workdir, fakeUid(i)));
    names.push(join(workdir, 'ledger', `${fakeUid(i)}.20260101T000000000Z.00000000.000000.json`));
  }
  await writeFile(sandbox.path('names.txt'), names.filter((_, i) => i % 2 === 0).join('\n'));
  await writeFile(sandbox.path('files.txt'), names.filter((_, i) => i % 2 === 1).join('\n'));
  await mkdir(join(workdir, 'ledger'), { recursive: true });
  execFileSync('sh', ['-c', `xargs -a names.txt mkdir && xargs -a files.txt touch`], { cwd: sandbox.dir });
  server = await startServer({ workdir, graph, port: 0 });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await sandbox?.cleanup();
});

describe('with 100,000 stores and ledger entries', () => {
  it('a request lists no directory and reads no other metadata once the server has looked', async () => {
    const total = uidOf('total');
    const paths = ['/v1/nodes?limit=100', `/v1/nodes/${total}/ledger`, `/v1/nodes/${uidOf('matrix')}/edges`];
    // The first requests build the server's view of the directory.
    for (const path of paths) expect((await rawRequest(server.url, { path })).status).toBe(200);
    const before = { ...server.graph.reads };
    for (let i = 0; i < 20; i++)
      for (const path of paths) expect((await rawRequest(server.url, { path })).status, path).toBe(200);
    expect(server.graph.reads).toEqual(before);

    // The answers are right: total's ledger entry, doubled among matrix's dependents.
    const ledger = (await rawRequest(server.url, { path: paths[1] as string })).json() as {
      entries: { uid: string }[];
    };
    expect(ledger.entries.map((e) => e.uid)).toEqual([total]);
    const edges = (await rawRequest(server.url, { path: paths[2] as string })).json() as { dependents: string[] };
    expect(edges.dependents).toEqual([uidOf('doubled')]);
  }, 120_000);

  it('a new store is seen at the next request', async () => {
    const uid = 'a'.repeat(64);
    await mkdir(join(workdir, uid));
    const page = (await rawRequest(server.url, { path: `/v1/nodes?limit=3&after=${'a'.repeat(63)}9` })).json() as {
      uids: string[];
    };
    expect(page.uids[0]).toBe(uid);
  }, 60_000);

  it('/v1/nodes answers in pages that together list every store once, and the client follows them', async () => {
    const first = (await rawRequest(server.url, { path: '/v1/nodes?limit=1000' })).json() as {
      uids: string[];
      next?: string;
    };
    expect(first.uids).toHaveLength(1000);
    expect(first.next).toBe(first.uids[999]);
    const second = (await rawRequest(server.url, { path: `/v1/nodes?limit=1000&after=${first.next}` })).json() as {
      uids: string[];
    };
    expect((second.uids[0] as string) > (first.uids[999] as string)).toBe(true);
    const client = await connect(server.url);
    try {
      const all = await client.uids();
      expect(all.length).toBe(ENTRIES + 4 + 1);
      expect(new Set(all).size).toBe(all.length);
      expect([...all].sort()).toEqual(all);
    } finally {
      client.close();
    }
    const tooMany = await rawRequest(server.url, { path: '/v1/nodes?limit=100001' });
    expect(tooMany.status).toBe(400);
  }, 120_000);
});
