/**
 * The web page in a real browser (Debian's Chromium, headless): the page of
 * `run --serve` follows a run whose Subprocess nodes wait on a file the test
 * creates, so states change when the test says; the node panel shows
 * previews and logs; a wrong token is refused with a message; a report file
 * opens with no network and shows the same graph; a 10,000-node graph loads
 * collapsed. Screenshots go to test-output/screenshots/ (paths printed).
 */
import { writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserMissing, launchBrowser, type BrowserSession } from '../support/browser.js';
import { runCli, startCli, type CliProcess } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { halvingWorkflow } from '../loops/workflows.js';

const missing = browserMissing();
const TOKEN = 'page-test-token-0123456789abcdef';

let sandbox: Sandbox;
let session: BrowserSession;

beforeAll(async () => {
  sandbox = await createSandbox();
  if (missing === undefined) session = await launchBrowser();
});

afterAll(async () => {
  await session?.close();
  await sandbox?.cleanup();
});

/** A workflow whose `gate` runs until `release` exists, and whose `after` waits for `gate`. */
function gatedWorkflow(release: string): object {
  const grid = Array.from({ length: 24 }, (_, r) =>
    Array.from({ length: 32 }, (_, c) => Math.sin(r / 4) * Math.cos(c / 5)),
  );
  return {
    nodes: [
      {
        label: 'ramp',
        operation: 'scalems.Float64',
        input: { data: Array.from({ length: 40 }, (_, i) => (i - 20) ** 2) },
      },
      { label: 'grid', operation: 'scalems.Float64', input: { data: grid } },
      {
        label: 'hello',
        operation: 'scalems.Subprocess',
        input: { argv: ['sh', '-c', 'echo "hello from stdout"; echo "a warning on stderr" >&2'] },
      },
      {
        label: 'gate',
        operation: 'scalems.Subprocess',
        input: { argv: ['sh', '-c', 'while [ ! -e "$1" ]; do sleep 0.05; done; echo released', 'gate', release] },
      },
      { label: 'after', operation: 'scalems.Subprocess', input: { argv: ['cat', { $ref: 'gate' }] } },
      {
        label: 'broken',
        operation: 'scalems.Subprocess',
        input: { argv: ['sh', '-c', 'echo "no input here" >&2; exit 3'] },
      },
      {
        label: 'members',
        map: { over: [1, 2, 3, 4, 5, 6], as: 'a', operation: 'run-graph.Multiply', input: { b: 2 } },
      },
    ],
  };
}

async function boxState(page: Page, label: string): Promise<string | null> {
  return page.locator(`[data-box="${label}"]`).getAttribute('data-state');
}

async function waitForState(page: Page, label: string, state: string): Promise<void> {
  await page.waitForSelector(`[data-box="${label}"][data-state="${state}"]`, { timeout: 30_000 });
}

