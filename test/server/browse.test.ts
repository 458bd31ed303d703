/**
 * Browsing a served working directory from the client: the root and its
 * labels, info, edges both ways, upstream nodes fetched lazily and once,
 * metadata, whole arrays as ndarrays; every answer equal to what the local
 * view of the same directory says; live events of a run; and a read-only
 * server that leaves the working directory exactly as it found it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalGraph, type LocalGraph } from '../../src/views/browse/local-graph.js';
import { connect, type RemoteGraph } from '../../src/client/connect.js';
import { RemoteError } from '../../src/client/transport.js';
import { WorkerContext } from '../../src/engine/worker-context.js';
import type { Uid } from '../../src/identity/fingerprint.js';
import { builtinRegistry } from '../../src/operations/registry.js';
import type { PublishedEvent } from '../../src/server/events.js';
import { startServer, type RunGraphServer } from '../../src/server/server.js';
import { buildGraph, type ConcreteGraph } from '../../src/workflow/graph.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { runWorkflow, SMALL_WORKFLOW, snapshotTree } from '../support/server.js';

let sandbox: Sandbox;
let workdir: string;
let graph: ConcreteGraph;
let server: RunGraphServer;
let remote: RemoteGraph;
let local: LocalGraph;
let before: string[];

function uidOf(label: string): Uid {
  const node = graph.byLabel.get(label);
  if (node === undefined) throw new Error(`no ${label}`);
  return node.uid;
}

beforeAll(async () => {
  sandbox = await createSandbox();
  workdir = sandbox.path('work');
  graph = await runWorkflow(SMALL_WORKFLOW, sandbox.dir, workdir);
  before = await snapshotTree(workdir);
  server = await startServer({ workdir, graph, port: 0 });
  remote = await connect(server.url);
  local = await openLocalGraph(workdir, { graph });
});

afterAll(async () => {
  remote?.close();
  await server?.close();
  await sandbox?.cleanup();
});

describe('a remote graph', () => {
  it('serves the workflow root with every label and its upstream labels', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const root = await remote.root();
    expect(root.file).toBe('workflow.json');
    expect(root.nodes.map((n) => n.label).sort()).toEqual(['doubled', 'matrix', 'total', 'vector']);
    expect(root.nodes.find((n) => n.label === 'doubled')).toEqual({
      label: 'doubled',
      uid: uidOf('doubled'),
      operation: 'run-graph.Add',
      version: '1',
      upstream: ['matrix'],
    });
    expect(remote.server).toMatchObject({ api: 1, name: 'run-graph', workflow: true, submit: false });
  });

  it('gives a node its info and its edges in both directions', async () => {
    const total = await remote.nodeByLabel('total');
    const info = await total.info();
    expect(info).toMatchObject({
      uid: uidOf('total'),
      state: 'committed',
      labels: ['total'],
      operation: { namespace: 'run-graph', name: 'Sum', version: '1' },
    });
    const doubled = remote.node(uidOf('doubled'));
    const edges = await doubled.edges();
    expect(edges.inputs).toEqual([
      { field: 'input.a', uid: uidOf('matrix'), output: 'data' },
      { field: 'input.b', uid: uidOf('matrix'), output: 'data' },
    ]);
    expect(edges.dependents).toEqual([uidOf('total')]);
    expect((await remote.node(uidOf('matrix')).dependents()).map((n) => n.uid)).toEqual([uidOf('doubled')]);
  });

  it('follows edges lazily: each upstream node is one object, fetched once', async () => {
    const total = remote.node(uidOf('total'));
    const start = remote.requests;
    const [doubled] = await total.upstream();
    expect(remote.requests - start).toBe(1);
    expect(doubled).toBe(remote.node(uidOf('doubled')));
    await total.upstream();
    expect(remote.requests - start).toBe(1);

    const infoFirst = await doubled?.info();
    const infoAgain = await doubled?.info();
    expect(infoAgain).toBe(infoFirst);
    const [matrix] = (await doubled?.upstream()) ?? [];
    expect(matrix?.uid).toBe(uidOf('matrix'));
    // Asked again, nothing goes to the server: the edge was followed once and the info is committed.
    const afterWalk = remote.requests;
    await doubled?.upstream();
    await doubled?.info();
    expect(remote.requests).toBe(afterWalk);
  });

  it('answers exactly what the local view of the same directory answers', async () => {
    for (const label of ['matrix', 'doubled', 'total', 'vector']) {
      const uid = uidOf(label);
      const [r, l] = [remote.node(uid), local.node(uid)];
      expect(await r.info()).toEqual(await l.info());
      expect(await r.edges()).toEqual(await l.edges());
      expect(await r.meta()).toEqual(await l.meta());
      expect(await r.artifacts()).toEqual(await l.artifacts());
    }
    const metaOnDisk = JSON.parse(await readFile(join(workdir, uidOf('total'), 'metadata.json'), 'utf8')) as unknown;
    expect(await remote.node(uidOf('total')).meta()).toEqual(metaOnDisk);
  });

  it('reads arrays whole as ndarrays: int64, float64 and a scalar', async () => {
    const doubled = await remote.node(uidOf('doubled')).read();
    expect(doubled.shape).toEqual([2, 2]);
    expect(doubled.data).toBeInstanceOf(BigInt64Array);
    expect([doubled.get(0, 0), doubled.get(0, 1), doubled.get(1, 0), doubled.get(1, 1)]).toEqual([2n, 4n, 6n, 8n]);
    const vector = await remote.node(uidOf('vector')).read('data');
    expect(Array.from(vector.data as Float64Array)).toEqual([0.5, 1.5, 2.5]);
    const total = await remote.node(uidOf('total')).read();
    expect(total.get(0)).toBe(20n);
    const localTotal = await local.node(uidOf('total')).read();
    expect(localTotal.get(0)).toBe(20n);
  });

  it('yields chunks that decode on their own', async () => {
    const chunks = [];
    for await (const chunk of remote.node(uidOf('vector')).chunks('data', { chunkBytes: 4096 })) chunks.push(chunk);
    expect(chunks).toHaveLength(1);
    expect(chunks[0]?.shape).toEqual([3]);
    expect(Array.from(chunks[0]?.value?.data as Float64Array)).toEqual([0.5, 1.5, 2.5]);
  });

  it('lists every store and reports unknown nodes as errors with their status', async () => {
    expect((await remote.uids()).sort()).toEqual(graph.nodes.map((n) => n.uid).sort());
    const missing = remote.node('0'.repeat(64));
    await expect(missing.info()).rejects.toMatchObject({ code: 'E_REMOTE', status: 'UNKNOWN_NODE', httpStatus: 404 });
    await expect(missing.info()).rejects.toBeInstanceOf(RemoteError);
    await expect(remote.nodeByLabel('nope')).rejects.toMatchObject({ status: 'UNKNOWN_LABEL' });
    expect(() => remote.node('../etc')).toThrow(/not a uid/);
  });

  it('never writes to the working directory it serves read-only', async () => {
    expect(await snapshotTree(workdir)).toEqual(before);
  });
});

describe('live events', () => {
  it('streams a run published to the server, history first, in order', async () => {
    const spec = {
      nodes: [
        {
          label: 'late',
          operation: 'scalems.Float64',
          input: {
            data: [
              [9, 8],
              [7, 6],
            ],
          },
        },
      ],
    };
    const lateGraph = await buildGraph(spec, { registry: builtinRegistry(), baseDir: sandbox.dir });
    const context = await WorkerContext.open({ workdir, onEvent: (event) => server.publish(event) });
    // The run starts before the client connects: the history replays what it missed.
    const running = context.run(lateGraph);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 20_000);
    const received: PublishedEvent[] = [];
    try {
      for await (const event of remote.events({ signal: abort.signal })) {
        received.push(event);
        if (event.type === 'run-finished') break;
      }
    } finally {
      clearTimeout(timer);
    }
    await running;
    expect(received.map((e) => e.type)).toEqual([
      'run-started',
      'node-started',
      'node-committing',
      'node-committed',
      'run-finished',
    ]);
    expect(received.map((e) => e.id)).toEqual([1, 2, 3, 4, 5]);
    expect(received[1]).toMatchObject({ type: 'node-started', label: 'late', uid: lateGraph.nodes[0]?.uid });

    // A client that reconnects with the last id it saw gets nothing twice.
    const again: PublishedEvent[] = [];
    const abortAgain = new AbortController();
    const timerAgain = setTimeout(() => abortAgain.abort(), 300);
    try {
      for await (const event of remote.events({ lastEventId: 4, signal: abortAgain.signal })) again.push(event);
    } catch (error) {
      if (!abortAgain.signal.aborted) throw error;
    } finally {
      clearTimeout(timerAgain);
    }
    expect(again.map((e) => e.id)).toEqual([5]);
  });
});
