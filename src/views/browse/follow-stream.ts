/**
 * Following a streamed output while it is produced, the same way on disk
 * and over HTTP: ask which chunks are durable, read the new ones in order,
 * wait `pollMs`, ask again; stop once the store is committed and every
 * chunk of it has been yielded. Every wait is bounded: a stream that
 * neither grows nor commits for `idleTimeoutMs` is an error, and an abort
 * ends the iteration at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RunGraphError } from '../../errors.js';
import { sha256Hex } from '../../identity/fingerprint.js';
import { decodeNpy } from '../../values/npy.js';
import type { StreamProgress } from './stream-view.js';
import type { StreamChunk, StreamChunkInfo, StreamFollowOptions } from './types.js';

export const DEFAULT_STREAM_POLL_MS = 250;
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 600_000;

/** Where a follower reads a stream from: a local working directory or a server. */
export interface StreamSource {
  /** `uid/output`, for messages. */
  readonly name: string;
  /** The durable chunks from index `from` on. */
  progress(from: number, signal: AbortSignal): Promise<StreamProgress>;
  /** The `.npy` file of a chunk a listing named. */
  chunk(info: StreamChunkInfo, signal: AbortSignal): Promise<Uint8Array>;
  /** The error of a stream that stayed idle too long. */
  idleError(message: string): Error;
}

function checkMs(name: string, value: number | undefined, fallback: number, min: number): number {
  const chosen = value ?? fallback;
  if (!Number.isSafeInteger(chosen) || chosen < min) {
    throw new RunGraphError(
      'E_USAGE',
      `${name} must be an integer of at least ${min} ms, got ${String(value)} (${typeof value})`,
      { value },
    );
  }
  return chosen;
}

interface FollowSettings {
  pollMs: number;
  idleTimeoutMs: number;
}

function streamFollowSettings(options: StreamFollowOptions): FollowSettings {
  return {
    pollMs: checkMs('pollMs', options.pollMs, DEFAULT_STREAM_POLL_MS, 10),
    idleTimeoutMs: checkMs('idleTimeoutMs', options.idleTimeoutMs, DEFAULT_STREAM_IDLE_TIMEOUT_MS, 1),
  };
}

/**
 * The chunks of a stream in order, each once, as they become durable; ends
 * after the last chunk of the committed stream. The options are checked
 * here, before anything is asked.
 */
export function followStream(
  source: StreamSource,
  options: StreamFollowOptions = {},
): AsyncGenerator<StreamChunk, void, undefined> {
  return follow(source, streamFollowSettings(options), options.signal);
}

async function* follow(
  source: StreamSource,
  { pollMs, idleTimeoutMs }: FollowSettings,
  outer: AbortSignal | undefined,
): AsyncGenerator<StreamChunk, void, undefined> {
  // Our own controller, so a consumer that stops early also cancels a request under way.
  const abort = new AbortController();
  const forward = (): void => abort.abort(outer?.reason);
  if (outer?.aborted === true) return;
  outer?.addEventListener('abort', forward, { once: true });
  const { signal } = abort;
  let next = 0;
  let firstRow = 0;
  let lastNews = Date.now();
  try {
    for (;;) {
      let progress: StreamProgress;
      try {
        progress = await source.progress(next, signal);
      } catch (error) {
        if (signal.aborted) return;
        throw error;
      }
      if (progress.state !== 'not-started') {
        if (progress.durable < next) {
          throw new RunGraphError(
            'E_CORRUPT_STORE',
            `stream ${source.name} now has ${progress.durable} durable chunks, after ${next} were read`,
            { hint: 'the store was reset or rebuilt meanwhile' },
          );
        }
        for (const info of progress.chunks) {
          if (info.index !== next) continue;
          let bytes: Uint8Array;
          try {
            bytes = await source.chunk(info, signal);
          } catch (error) {
            if (signal.aborted) return;
            throw error;
          }
          if (info.sha256 !== undefined && sha256Hex(bytes) !== info.sha256) {
            throw new RunGraphError(
              'E_CORRUPT_STORE',
              `chunk ${info.index} of stream ${source.name} does not match the sha256 its metadata records`,
              { value: info.index },
            );
          }
          const value = decodeNpy(bytes, `chunk ${info.index} of stream ${source.name}`);
          const rows = value.shape[0] ?? 1;
          yield { index: info.index, rows: [firstRow, firstRow + rows], value, bytes };
          firstRow += rows;
          next++;
          // Time the consumer spends on a chunk is not time the stream was idle.
          lastNews = Date.now();
          if (signal.aborted) return;
        }
        if (progress.state === 'complete' && next >= progress.durable) return;
      }
      const idle = Date.now() - lastNews;
      if (idle >= idleTimeoutMs) {
        throw source.idleError(
          `stream ${source.name}: no new chunk for ${idle} ms and the store is not committed (${next} chunks read); a rerun of the workflow resumes it`,
        );
      }
      try {
        await sleep(Math.min(pollMs, idleTimeoutMs - idle), undefined, { signal });
      } catch {
        return;
      }
    }
  } finally {
    outer?.removeEventListener('abort', forward);
    abort.abort();
  }
}
