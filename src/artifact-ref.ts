/**
 * The object an operation receives for a reference to an upstream output:
 * the artifact's path and type, and loaders that read it on demand. Made the
 * same way on the main thread and in a worker thread, from the committed
 * artifact entry and the upstream store's directory.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JsonValue } from './canonical-json.js';
import { RunGraphError } from './errors.js';
import { decodeNpy, type ArrayValue } from './npy.js';
import { INPUT_KIND, type ArtifactRef, type TypedRef } from './operations/operation.js';
import type { Uid } from './fingerprint.js';
import type { ArtifactEntry } from './store/metadata.js';
import { readStreamChunks, readStreamWhole } from './stream.js';

/** Where an ArtifactRef reads from: kept so a reference can be sent to a worker thread and made again there. */
export const ARTIFACT_SOURCE: unique symbol = Symbol('run-graph artifact source');

export interface ArtifactSource {
  entry: ArtifactEntry;
  storeDir: string;
}

export type SourcedArtifactRef = ArtifactRef & { readonly [ARTIFACT_SOURCE]: ArtifactSource };

export function makeArtifactRef(ref: TypedRef & { readonly uid: Uid }, artifact: ArtifactEntry, storeDir: string, consumer: string): SourcedArtifactRef {
  const path = join(storeDir, artifact.path);
  const what = `'${ref.label}.${ref.output}'`;
  return {
    [INPUT_KIND]: 'ref',
    [ARTIFACT_SOURCE]: { entry: artifact, storeDir },
    label: ref.label,
    output: ref.output,
    type: ref.type,
    uid: ref.uid,
    path,
    async array(): Promise<ArrayValue> {
      if (artifact.kind === 'json') throw new RunGraphError('E_INPUT_TYPE', `${what} is JSON, not an array`, { node: consumer });
      if (artifact.kind === 'stream') return readStreamWhole(storeDir, artifact);
      return decodeNpy(await readFile(path), path);
    },
    async json(): Promise<JsonValue> {
      if (artifact.kind !== 'json') throw new RunGraphError('E_INPUT_TYPE', `${what} is a ${artifact.kind}, not JSON`, { node: consumer });
      return JSON.parse(await readFile(path, 'utf8')) as JsonValue;
    },
    async *chunks(): AsyncGenerator<ArrayValue> {
      if (artifact.kind === 'stream') yield* readStreamChunks(storeDir, artifact);
      else yield await this.array();
    },
  };
}
