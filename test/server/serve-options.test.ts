/**
 * The options of `run-graph serve` that keep a token out of `ps` and put
 * TLS in front of the API, run as the built CLI: `--token-file`, a warning
 * for `--token` on the command line, `--tls-cert`/`--tls-key` with a
 * self-signed certificate made by openssl at test time.
 */
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, type CliProcess } from '../support/cli.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { rawRequest, runWorkflow, SMALL_WORKFLOW } from '../support/server.js';

const TOKEN = 'file-token-0123456789abcdef';

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await createSandbox();
  await writeFile(sandbox.path('small.json'), JSON.stringify(SMALL_WORKFLOW));
  await runWorkflow(SMALL_WORKFLOW, sandbox.dir, sandbox.path('small.workdir'));
  await writeFile(sandbox.path('token.txt'), `${TOKEN}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await sandbox?.cleanup();
});

async function listening(server: CliProcess): Promise<string> {
  const [line] = await server.waitFor(/\{"type":"listening".*\}/, 20_000);
  return (JSON.parse(line) as { url: string }).url;
}

describe('--token-file', () => {
  it('reads the token from a file, so it is not on the command line', async () => {
    const server = startCli(['serve', 'small.json', '--port', '0', '--json', '--token-file', 'token.txt'], {
      cwd: sandbox.dir,
    });
    try {
      const url = await listening(server);
      const pid = server.pid;
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      expect(cmdline).not.toContain(TOKEN);
      expect((await rawRequest(url, { path: '/v1' })).status).toBe(401);
      expect((await rawRequest(url, { path: '/v1', headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      expect(server.stderr()).not.toContain('visible');
    } finally {
      expect((await server.stop()).code).toBe(0);
    }
  }, 60_000);

  it('refuses a token file that is missing or too short, naming it', async () => {
    const missing = startCli(['serve', 'small.json', '--port', '0', '--token-file', 'nothing.txt'], {
      cwd: sandbox.dir,
      limitMs: 20_000,
    });
    expect((await missing.exited).code).not.toBe(0);
    expect(missing.stderr()).toContain('E_USAGE');
    expect(missing.stderr()).toContain('nothing.txt');
    await writeFile(sandbox.path('short.txt'), 'abc\n');
    const short = startCli(['serve', 'small.json', '--port', '0', '--token-file', 'short.txt'], {
      cwd: sandbox.dir,
      limitMs: 20_000,
    });
    expect((await short.exited).code).not.toBe(0);
    expect(short.stderr()).toMatch(/at least 16 characters/);
  }, 60_000);

  it('is what --token on the command line is warned about', async () => {
    const server = startCli(['serve', 'small.json', '--port', '0', '--json', '--token', TOKEN], { cwd: sandbox.dir });
    try {
      await listening(server);
      expect(server.stderr()).toMatch(/warning: --token .*visible.*ps.*--token-file/);
    } finally {
      expect((await server.stop()).code).toBe(0);
    }
  }, 60_000);
});

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const OPENSSL = haveOpenssl();
if (!OPENSSL) {
  if (process.env['CI'] === 'true') throw new Error('openssl is missing; .ci/run installs it (.ci/openssl.sh)');
  console.warn('skipping the TLS test: openssl is not installed, so no certificate can be made');
}

function httpsJson(url: string, ca: Buffer, token: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { ca, headers: { Authorization: `Bearer ${token}` }, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    req.on('error', reject);
  });
}

describe.runIf(OPENSSL)('--tls-cert and --tls-key', () => {
  it('serve HTTPS with a certificate the client trusts; status --remote reads it', async () => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        sandbox.path('key.pem'),
        '-out',
        sandbox.path('cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const server = startCli(
      [
        'serve',
        'small.json',
        '--port',
        '0',
        '--json',
        '--token-file',
        'token.txt',
        '--tls-cert',
        'cert.pem',
        '--tls-key',
        'key.pem',
      ],
      { cwd: sandbox.dir },
    );
    try {
      const url = await listening(server);
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const ca = await readFile(sandbox.path('cert.pem'));
      const answer = await httpsJson(`${url}/v1`, ca, TOKEN);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ name: 'run-graph', api: 1 });
      // Plain HTTP to the TLS port gets no API answer.
      const plain = await rawRequest(url.replace('https:', 'http:'), { path: '/v1' }).catch(() => ({ status: 0 }));
      expect(plain.status).not.toBe(200);
      const status = startCli(['status', '--remote', url, '--token-file', 'token.txt'], {
        cwd: sandbox.dir,
        limitMs: 20_000,
        env: { NODE_EXTRA_CA_CERTS: sandbox.path('cert.pem') },
      });
      expect((await status.exited).code).toBe(0);
      expect(status.stdout()).toContain('4 committed');
    } finally {
      expect((await server.stop()).code).toBe(0);
    }
  }, 60_000);

  it('are refused one without the other', async () => {
    const half = startCli(['serve', 'small.json', '--port', '0', '--tls-cert', 'cert.pem'], {
      cwd: sandbox.dir,
      limitMs: 20_000,
    });
    expect((await half.exited).code).not.toBe(0);
    expect(half.stderr()).toMatch(/E_USAGE.*--tls-cert.*--tls-key/s);
  }, 60_000);
});
