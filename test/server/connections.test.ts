/**
 * `serve` against careless or hostile clients at the connection level: an
 * early error answer closes the connection instead of waiting for a body
 * that trickles in, slow headers and idle bodies are cut off, the number
 * of connections is bounded with a clear 503, and a body must say it is
 * JSON.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunGraphServer } from '../../src/server/server.js';
import { createSandbox, type Sandbox } from '../support/sandbox.js';
import { expectApiError, rawRequest, runWorkflow, SMALL_WORKFLOW } from '../support/server.js';

const TOKEN = 'test-token-0123456789abcdef';

let sandbox: Sandbox;
let workdir: string;
let submitting: RunGraphServer;
let readOnly: RunGraphServer;

beforeAll(async () => {
  sandbox = await createSandbox();
  workdir = sandbox.path('work');
  await runWorkflow(SMALL_WORKFLOW, sandbox.dir, workdir);
  submitting = await startServer({
    workdir,
    port: 0,
    token: TOKEN,
    allowSubmit: true,
    headersTimeoutMs: 1_000,
    bodyIdleTimeoutMs: 1_000,
    requestTimeoutMs: 3_000,
    connectionsCheckingIntervalMs: 200,
    maxConnections: 4,
  });
  readOnly = await startServer({ workdir, port: 0 });
});

afterAll(async () => {
  await submitting?.close();
  await readOnly?.close();
  await sandbox?.cleanup();
});

/** A raw connection to a server, collecting what it answers and when it closes. */
interface RawConnection {
  socket: Socket;
  received(): string;
  /** Resolves with the milliseconds from opening to the server's close, or rejects after `withinMs`. */
  closed(withinMs: number): Promise<number>;
}

function openRaw(server: RunGraphServer): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const opened = Date.now();
    const socket = connect(server.port, '127.0.0.1');
    let text = '';
    let closedAt: number | undefined;
    const waiters: (() => void)[] = [];
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closedAt = Date.now();
      for (const waiter of waiters.splice(0)) waiter();
    });
    socket.once('connect', () =>
      resolve({
        socket,
        received: () => text,
        closed: (withinMs) =>
          new Promise<number>((done, fail) => {
            if (closedAt !== undefined) {
              done(closedAt - opened);
              return;
            }
            const timer = setTimeout(() => {
              socket.destroy();
              fail(new Error(`the server kept the connection open for ${withinMs} ms; it answered: ${text}`));
            }, withinMs);
            waiters.push(() => {
              clearTimeout(timer);
              done((closedAt as number) - opened);
            });
          }),
      }),
    );
    socket.once('error', reject);
  });
}

/** The head of a POST /v1/submit that announces a body of `length` bytes. */
function submitHead(headers: string, length: number): string {
  return `POST /v1/submit HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Content-Length: ${length}\r\n\r\n`;
}

describe('an early error answer', () => {
  it('closes the connection at once when the token is wrong (401), not waiting for the body', async () => {
    const raw = await openRaw(submitting);
    raw.socket.write(submitHead('Content-Type: application/json\r\nAuthorization: Bearer wrong\r\n', 1_000_000));
    raw.socket.write('{"record": ');
    await raw.closed(2_000);
    expect(raw.received()).toMatch(/^HTTP\/1\.1 401 /);
    expect(raw.received()).toMatch(/connection: close/i);
  });

  it('closes the connection at once after 405 and 415', async () => {
    const wrongMethod = await openRaw(readOnly);
    wrongMethod.socket.write(
      'PUT /v1/nodes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{',
    );
    await wrongMethod.closed(2_000);
    expect(wrongMethod.received()).toMatch(/^HTTP\/1\.1 405 /);

    const wrongType = await openRaw(submitting);
    wrongType.socket.write(submitHead(`Content-Type: text/plain\r\nAuthorization: Bearer ${TOKEN}\r\n`, 100_000));
    wrongType.socket.write('{');
    await wrongType.closed(2_000);
    expect(wrongType.received()).toMatch(/^HTTP\/1\.1 415 /);
  });

  it('closes the connection at once after 413', async () => {
    const raw = await openRaw(submitting);
    raw.socket.write(
      submitHead(`Content-Type: application/json\r\nAuthorization: Bearer ${TOKEN}\r\n`, 64 * 1024 * 1024),
    );
    await raw.closed(2_000);
    expect(raw.received()).toMatch(/^HTTP\/1\.1 413 /);
  });
});

describe('a body', () => {
  it('without Content-Type is refused with 415', async () => {
    const res = await rawRequest(submitting.url, {
      method: 'POST',
      path: '/v1/submit',
      headers: { Authorization: `Bearer ${TOKEN}` },
      body: '{"record": {"depends": [], "input": {"data": [1]}, "operation": ["scalems", "Integer64"]}}',
    });
    expectApiError(res, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('that stops arriving is answered 408 after the idle limit and the connection closed', async () => {
    const raw = await openRaw(submitting);
    raw.socket.write(submitHead(`Content-Type: application/json\r\nAuthorization: Bearer ${TOKEN}\r\n`, 10_000));
    raw.socket.write('{"record": ');
    const ms = await raw.closed(6_000);
    expect(raw.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(raw.received()).toContain('REQUEST_TIMEOUT');
    expect(ms).toBeGreaterThanOrEqual(900);
  });

  it('that trickles in forever is cut off at the request time limit', async () => {
    const raw = await openRaw(submitting);
    raw.socket.write(submitHead(`Content-Type: application/json\r\nAuthorization: Bearer ${TOKEN}\r\n`, 1_000_000));
    // One byte every 300 ms: never idle for the body limit, yet never done.
    const drip = setInterval(() => raw.socket.write(' '), 300);
    try {
      const ms = await raw.closed(8_000);
      expect(ms).toBeGreaterThanOrEqual(2_500);
    } finally {
      clearInterval(drip);
    }
  });
});

describe('headers', () => {
  it('that never end are cut off at the headers time limit', async () => {
    const raw = await openRaw(submitting);
    raw.socket.write('GET /v1 HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const drip = setInterval(() => raw.socket.write('X-Slow: 1\r\n'), 200);
    try {
      const ms = await raw.closed(5_000);
      expect(ms).toBeGreaterThanOrEqual(900);
    } finally {
      clearInterval(drip);
    }
  });
});

describe('connections', () => {
  it('past the limit get a 503 TOO_MANY_CONNECTIONS and are closed; the others are still answered', async () => {
    const held: RawConnection[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const raw = await openRaw(submitting);
        raw.socket.write(`GET /v1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
        held.push(raw);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const raw of held) expect(raw.received()).toMatch(/^HTTP\/1\.1 200 /);
      const extra = await openRaw(submitting);
      extra.socket.write(`GET /v1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
      await extra.closed(2_000);
      expect(extra.received()).toMatch(/^HTTP\/1\.1 503 /);
      expect(extra.received()).toContain('TOO_MANY_CONNECTIONS');
    } finally {
      for (const raw of held) raw.socket.destroy();
    }
    // Once they are gone, new connections are served again.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const res = await rawRequest(submitting.url, { path: '/v1', headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
  });
});
