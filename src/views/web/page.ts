/**
 * The web page: one HTML shell around the script and style sheet that
 * esbuild bundles from web/ into dist/web/ at build time. `serve` links the
 * two files (`/assets/app.js`, `/assets/app.css`); a report inlines them
 * with its data, so the file opens with no server and no network.
 */
import { readFile } from 'node:fs/promises';
import type { ReportData } from './types.js';

/** The bundled files, by the name they are served under. */
export const PAGE_ASSETS = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
} as const;

export type PageAsset = keyof typeof PAGE_ASSETS;

/**
 * Where the bundled files are: dist/web/ beside the built code (dist/views/web/),
 * or, for code run from its sources (the tests), the build's dist/web/.
 */
const ASSET_DIRS = [new URL('../../web/', import.meta.url), new URL('../../../dist/web/', import.meta.url)];

/** Read a bundled file from the package (dist/web/); its absence is a broken build, a bug. */
export async function readPageAsset(name: PageAsset): Promise<Buffer> {
  let first: unknown;
  for (const dir of ASSET_DIRS) {
    try {
      return await readFile(new URL(name, dir));
    } catch (error) {
      first ??= error;
    }
  }
  throw new Error(`the web page's ${name} is missing from the package; \`npm run build\` bundles web/ into dist/web/`, {
    cause: first,
  });
}

function shell(head: string, body: string): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>run-graph</title>',
    head,
    '</head>',
    '<body>',
    '<div id="app"><p class="loading">Loading…</p></div>',
    body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** The page `serve` answers at `/`: the shell, linking the bundled files. */
export function servedPageHtml(): string {
  return shell('<link rel="stylesheet" href="/assets/app.css">', '<script src="/assets/app.js"></script>');
}

/** Text that may stand inside a <script> element: no `</script`, no `<!--`. */
function scriptSafe(text: string): string {
  return text.replace(/<(?=\/script|!--)/gi, '\\x3C');
}

/** One self-contained HTML file: style, data and script inlined. */
export async function reportHtml(data: ReportData): Promise<string> {
  const [script, style] = await Promise.all([readPageAsset('app.js'), readPageAsset('app.css')]);
  // JSON with every `<` escaped cannot end its element early, whatever the labels or values hold.
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  return shell(
    `<style>\n${style.toString('utf8').replace(/<\/style/gi, '<\\/style')}\n</style>`,
    `<script type="application/json" id="run-graph-report">${json}</script>\n<script>\n${scriptSafe(script.toString('utf8'))}\n</script>`,
  );
}
