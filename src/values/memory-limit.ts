/**
 * Whether a literal array, or a workflow file, fits in this process's
 * memory, decided before it is materialised: a literal of tens of millions
 * of elements would otherwise end the process with V8's "heap out of
 * memory", with no word of which node held it. The limit is derived from
 * the heap limit (v8.getHeapStatistics(); `--max-old-space-size` in
 * NODE_OPTIONS raises it) and what is in use, with the cost per element
 * measured on a run: a 5-million-element float literal took about 1.5 GB at
 * its peak (the parsed list, the record, its canonical text, the typed
 * array, the `.npy` bytes), some 300 bytes per element. A long list kept as
 * text (NumberList) holds far less, about 27 bytes an element and outside
 * the heap, but is held to the same limit: a conservative one.
 */
import { constants } from 'node:buffer';
import { getHeapStatistics } from 'node:v8';
import { RunGraphError } from '../errors.js';

/** Heap a literal array needs per element, from parse to commit (measured, rounded down). */
export const LITERAL_BYTES_PER_ELEMENT = 256;
/** Heap a workflow file needs per byte of text, while it is read and parsed (its text and the values parsed from it). */
export const WORKFLOW_BYTES_PER_BYTE = 8;

function availableHeap(): number {
  const { heap_size_limit: limit, used_heap_size: used } = getHeapStatistics();
  return Math.max(0, limit - used);
}

function heapHint(): string {
  const mib = Math.round(getHeapStatistics().heap_size_limit / 2 ** 20);
  return `the heap limit is ${mib} MiB: raise it with NODE_OPTIONS=--max-old-space-size=<MiB>, or give the array as an .npy file (run-graph.NpyFile), which is hashed without being held as a list`;
}

/** The most elements a literal array may have in this process now. */
export function literalElementLimit(): number {
  return Math.floor(availableHeap() / LITERAL_BYTES_PER_ELEMENT);
}

/** Throw E_TOO_LARGE, naming the place, if a literal of `count` elements cannot be held. */
export function checkLiteralSize(
  count: number,
  site: { file?: string | undefined; node: string; field: string },
): void {
  const limit = literalElementLimit();
  if (count <= limit) return;
  throw new RunGraphError(
    'E_TOO_LARGE',
    `the literal array at ${site.field} has ${count} elements; at most ${limit} fit in memory here`,
    {
      ...(site.file === undefined ? {} : { file: site.file }),
      node: site.node,
      field: site.field,
      value: count,
      hint: heapHint(),
    },
  );
}

/** Throw E_TOO_LARGE, naming the file, if a JSON text of `bytes` cannot be read and parsed here. */
export function checkTextSize(bytes: number, file: string): void {
  const fits = bytes <= constants.MAX_STRING_LENGTH && bytes * WORKFLOW_BYTES_PER_BYTE <= availableHeap();
  if (fits) return;
  throw new RunGraphError(
    'E_TOO_LARGE',
    `${file} has ${bytes} bytes, more than can be read and parsed in memory here`,
    { file, value: bytes, hint: heapHint() },
  );
}
