/**
 * Fingerprinting throughput, against raw sha256 of the same bytes measured
 * in the same run:
 *
 * - an int64 array given as an `.npy` file input, fingerprinted the way a run
 *   does it: `buildGraph` of a one-node `run-graph.NpyFile` workflow, which
 *   digests the file (dtype, shape, sha256 of the data bytes) and hashes the
 *   node's record. Throughput counts the array's data bytes. The file was just
 *   written, so it is read from the page cache, as the raw hash reads memory.
 * - a large nested record: `canonicalJson` alone, and `fingerprint` (canonical
 *   JSON plus sha256), in bytes of canonical text per second.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson, type JsonValue } from '#dist/identity/canonical-json.js';
import { fingerprint, type NodeRecord, type Uid } from '#dist/identity/fingerprint.js';
import { encodeNpy } from '#dist/values/npy.js';
import { builtinRegistry } from '#dist/operations/registry.js';
import { buildGraph } from '#dist/workflow/graph.js';

export interface FingerprintOptions {
  /** A directory for the `.npy` file (removed afterwards). */
  dir: string;
  /** Elements of the int64 array. */
  elements: number;
  /** Members of the nested record. */
  recordMembers: number;
  reps: number;
}

/** Throughputs in MB/s (10^6 bytes per second), one sample per repetition. */
export interface FingerprintSamples {
  arrayBytes: number;
  recordBytes: number;
  rawArraySha256: number[];
  npyInput: number[];
  rawRecordSha256: number[];
  canonicalJson: number[];
  recordFingerprint: number[];
}

function megabytesPerSecond(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

function timeSync(fn: () => unknown): number {
  const started = performance.now();
  fn();
  return performance.now() - started;
}

/** A record shaped like an ensemble's input: many small objects with nested lists and numbers. */
export function nestedRecord(members: number): NodeRecord {
  const ensemble: JsonValue[] = [];
  for (let i = 0; i < members; i++) {
    ensemble.push({
      label: `member-${i}`,
      parameters: { temperature: 300 + i * 0.25, steps: 1000 * (i + 1), seed: i, thermostat: 'v-rescale' },
      tags: ['production', i % 2 === 0 ? 'even' : 'odd'],
      box: [
        [i, i + 1, i + 2],
        [i + 3, i + 4, i + 5],
      ],
    });
  }
  const depends = Array.from(
    { length: 64 },
    (_, i) => createHash('sha256').update(String(i)).digest('hex') as Uid,
  ).sort();
  return { depends, input: { ensemble, description: 'benchmark record' }, operation: ['bench', 'Nested', '1'] };
}

export async function measureFingerprinting(options: FingerprintOptions): Promise<FingerprintSamples> {
  const root = await mkdtemp(join(options.dir, 'run-graph-fingerprint-'));
  try {
    const array = new BigInt64Array(options.elements);
    randomFillSync(new Uint8Array(array.buffer));
    const data = new Uint8Array(array.buffer);
    await writeFile(join(root, 'array.npy'), encodeNpy({ dtype: 'int64', shape: [options.elements], data: array }));
    const spec = {
      nodes: [{ label: 'array', operation: 'run-graph.NpyFile', input: { file: { $file: 'array.npy' } } }],
    };
    const registry = builtinRegistry();

    const record = nestedRecord(options.recordMembers);
    const recordText = Buffer.from(canonicalJson(record), 'utf8');
    const samples: FingerprintSamples = {
      arrayBytes: data.byteLength,
      recordBytes: recordText.byteLength,
      rawArraySha256: [],
      npyInput: [],
      rawRecordSha256: [],
      canonicalJson: [],
      recordFingerprint: [],
    };
    for (let rep = 0; rep < options.reps; rep++) {
      samples.rawArraySha256.push(
        megabytesPerSecond(
          data.byteLength,
          timeSync(() => createHash('sha256').update(data).digest('hex')),
        ),
      );
      const started = performance.now();
      const graph = await buildGraph(spec, { registry, baseDir: root });
      samples.npyInput.push(megabytesPerSecond(data.byteLength, performance.now() - started));
      if (graph.nodes.length !== 1) throw new Error('the npy workflow should have one node');
      samples.rawRecordSha256.push(
        megabytesPerSecond(
          recordText.byteLength,
          timeSync(() => createHash('sha256').update(recordText).digest('hex')),
        ),
      );
      samples.canonicalJson.push(
        megabytesPerSecond(
          recordText.byteLength,
          timeSync(() => canonicalJson(record)),
        ),
      );
      samples.recordFingerprint.push(
        megabytesPerSecond(
          recordText.byteLength,
          timeSync(() => fingerprint(record)),
        ),
      );
    }
    return samples;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
