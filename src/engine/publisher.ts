/**
 * Publishing during a run: as each node commits (or is reused), its
 * published outputs are put at their paths (store/published-files.ts), in
 * the background so the next nodes need not wait. A failed publish is an
 * event and a count in the summary, never a failed node: the store is
 * committed either way, and `run-graph publish` tries again.
 */
import { join } from 'node:path';
import type { Uid } from '../identity/fingerprint.js';
import { publishArtifact } from '../store/published-files.js';
import type { CommittedMetadata } from '../store/metadata.js';
import { RunGraphError } from '../errors.js';
import type { EventError, EventListener } from './events.js';

/** One output to publish: which node's output, and the absolute path it goes to. */
export interface PublishTarget {
  readonly label: string;
  readonly uid: Uid;
  readonly output: string;
  readonly path: string;
  /** The path as the workflow wrote it (relative to the publish root), for messages. */
  readonly shown: string;
}

export class Publisher {
  readonly #byUid = new Map<Uid, PublishTarget[]>();
  readonly #emit: EventListener;
  readonly #pending = new Set<Promise<void>>();
  #failed = 0;

  constructor(targets: readonly PublishTarget[], emit: EventListener) {
    for (const target of targets) {
      const list = this.#byUid.get(target.uid) ?? [];
      list.push(target);
      this.#byUid.set(target.uid, list);
    }
    this.#emit = emit;
  }

  /** Publish the outputs of a node that committed or was reused, whose store is `storeDir`. */
  finished(uid: Uid, storeDir: string, metadata: CommittedMetadata): void {
    const targets = this.#byUid.get(uid);
    if (targets === undefined) return;
    const done = this.#publish(targets, storeDir, metadata);
    this.#pending.add(done);
    void done.finally(() => this.#pending.delete(done));
  }

  /** Wait for every publish started; returns how many failed. */
  async settled(): Promise<number> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
    return this.#failed;
  }

  async #publish(targets: readonly PublishTarget[], storeDir: string, metadata: CommittedMetadata): Promise<void> {
    for (const target of targets) {
      const entry = metadata.artifacts[target.output];
      try {
        if (entry === undefined) throw new Error(`the store has no artifact '${target.output}'`);
        const how = await publishArtifact(join(storeDir, entry.path), target.path, entry);
        if (how !== 'unchanged')
          this.#emit({ type: 'output-published', label: target.label, output: target.output, path: target.shown, how });
      } catch (error) {
        this.#failed++;
        this.#emit({
          type: 'publish-failed',
          label: target.label,
          output: target.output,
          path: target.shown,
          error: publishError(error),
        });
      }
    }
  }
}

/** A publish failure as an event carries it: the run-graph error, or the file system's message under E_PUBLISH_PATH. */
function publishError(error: unknown): EventError {
  if (error instanceof RunGraphError) return { code: error.code, message: error.describe() };
  return { code: 'E_PUBLISH_PATH', message: error instanceof Error ? error.message : String(error) };
}
