/**
 * The web page: `GET /` answers the HTML shell and `GET /assets/app.js`,
 * `/assets/app.css` the files esbuild bundled into the package. They hold
 * no data of the working directory, so they are answered without the token
 * (a browser cannot send one when it opens a URL); the page asks for it and
 * sends it on every `/v1` request, which still needs it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PAGE_ASSETS, readPageAsset, servedPageHtml, type PageAsset } from '../views/web/page.js';

const SECURITY_HEADERS = {
  // Only the page's own script and style, only its own origin for data: no inline code, nothing fetched elsewhere.
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

function isAsset(name: string): name is PageAsset {
  return Object.hasOwn(PAGE_ASSETS, name);
}

/** The page file a GET or HEAD request asks for, or undefined when it asks for something else. */
function pageTarget(req: IncomingMessage): 'page' | PageAsset | undefined {
  if (req.method !== 'GET' && req.method !== 'HEAD') return undefined;
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/' || path === '/index.html') return 'page';
  const name = path?.startsWith('/assets/') ? path.slice('/assets/'.length) : undefined;
  return name !== undefined && isAsset(name) ? name : undefined;
}

/** Answer a request for the page or one of its files and return true; return false for any other request. */
export async function servePage(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const target = pageTarget(req);
  if (target === undefined) return false;
  const body = target === 'page' ? Buffer.from(servedPageHtml(), 'utf8') : await readPageAsset(target);
  res.writeHead(200, {
    'Content-Type': target === 'page' ? 'text/html; charset=utf-8' : PAGE_ASSETS[target],
    'Content-Length': body.length,
    'Cache-Control': 'no-cache',
    ...SECURITY_HEADERS,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
