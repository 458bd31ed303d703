/**
 * What crosses to a worker thread and back. Structured cloning keeps plain
 * data and typed arrays but drops symbols and methods, so the references and
 * files inside an input tree travel separately, by their position in it, and
 * are made again on the other side.
 */
import type { JsonValue } from '../../identity/canonical-json.js';
import {
  ARTIFACT_SOURCE,
  makeArtifactRef,
  type ArtifactSource,
  type SourcedArtifactRef,
} from '../../operations/artifact-ref.js';
import type { ErrorCode, ErrorLocation } from '../../errors.js';
import { RunGraphError } from '../../errors.js';
import type { Uid } from '../../identity/fingerprint.js';
import {
  INPUT_KIND,
  isFileInput,
  isInputRef,
  type ArtifactRef,
  type FileInput,
  type InputTree,
  type OperationOutputs,
  type RunInput,
  type TypedRef,
} from '../../operations/operation.js';

type Path = (string | number)[];

type Special =
  | { path: Path; kind: 'ref'; ref: Omit<TypedRef, typeof INPUT_KIND> & { uid: Uid }; source: ArtifactSource }
  | { path: Path; kind: 'file'; file: Omit<FileInput, typeof INPUT_KIND> };

export interface ThreadTask {
  /** URL of the module that exports the operation. */
  module: string;
  /** `namespace.name`. */
  operation: string;
  /** The input with every reference and file replaced by null... */
  input: JsonValue;
  /** ...and here, with where it goes. */
  specials: Special[];
  storeDir: string;
  label: string;
  uid: Uid;
}

export type ThreadResult =
  | { ok: true; outputs: OperationOutputs }
  | { ok: false; error: { code: ErrorCode | 'E_INTERNAL'; message: string; hint?: string; location: ErrorLocation } };

/** Split an input for the trip to a worker. */
export function packInput(input: RunInput): { input: JsonValue; specials: Special[] } {
  const specials: Special[] = [];
  const pack = (value: InputTree<ArtifactRef>, path: Path): JsonValue => {
    if (isInputRef(value)) {
      const sourced = value as SourcedArtifactRef;
      specials.push({
        path,
        kind: 'ref',
        ref: { label: value.label, output: value.output, type: value.type, uid: value.uid },
        source: sourced[ARTIFACT_SOURCE],
      });
      return null;
    }
    if (isFileInput(value)) {
      const { given, path: filePath, sha256, size, npy } = value;
      specials.push({
        path,
        kind: 'file',
        file: { given, path: filePath, sha256, size, ...(npy === undefined ? {} : { npy }) },
      });
      return null;
    }
    if (Array.isArray(value)) return value.map((item, i) => pack(item, [...path, i]));
    if (typeof value === 'object' && value !== null) {
      const out: { [key: string]: JsonValue } = {};
      for (const [key, child] of Object.entries(value)) out[key] = pack(child, [...path, key]);
      return out;
    }
    return value;
  };
  return { input: pack(input as InputTree<ArtifactRef>, []), specials };
}

/** Put an input back together in the worker. */
export function unpackInput(task: Pick<ThreadTask, 'input' | 'specials' | 'label'>): RunInput {
  const root = task.input as unknown as { [key: string]: unknown };
  for (const special of task.specials) {
    const value =
      special.kind === 'ref'
        ? makeArtifactRef(
            { ...special.ref, [INPUT_KIND]: 'ref' },
            special.source.entry,
            special.source.storeDir,
            task.label,
          )
        : { ...special.file, [INPUT_KIND]: 'file' };
    let parent: { [key: string]: unknown } = root;
    for (const step of special.path.slice(0, -1)) parent = parent[step as string] as { [key: string]: unknown };
    parent[special.path[special.path.length - 1] as string] = value;
  }
  return root as RunInput;
}

/** A worker's failure as the main thread throws it. */
export function errorFromThread(result: Extract<ThreadResult, { ok: false }>): RunGraphError {
  const { code, message, hint, location } = result.error;
  return new RunGraphError(code === 'E_INTERNAL' ? 'E_NODE_FAILED' : code, message, {
    ...location,
    ...(hint === undefined ? {} : { hint }),
  });
}