describe.skipIf(missing !== undefined)('the web page in Chromium', () => {
  let run: CliProcess | undefined;

  afterAll(async () => {
    await run?.stop();
  });

  it('asks for the token, refuses a wrong one, then follows a run live: states, previews, logs', async () => {
    const release = sandbox.path('release');
    await writeFile(sandbox.path('flow.json'), JSON.stringify(gatedWorkflow(release)));
    run = startCli(['run', 'flow.json', '--serve', '--port', '0', '--jobs', '2'], {
      cwd: sandbox.dir,
      env: { RUN_GRAPH_TOKEN: TOKEN },
      limitMs: 120_000,
    });
    const [, url] = await run.waitFor(/web view at (http:\/\/[0-9.:]+)\//, 20_000);
    const page = await session.newPage();
    await page.goto(`${url}/`);

    // The page holds nothing without the token: it asks, and a wrong one is refused in words.
    await page.waitForSelector('form.token input[name="token"]');
    const unauthorized = await page.evaluate(`fetch('/v1/view').then((r) => r.status)`);
    expect(unauthorized).toBe(401);
    await page.fill('input[name="token"]', 'this-is-not-the-token');
    await page.click('form.token button');
    await page.waitForSelector('#token-error:not([hidden])');
    expect(await page.textContent('#token-error')).toMatch(/refused this token: wrong bearer token/);
    await session.screenshot(page, 'wrong-token');

    await page.fill('input[name="token"]', TOKEN);
    await page.click('form.token button');
    await page.waitForSelector('body[data-ready="true"]');
    // gate waits on the file, so it stays running and after stays not started, for as long as the test wants.
    await waitForState(page, 'gate', 'running');
    await waitForState(page, 'hello', 'committed');
    expect(await boxState(page, 'after')).toBe('not-started');
    expect(await page.textContent('#live-status')).toBe('live');
    // A failure is known from the events; the panel says what failed.
    await waitForState(page, 'broken', 'failed');
    await page.click('[data-box="broken"]');
    await page.waitForSelector('.panel [data-node-state="failed"]');
    expect(await page.textContent('.panel .facts')).toMatch(/exited with code 3[\s\S]*no input here/);
    // Its logs are read from the failed attempt's directory.
    await page.locator('.panel .logs pre[data-log="stderr"]', { hasText: 'no input here' }).waitFor();
    expect(await page.textContent('.panel .logs')).toMatch(/broken, attempt 1: failed \(exit 3\)/);
    await session.screenshot(page, 'panel-failed');
    // The ensemble is one box with its count.
    expect(await page.textContent('[data-box="members[*]"]')).toMatch(/6 · 6 committed/);
    await session.screenshot(page, 'live-running');

    // The panel of a 1-D array shows a line plot and a table; a 2-D one an image.
    await page.click('[data-box="ramp"]');
    await page.waitForSelector('.panel canvas[data-preview="plot"]');
    expect(await page.textContent('.panel .facts')).toMatch(/scalems\.Float64[\s\S]*committed/);
    expect(await page.textContent('.panel table.values')).toMatch(/400/);
    expect(await page.textContent('.panel .explain')).toMatch(/ramp \(uid [0-9a-f]{12}.*\): reused|committed/);
    await session.screenshot(page, 'panel-plot');
    await page.click('[data-box="grid"]');
    await page.waitForSelector('.panel canvas[data-preview="image"]');
    await session.screenshot(page, 'panel-image');
    // A subprocess's stdout and stderr, read through the chunked API.
    await page.click('[data-box="hello"]');
    // (A locator, not waitForFunction: the page's Content-Security-Policy forbids the eval that one polls with.)
    await page.locator('.panel .logs', { hasText: 'a warning on stderr' }).waitFor();
    expect(await page.textContent('.panel .logs')).toMatch(/hello from stdout/);
    await session.screenshot(page, 'panel-logs');

    // Expanding the ensemble shows its members.
    await page.click('[data-box="members[*]"]');
    await page.waitForSelector('[data-box="members[5]"][data-state="committed"]');

    await writeFile(release, '');
    await waitForState(page, 'gate', 'committed');
    await waitForState(page, 'after', 'committed');
    expect(await page.textContent('#counts')).toMatch(/12 nodes.*11 committed.*1 failed/);
    await page.click('[data-tab="timeline"]');
    await page.waitForSelector('.timeline canvas');
    await session.screenshot(page, 'timeline');
    // The run ends with one node failed.
    expect((await run.exited).code).toBe(1);
    await page.close();
  }, 120_000);

  it('writes a report that opens with no network and shows the graph and previews', async () => {
    const written = await runCli(['report', 'flow.json', '-o', 'report.html'], { cwd: sandbox.dir });
    expect(written.stderr).toBe('');
    expect(written.code).toBe(0);
    // A failed node's store records its failure: on disk it is failed, not merely incomplete.
    expect(written.stdout).toMatch(/wrote report\.html: 12 nodes \(11 committed, 1 failed\)/);
    const page = await session.newPage();
    const requested: string[] = [];
    await page.route('**/*', async (route) => {
      const target = route.request().url();
      if (target.startsWith('file:')) return route.continue();
      requested.push(target);
      return route.abort();
    });
    await page.goto(pathToFileURL(sandbox.path('report.html')).href);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await boxState(page, 'after')).toBe('committed');
    expect(await page.textContent('#counts')).toMatch(/12 nodes.*11 committed.*1 failed/);
    expect(await boxState(page, 'broken')).toBe('failed');
    expect(await page.textContent('.report-note')).toMatch(/first 64 KiB/);
    // The failed node's logs are embedded too.
    await page.click('[data-box="broken"]');
    await page.locator('.panel .logs pre[data-log="stderr"]', { hasText: 'no input here' }).waitFor();
    await page.click('[data-box="grid"]');
    await page.waitForSelector('.panel canvas[data-preview="image"]');
    await session.screenshot(page, 'report');
    expect(requested).toEqual([]);
    await page.close();
  }, 60_000);

  it("shows a loop live as one box, expanded into iterations, then into an iteration's nodes", async () => {
    const release = sandbox.path('release-loop');
    const spec = halvingWorkflow({ initial: [8, 4, 2, 1], below: 1, maxIterations: 10 });
    // `hold` keeps the run, and so its server, alive until the test is done looking.
    spec.nodes.push({
      label: 'hold',
      operation: 'scalems.Subprocess',
      input: { argv: ['sh', '-c', 'while [ ! -e "$1" ]; do sleep 0.05; done', 'hold', release, { $ref: 'final' }] },
    });
    await writeFile(sandbox.path('loop.json'), JSON.stringify(spec));
    const loop = startCli(['run', 'loop.json', '--serve', '--port', '0'], { cwd: sandbox.dir, limitMs: 90_000 });
    try {
      const [, url] = await loop.waitFor(/web view at (http:\/\/[0-9.:]+)\//, 20_000);
      const page = await session.newPage();
      await page.goto(`${url}/`);
      await page.waitForSelector('body[data-ready="true"]');
      await waitForState(page, 'hold', 'running');
      // The iterations' nodes are not in the workflow file: the page learns them from the run's events.
      await waitForState(page, 'relax#*', 'committed');
      expect(await page.textContent('[data-box="relax#*"]')).toMatch(/(\d+) · \1 committed/);
      await page.click('[data-box="relax#*"]');
      await page.waitForSelector('[data-box="relax#0/*"]');
      await page.click('[data-box="relax#0/*"]');
      await page.waitForSelector('[data-box="relax#0/members[*]"][data-state="committed"]');
      expect(await page.textContent('[data-box="relax#0/members[*]"]')).toMatch(/4 · 4 committed/);
      await session.screenshot(page, 'live-loop');
      await writeFile(release, '');
      await waitForState(page, 'hold', 'committed');
      expect((await loop.exited).code).toBe(0);
      await page.close();
    } finally {
      await loop.stop();
    }
  }, 90_000);

  it('loads a 10,000-node graph collapsed, and expands an ensemble a page at a time', async () => {
    const over = Array.from({ length: 10_000 }, (_, i) => i);
    await writeFile(
      sandbox.path('big.json'),
      JSON.stringify({
        nodes: [
          { label: 'scale', operation: 'scalems.Float64', input: { data: 2 } },
          { label: 'sim', map: { over, as: 'a', operation: 'run-graph.Multiply', input: { b: { $ref: 'scale' } } } },
        ],
      }),
    );
    await runCli(['validate', 'big.json'], { cwd: sandbox.dir });
    const { mkdir } = await import('node:fs/promises');
    await mkdir(sandbox.path('big.workdir'), { recursive: true });
    const serve = startCli(['serve', 'big.json', '--port', '0'], { cwd: sandbox.dir, limitMs: 120_000 });
    try {
      const [, url] = await serve.waitFor(/web view at (http:\/\/[0-9.:]+)\//, 60_000);
      const page = await session.newPage();
      const started = Date.now();
      await page.goto(`${url}/`);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
      const loadMs = Date.now() - started;
      expect(await page.textContent('#counts')).toMatch(/10001 nodes/);
      expect(await page.locator('[data-box]').count()).toBe(2);
      const expandStarted = Date.now();
      await page.click('[data-box="sim[*]"]');
      await page.waitForSelector('[data-box="sim[*] …more"]');
      const expandMs = Date.now() - expandStarted;
      // 200 members and one box for the other 9,800, not 10,000 boxes.
      expect(await page.locator('[data-box]').count()).toBe(202);
      expect(await page.textContent('[data-box="sim[*] …more"]')).toMatch(/9800 more/);
      await session.screenshot(page, 'ten-thousand');
      process.stdout.write(
        `10,000-node graph: page ready ${loadMs} ms after navigation (layout ${await page.getAttribute('body', 'data-layout-ms')} ms); expanding the ensemble to 200 members ${expandMs} ms\n`,
      );
      await page.close();
    } finally {
      await serve.stop();
    }
  }, 120_000);
});
