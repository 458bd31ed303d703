/**
 * Where the page's data comes from: a live server (the HTTP API, with the
 * bearer token when the server has one, events over a streamed fetch since
 * EventSource cannot send headers) or the data a report file embeds.
 */
import type { ArtifactInfo, ChunkLayout, NodeInfo } from '../src/views/browse/types.js';
import type { PublishedEvent } from '../src/server/events.js';
import type { PreviewChunk, ReportData, ViewExplanation, ViewLogs, ViewSnapshot } from '../src/views/web/types.js';

/** Bytes the page asks for to preview one artifact: the first chunk of this size. */
export const PREVIEW_BYTES = 64 * 1024;
/** A first chunk bigger than this (one very wide row) is not fetched. */
const MAX_PREVIEW_CHUNK = 1024 * 1024;

/** The first chunk of an artifact, decoded from base64 or as fetched. */
export interface Preview {
  info: ArtifactInfo;
  bytes: Uint8Array;
  rows?: [number, number];
  shape?: number[];
  dtype?: string;
  littleEndian?: boolean;
}

export type PreviewResult = Preview | { info: ArtifactInfo; note: string };

export interface DataSource {
  readonly kind: 'live' | 'report';
  /** Things the page should say about what it shows (a report's limits). */
  readonly notes: string[];
  snapshot(): Promise<ViewSnapshot>;
  /** A store's info, or undefined when the node has no store. */
  info(uid: string): Promise<NodeInfo | undefined>;
  explanation(label: string): Promise<ViewExplanation | undefined>;
  /** The latest attempt's logs of a node not committed (a report embeds them while its limits allow). */
  logs(label: string): Promise<ViewLogs | undefined>;
  artifacts(uid: string): Promise<ArtifactInfo[] | undefined>;
  preview(uid: string, info: ArtifactInfo): Promise<PreviewResult>;
  /** Live sources: call `onEvent` for every run event until the page closes. */
  follow?(onEvent: (event: PublishedEvent) => void, onStatus: (status: string) => void): void;
}

/** The server refused the token (or wants one). */
export class AuthError extends Error {
  readonly hadToken: boolean;
  constructor(message: string, hadToken: boolean) {
    super(message);
    this.hadToken = hadToken;
  }
}

/** An error answer of the API, with its status. */
export class ApiFailure extends Error {
  readonly status: string;
  readonly http: number;
  constructor(http: number, status: string, message: string) {
    super(message);
    this.status = status;
    this.http = http;
  }
}

function base64Bytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The HTTP API of the server that served the page. */
export class HttpSource implements DataSource {
  readonly kind = 'live';
  readonly notes: string[] = [];
  readonly #token: string | undefined;

  constructor(token: string | undefined) {
    this.#token = token;
  }

