/**
 * The object an operation receives for a reference to an upstream output:
 * the artifact's path and type, and loaders that read it on demand. Made the
 * same way on the main thread and in a worker thread, from the committed
 * artifact entry and the upstream store's directory.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JsonValue } from '../identity/canonical-json.js';
import { parseJsonExactly, withPlainFloats } from '../identity/json-text.js';
import { RunGraphError } from '../errors.js';
import { decodeNpy, type ArrayValue } from '../values/npy.js';
import { INPUT_KIND, type ArtifactRef, type TypedRef } from './operation.js';
import type { Uid } from '../identity/fingerprint.js';
import { readSmallFileBytesSync } from '../store/durable.js';
import type { ArtifactEntry } from '../store/metadata.js';
import { readStreamChunks, readStreamWhole } from '../store/array-stream.js';

/** Where an ArtifactRef reads from: kept so a reference can be sent to a worker thread and made again there. */
export const ARTIFACT_SOURCE: unique symbol = Symbol('run-graph artifact source');

export interface ArtifactSource {
  entry: ArtifactEntry;
  storeDir: string;
}

/** Artifacts up to this size are read synchronously: the read takes microseconds, a thread-pool round trip far longer. */
const SYNC_READ_LIMIT = 64 * 1024;

async function readSmallFast(path: string, size: number): Promise<Buffer> {
  return size <= SYNC_READ_LIMIT ? readSmallFileBytesSync(path) : readFile(path);
}

export type SourcedArtifactRef = ArtifactRef & { readonly [ARTIFACT_SOURCE]: ArtifactSource };

/**
 * A class, so that its loaders live once on the prototype: a fan-in over
 * 100,000 upstream nodes holds 100,000 references, and closures of their
 * own would cost about a kilobyte each.
 */
class StoredArtifactRef implements SourcedArtifactRef {
  readonly [INPUT_KIND] = 'ref' as const;
  readonly [ARTIFACT_SOURCE]: ArtifactSource;
  readonly label: string;
  readonly output: string;
  readonly type: TypedRef['type'];
  readonly uid: Uid;
  readonly #consumer: string;

  constructor(ref: TypedRef & { readonly uid: Uid }, artifact: ArtifactEntry, storeDir: string, consumer: string) {
    this[ARTIFACT_SOURCE] = { entry: artifact, storeDir };
    this.label = ref.label;
    this.output = ref.output;
    this.type = ref.type;
    this.uid = ref.uid;
    this.#consumer = consumer;
  }

  get path(): string {
    const { entry, storeDir } = this[ARTIFACT_SOURCE];
    return join(storeDir, entry.path);
  }

  #notA(what: string): RunGraphError {
    const { entry } = this[ARTIFACT_SOURCE];
    return new RunGraphError(
      'E_INPUT_TYPE',
      `'${this.label}.${this.output}' is ${entry.kind === 'json' ? 'JSON' : entry.kind === 'array' ? 'an array' : `a ${entry.kind}`}, not ${what}`,
      { node: this.#consumer },
    );
  }

  async array(): Promise<ArrayValue> {
    const { entry, storeDir } = this[ARTIFACT_SOURCE];
    if (entry.kind === 'json') throw this.#notA('an array');
    if (entry.kind === 'stream') return readStreamWhole(storeDir, entry);
    const path = this.path;
    // A file past the shared small-read buffer is read into a buffer of its own, which the array may then view.
    return decodeNpy(await readSmallFast(path, entry.size), path, { owned: entry.size > SYNC_READ_LIMIT });
  }

  async json(): Promise<JsonValue> {
    const { entry } = this[ARTIFACT_SOURCE];
    if (entry.kind !== 'json') throw this.#notA('JSON');
    // Integers past 2^53 keep their digits; a float reads as a number, as an operation expects.
    return withPlainFloats(
      parseJsonExactly((await readSmallFast(this.path, entry.size)).toString('utf8')) as JsonValue,
    );
  }

  async *chunks(): AsyncGenerator<ArrayValue> {
    const { entry, storeDir } = this[ARTIFACT_SOURCE];
    if (entry.kind === 'stream') yield* readStreamChunks(storeDir, entry);
    else yield await this.array();
  }
}

export function makeArtifactRef(
  ref: TypedRef & { readonly uid: Uid },
  artifact: ArtifactEntry,
  storeDir: string,
  consumer: string,
): SourcedArtifactRef {
  return new StoredArtifactRef(ref, artifact, storeDir, consumer);
}
