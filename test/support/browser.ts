/**
 * Headless Chromium for the browser tests: Debian's `chromium` package
 * (`.ci/chromium.sh` installs it), driven by playwright-core, which brings
 * no browser of its own. Without it the tests skip, saying why; under
 * CI=true its absence fails them instead.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from './cli.js';

export const CHROMIUM = process.env['RUN_GRAPH_CHROMIUM'] ?? '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM);
/** Where screenshots go (gitignored). */
export const SCREENSHOTS = join(REPO_ROOT, 'test-output', 'screenshots');

/** Why the browser tests cannot run, or undefined when they can; throws under CI=true, where they must run. */
export function browserMissing(): string | undefined {
  if (HAS_CHROMIUM) return undefined;
  const why = `${CHROMIUM} is missing: install Debian's chromium (bash .ci/chromium.sh) to run the browser tests`;
  if (process.env['CI'] === 'true') throw new Error(`${why}; under CI=true the browser tests must run`);
  process.stderr.write(`skipping the browser tests: ${why}\n`);
  return why;
}

export interface BrowserSession {
  context: BrowserContext;
  newPage(): Promise<Page>;
  /** Save a screenshot of the page and print its path. */
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<BrowserSession> {
  const profile = await mkdtemp(join(tmpdir(), 'run-graph-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 860 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  await mkdir(SCREENSHOTS, { recursive: true });
  return {
    context,
    newPage: () => context.newPage(),
    async screenshot(page, name) {
      const path = join(SCREENSHOTS, `${name}.png`);
      await page.screenshot({ path });
      process.stdout.write(`screenshot: ${path}\n`);
      return path;
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
