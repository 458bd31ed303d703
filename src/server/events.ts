/**
 * Live events to HTTP clients as server-sent events: `run-graph run --serve`
 * and the builds of submitted records publish every RunEvent here, and each
 * client of `GET /v1/events` receives them as `id: N` / `data: <json>`
 * frames. A bounded history is replayed to a client that connects late (or
 * reconnects with `Last-Event-ID`), so it sees the run from its start.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RunEvent } from '../engine/events.js';

/** An event as the stream carries it: its sequence number, and when it was published. */
export type PublishedEvent = RunEvent & { id: number; time: string };

export interface EventHubOptions {
  /** Events kept for replay. Default 1000. */
  history?: number;
  /** A client with this many bytes unsent is too slow and is dropped. Default 8 MiB. */
  maxBufferedBytes?: number;
  /** Interval of keep-alive comments, so proxies do not cut an idle stream. Default 15 000 ms. */
  heartbeatMs?: number;
}

/** Fans every published event out to the connected stream clients. */
export class EventHub {
  readonly #history: PublishedEvent[] = [];
  readonly #clients = new Set<ServerResponse>();
  readonly #limit: number;
  readonly #maxBuffered: number;
  readonly #heartbeat: NodeJS.Timeout;
  #nextId = 1;
  #closed = false;

  constructor(options: EventHubOptions = {}) {
    this.#limit = options.history ?? 1000;
    this.#maxBuffered = options.maxBufferedBytes ?? 8 * 1024 * 1024;
    this.#heartbeat = setInterval(() => this.#broadcast(': keep-alive\n\n'), options.heartbeatMs ?? 15_000);
    this.#heartbeat.unref();
  }

  /** Connected stream clients. */
  get clients(): number {
    return this.#clients.size;
  }

  /** Send an event to every client and keep it for replay. */
  publish(event: RunEvent): void {
    if (this.#closed) return;
    const published: PublishedEvent = { ...event, id: this.#nextId++, time: new Date().toISOString() };
    this.#history.push(published);
    if (this.#history.length > this.#limit) this.#history.shift();
    this.#broadcast(frame(published));
  }

  /** Answer `GET /v1/events`: replay the history after `Last-Event-ID`, then stream until the client leaves. */
  stream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    const last = Number(req.headers['last-event-id'] ?? 0);
    for (const event of this.#history) if (!(event.id <= last)) res.write(frame(event));
    if (this.#closed) {
      res.end();
      return;
    }
    this.#clients.add(res);
    res.once('close', () => this.#clients.delete(res));
  }

  /** End every stream; later events are dropped. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    for (const client of this.#clients) client.end();
    this.#clients.clear();
  }

  #broadcast(text: string): void {
    for (const client of this.#clients) {
      if (client.writableLength > this.#maxBuffered) {
        // Dropped rather than buffered without bound; it reconnects with Last-Event-ID and catches up from the history.
        client.destroy();
        this.#clients.delete(client);
        continue;
      }
      client.write(text);
    }
  }
}

function frame(event: PublishedEvent): string {
  return `id: ${event.id}\ndata: ${JSON.stringify(event)}\n\n`;
}
