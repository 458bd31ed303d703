/**
 * Nothing outside the working directory is served through a store: not a
 * file hard-linked into a store in place of its artifact, not the
 * metadata of a store directory that is a symlink to a folder elsewhere.
 * An artifact that is also hard-linked out of its store (as publishing a
 * result does) is still served.
 */
import { cp, link, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Uid } from '../../src/identity/fingerprint.js';
import { startServer, type RunGraphServer } from '../../src/server/server.js';
import type { ConcreteGraph } from '../../src/workflow/graph.js';
import { createSandbox, writeJson, type Sandbox } from '../support/sandbox.js';
import { rawRequest, runWorkflow, SMALL_WORKFLOW } from '../support/server.js';

const SECRET = 'TOP-SECRET-CONTENT-OUTSIDE-THE-WORKDIR';
const HARDLINK_UID = 'a1'.repeat(32);
const LINKED_DIR_UID = 'b2'.repeat(32);

let sandbox: Sandbox;
let workdir: string;
let graph: ConcreteGraph;
let server: RunGraphServer;

function uidOf(label: string): Uid {
  return graph.byLabel.get(label)?.uid as Uid;
}

interface Metadata {
  uid: string;
  artifacts: { [output: string]: { path: string; size: number; kind: string } };
}

async function readMetadata(dir: string): Promise<Metadata> {
  return JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8')) as Metadata;
}

beforeAll(async () => {
  sandbox = await createSandbox();
  workdir = sandbox.path('work');
  graph = await runWorkflow(SMALL_WORKFLOW, sandbox.dir, workdir);
  await writeFile(sandbox.path('secret.txt'), SECRET);

  // A copy of a committed store whose artifact file is replaced by a hard link to the secret, its size forged to match.
  const forged = join(workdir, HARDLINK_UID);
  await cp(join(workdir, uidOf('matrix')), forged, { recursive: true });
  const metadata = await readMetadata(forged);
  metadata.uid = HARDLINK_UID;
  const entry = metadata.artifacts['data'] as { path: string; size: number; kind: string };
  entry.size = SECRET.length;
  entry.kind = 'file';
  await writeJson(join(forged, 'metadata.json'), metadata);
  await rm(join(forged, entry.path));
  await link(sandbox.path('secret.txt'), join(forged, entry.path));

  // A store directory that is a symlink to a folder outside the working directory.
  const outside = sandbox.path('outside-store');
  await cp(join(workdir, uidOf('vector')), outside, { recursive: true });
  const outsideMetadata = await readMetadata(outside);
  outsideMetadata.uid = LINKED_DIR_UID;
  (outsideMetadata as unknown as { secret: string }).secret = SECRET;
  await writeJson(join(outside, 'metadata.json'), outsideMetadata);
  await symlink(outside, join(workdir, LINKED_DIR_UID));

  // A result published out of its store: a second name of the artifact file, outside the working directory.
  await mkdir(sandbox.path('results'));
  const doubled = await readMetadata(join(workdir, uidOf('doubled')));
  const doubledPath = (doubled.artifacts['result'] as { path: string }).path;
  await link(join(workdir, uidOf('doubled'), doubledPath), sandbox.path('results', 'doubled.npy'));

  server = await startServer({ workdir, graph, port: 0 });
});

afterAll(async () => {
  await server?.close();
  await sandbox?.cleanup();
});

describe('a hard link', () => {
  it('to a file outside the working directory is not served, whole or by chunk', async () => {
    for (const path of [
      `/v1/nodes/${HARDLINK_UID}/artifacts/data`,
      `/v1/nodes/${HARDLINK_UID}/artifacts/data/chunks/0`,
    ]) {
      const res = await rawRequest(server.url, { path });
      expect(res.text).not.toContain(SECRET);
      expect([403, 500]).toContain(res.status);
    }
  });

  it('of an artifact published out of its store is still served', async () => {
    const res = await rawRequest(server.url, { path: `/v1/nodes/${uidOf('doubled')}/artifacts/result` });
    expect(res.status).toBe(200);
    expect(res.body.equals(await readFile(sandbox.path('results', 'doubled.npy')))).toBe(true);
  });
});

describe('a store directory that is a symlink', () => {
  it('to a folder outside the working directory is not served', async () => {
    for (const path of [
      `/v1/nodes/${LINKED_DIR_UID}/metadata`,
      `/v1/nodes/${LINKED_DIR_UID}`,
      `/v1/nodes/${LINKED_DIR_UID}/artifacts`,
      `/v1/nodes/${LINKED_DIR_UID}/edges`,
    ]) {
      const res = await rawRequest(server.url, { path });
      expect(res.text).not.toContain(SECRET);
      expect(res.status, path).toBe(403);
    }
  });
});