  #headers(extra: { [name: string]: string } = {}): { [name: string]: string } {
    return this.#token === undefined ? extra : { ...extra, Authorization: `Bearer ${this.#token}` };
  }

  async #get(path: string): Promise<Response> {
    const res = await fetch(path, { headers: this.#headers(), cache: 'no-store' });
    if (res.ok) return res;
    let status = 'HTTP';
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = (await res.json()) as { status?: string; message?: string };
      status = body.status ?? status;
      message = body.message ?? message;
    } catch {
      // Not an API error body; the HTTP status says enough.
    }
    if (res.status === 401) throw new AuthError(message, this.#token !== undefined);
    throw new ApiFailure(res.status, status, message);
  }

  async #json<T>(path: string): Promise<T> {
    return (await (await this.#get(path)).json()) as T;
  }

  /** Check that the server answers with this token (AuthError otherwise). */
  async check(): Promise<void> {
    await this.#json('/v1');
  }

  snapshot(): Promise<ViewSnapshot> {
    return this.#json('/v1/view');
  }

  async #unlessMissing<T>(load: () => Promise<T>): Promise<T | undefined> {
    try {
      return await load();
    } catch (error) {
      if (error instanceof ApiFailure && (error.http === 404 || error.http === 409)) return undefined;
      throw error;
    }
  }

  info(uid: string): Promise<NodeInfo | undefined> {
    return this.#unlessMissing(() => this.#json<NodeInfo>(`/v1/nodes/${uid}`));
  }

  explanation(label: string): Promise<ViewExplanation | undefined> {
    return this.#unlessMissing(() => this.#json<ViewExplanation>(`/v1/view/explain/${encodeURIComponent(label)}`));
  }

  logs(label: string): Promise<ViewLogs | undefined> {
    return this.#unlessMissing(() => this.#json<ViewLogs>(`/v1/view/logs/${encodeURIComponent(label)}`));
  }

  async artifacts(uid: string): Promise<ArtifactInfo[] | undefined> {
    const answer = await this.#unlessMissing(() =>
      this.#json<{ artifacts: ArtifactInfo[] }>(`/v1/nodes/${uid}/artifacts`),
    );
    return answer?.artifacts;
  }

  async preview(uid: string, info: ArtifactInfo): Promise<PreviewResult> {
    if (info.kind === 'stream') return { info, note: 'a streamed output: read it with streamChunks' };
    if (info.size === 0) return { info, bytes: new Uint8Array(0) };
    const base = `/v1/nodes/${uid}/artifacts/${encodeURIComponent(info.output)}/chunks`;
    const { layout } = await this.#json<{ layout: ChunkLayout }>(`${base}?chunkBytes=${PREVIEW_BYTES}`);
    if (layout.count === 0) return { info, bytes: new Uint8Array(0) };
    const firstChunk =
      layout.kind === 'rows' && info.array !== undefined
        ? Math.min(layout.rowsPerChunk ?? 1, info.array.rows) * info.array.rowBytes
        : Math.min(PREVIEW_BYTES, info.size);
    if (firstChunk > MAX_PREVIEW_CHUNK) return { info, note: `one row is ${firstChunk} bytes: too wide to preview` };
    const res = await this.#get(`${base}/0?chunkBytes=${PREVIEW_BYTES}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const rows = res.headers.get('x-chunk-rows');
    const shape = res.headers.get('x-chunk-shape');
    const dtype = res.headers.get('x-chunk-dtype');
    const order = res.headers.get('x-chunk-byte-order');
    if (rows === null || shape === null || dtype === null) return { info, bytes };
    const [first = 0, end = 0] = rows.split('-').map(Number);
    return {
      info,
      bytes,
      rows: [first, end],
      shape: shape === '' ? [] : shape.split(',').map(Number),
      dtype,
      littleEndian: order !== 'big',
    };
  }

  follow(onEvent: (event: PublishedEvent) => void, onStatus: (status: string) => void): void {
    void this.#follow(onEvent, onStatus);
  }

  async #follow(onEvent: (event: PublishedEvent) => void, onStatus: (status: string) => void): Promise<void> {
    let lastId = 0;
    let failures = 0;
    for (;;) {
      try {
        const res = await fetch('/v1/events', {
          headers: this.#headers(lastId > 0 ? { 'Last-Event-ID': String(lastId) } : {}),
          cache: 'no-store',
        });
        if (res.status === 401) {
          onStatus('events refused: wrong token');
          return;
        }
        if (!res.ok || res.body === null) throw new Error(`events: HTTP ${res.status}`);
        onStatus('live');
        failures = 0;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = frame
              .split('\n')
              .filter((line) => line.startsWith('data:'))
              .map((line) => line.slice(5).trimStart())
              .join('\n');
            if (data === '') continue;
            const event = JSON.parse(data) as PublishedEvent;
            lastId = Math.max(lastId, event.id);
            onEvent(event);
          }
        }
        onStatus('event stream ended; reconnecting');
      } catch {
        failures++;
        onStatus(failures > 2 ? 'server not reachable (the run may have ended)' : 'reconnecting');
      }
      await sleep(Math.min(10_000, 1000 * 2 ** Math.min(failures, 4)));
    }
  }
}

/** The data a report file embeds. */
export class EmbeddedSource implements DataSource {
  readonly kind = 'report';
  readonly notes: string[];
  readonly #data: ReportData;

  constructor(data: ReportData) {
    this.#data = data;
    const { previewBytes, totalPreviewBytes } = data.limits;
    this.notes = [
      `A report holds a preview of each artifact's first ${Math.round(previewBytes / 1024)} KiB (${Math.round(totalPreviewBytes / 1024 / 1024)} MiB of previews at most); serve the working directory to read more.`,
      ...data.omitted.map((what) => `This report leaves out ${what}.`),
    ];
  }

  async snapshot(): Promise<ViewSnapshot> {
    return this.#data.snapshot;
  }

  async info(uid: string): Promise<NodeInfo | undefined> {
    return this.#data.details[uid]?.info;
  }

  async explanation(label: string): Promise<ViewExplanation | undefined> {
    const node = this.#data.snapshot.nodes.find((n) => n.label === label);
    return node === undefined ? undefined : this.#data.details[node.uid]?.explanation;
  }

  async logs(label: string): Promise<ViewLogs | undefined> {
    const node = this.#data.snapshot.nodes.find((n) => n.label === label);
    return node === undefined ? undefined : this.#data.details[node.uid]?.logs;
  }

  async artifacts(uid: string): Promise<ArtifactInfo[] | undefined> {
    return this.#data.details[uid]?.artifacts;
  }

  async preview(uid: string, info: ArtifactInfo): Promise<PreviewResult> {
    const chunk: PreviewChunk | undefined = this.#data.details[uid]?.previews[info.output];
    if (chunk === undefined)
      return {
        info,
        note: `not embedded: a report holds previews of at most ${this.#data.limits.previewBytes} bytes each, ${this.#data.limits.totalPreviewBytes} in all`,
      };
    const { base64, output: _output, ...array } = chunk;
    return { info, bytes: base64Bytes(base64), ...array };
  }
}
