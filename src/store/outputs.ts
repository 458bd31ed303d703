/**
 * What a store can commit: the outputs of a finished operation, each of
 * which becomes one artifact. Defined by the store, which writes them;
 * operations return them.
 */
import type { JsonValue } from '../identity/canonical-json.js';
import type { ArrayValue } from '../values/npy.js';
import type { ArtifactEntry } from './metadata.js';

/**
 * One output of a finished operation. File paths are relative to the store
 * directory; an `artifact` is another committed store's artifact, linked (or
 * copied) into this store unchanged: how a loop passes on its last state.
 */
export type OutputValue =
  | { kind: 'array'; value: ArrayValue }
  | { kind: 'json'; value: JsonValue }
  | { kind: 'file'; path: string }
  | { kind: 'artifact'; source: string; entry: ArtifactEntry }
  | { kind: 'stream'; entry: ArtifactEntry };

export type OperationOutputs = { [output: string]: OutputValue };
