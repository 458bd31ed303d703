/**
 * A bound on the connections a server holds open. node:http's own
 * `maxConnections` drops a connection past the limit without a word; here
 * the client is told why, with a complete HTTP answer (503
 * TOO_MANY_CONNECTIONS, `Retry-After`, `Connection: close`) written before
 * its request is even read, and the socket is then closed.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { formatJson } from '../identity/json-text.js';
import { ApiError } from './status-codes.js';

/** Sockets turned away: the request node:http may still parse on them is not answered again. */
const refused = new WeakSet<Socket>();

/** Whether a socket was turned away by `limitConnections`. */
export function isRefused(socket: Socket): boolean {
  return refused.has(socket);
}

/** The raw bytes of a complete 503 answer. */
function refusal(limit: number): string {
  const body = formatJson(
    new ApiError(
      'TOO_MANY_CONNECTIONS',
      `this server holds at most ${limit} connections open and has that many; try again later`,
    ).toBody(),
  );
  return (
    'HTTP/1.1 503 Service Unavailable\r\n' +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Retry-After: 1\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n' +
    body
  );
}

/**
 * Count the connections of `server` (TLS ones once their handshake is
 * done, so the answer can be read) and turn away those past `limit`.
 * Returns the live count, for tests and the bench.
 */
export function limitConnections(
  server: Server,
  limit: number,
  event: 'connection' | 'secureConnection',
): () => number {
  let open = 0;
  server.on(event, (socket: Socket) => {
    if (open >= limit) {
      refused.add(socket);
      socket.end(refusal(limit));
      // A client that never reads its answer does not hold the socket either.
      setTimeout(() => socket.destroy(), 1_000).unref();
      return;
    }
    open++;
    socket.once('close', () => open--);
  });
  return () => open;
}
