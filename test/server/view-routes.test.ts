/**
 * What the web page reads from a server: the page and its bundled files at
 * `/` and `/assets/` (no token needed: they hold no data), and the JSON of
 * `/v1/view` and `/v1/view/explain/:label` (token needed like all of /v1).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunGraphServer } from '../../src/server/server.js';
import type { ViewExplanation, ViewSnapshot } from '../../src/views/web/types.js';
import { buildGraph } from '../../src/workflow/graph.js';
import { builtinRegistry } from '../../src/operations/registry.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { runWorkflow, SMALL_WORKFLOW } from '../support/server.js';

const TOKEN = 'view-routes-token-0123456789';
let sandbox: Sandbox;
let server: RunGraphServer;

beforeAll(async () => {
  sandbox = await createSandbox();
  const workdir = sandbox.path('small.workdir');
  await runWorkflow(SMALL_WORKFLOW, sandbox.dir, workdir);
  // The served workflow has one node more than was run: it is not started.
  const spec = {
    nodes: [
      ...SMALL_WORKFLOW.nodes,
      { label: 'later', operation: 'run-graph.Sum', input: { array: { $ref: 'vector' } } },
    ],
  };
  const graph = await buildGraph(spec, {
    registry: builtinRegistry(),
    baseDir: sandbox.dir,
    file: join(sandbox.dir, 'flow.json'),
  });
  server = await startServer({ workdir, graph, port: 0, token: TOKEN });
});

afterAll(async () => {
  await server?.close();
  await sandbox?.cleanup();
});

const auth = { Authorization: `Bearer ${TOKEN}` };

describe('the page routes', () => {
  it('serve the page and its files without the token, with a policy that allows nothing from elsewhere', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/);
    const html = await page.text();
    expect(html).toContain('<script src="/assets/app.js"></script>');
    const script = await fetch(`${server.url}/assets/app.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await script.text()).length).toBeGreaterThan(10_000);
    expect((await fetch(`${server.url}/assets/app.css`)).status).toBe(200);
    // Nothing else under /assets, and nothing of the working directory, is served that way.
    expect((await fetch(`${server.url}/assets/../v1/view`)).status).toBe(401);
    expect((await fetch(`${server.url}/assets/app.js.map`)).status).toBe(401);
    expect((await fetch(`${server.url}/v1/view`)).status).toBe(401);
  });

  it('answer POST to the page as the API does: not a page request', async () => {
    expect((await fetch(`${server.url}/`, { method: 'POST', headers: auth })).status).toBe(404);
  });
});

describe('GET /v1/view', () => {
  it('lists every node of the workflow with its state, timings and host', async () => {
    const res = await fetch(`${server.url}/v1/view`, { headers: auth });
    expect(res.status).toBe(200);
    const view = (await res.json()) as ViewSnapshot;
    expect(view.file).toBe('flow.json');
    // In the graph's order, each node after its upstream.
    expect(Object.fromEntries(view.nodes.map((n) => [n.label, n.state]))).toEqual({
      matrix: 'committed',
      doubled: 'committed',
      total: 'committed',
      vector: 'committed',
      later: 'not-started',
    });
    const doubled = view.nodes.find((n) => n.label === 'doubled');
    expect(doubled?.upstream.map((i) => view.nodes[i]?.label)).toEqual(['matrix']);
    expect(doubled?.operation).toBe('run-graph.Add');
    expect(doubled?.host).toEqual(expect.any(String));
    expect(Date.parse(doubled?.startedAt ?? '')).toBeLessThanOrEqual(Date.parse(doubled?.committedAt ?? ''));
  });

  it('explains one node, and names an unknown label', async () => {
    const res = await fetch(`${server.url}/v1/view/explain/later`, { headers: auth });
    const explanation = (await res.json()) as ViewExplanation;
    expect(explanation.verdict).toBe('will-run');
    expect(explanation.lines[0]).toMatch(/^later \(uid [0-9a-f]{12}/);
    const reused = (await (
      await fetch(`${server.url}/v1/view/explain/total`, { headers: auth })
    ).json()) as ViewExplanation;
    expect(reused.verdict).toBe('reused');
    const unknown = await fetch(`${server.url}/v1/view/explain/nope`, { headers: auth });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ status: 'UNKNOWN_LABEL' });
  });

  it('says NO_WORKFLOW on a server without one', async () => {
    const bare = await startServer({ workdir: sandbox.path('small.workdir'), port: 0 });
    try {
      const res = await fetch(`${bare.url}/v1/view`);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ status: 'NO_WORKFLOW' });
    } finally {
      await bare.close();
    }
  });
});
