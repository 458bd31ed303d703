// The JSON Schemas in schemas/ describe files run-graph writes, so each is
// held against real ones made here: the `--json` lines of runs of the built
// CLI, the metadata.json of every store those runs left (arrays, JSON, a
// subprocess's files, a stream, a loop, a node that failed and never
// committed), every ledger entry, a store just published, and a benchmark
// report. Each schema must also reject a document with one thing wrong, so
// that none of them passes everything.
import { readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeMachine } from '../../bench/machine.js';
import { TARGETS, makeRow, type BenchReport } from '../../bench/table.js';
import type { Uid } from '../../src/identity/fingerprint.js';
import { LEDGER_DIR } from '../../src/store/ledger.js';
import { publishStore } from '../../src/store/data-store.js';
import { METADATA_FILE, type StoreMetadata } from '../../src/store/metadata.js';
import { currentOwner } from '../../src/store/owner.js';
import { openWorkdir } from '../../src/store/workdir.js';
import { AJV_OPTIONS, schemaDigest, schemaPath } from '../../src/workflow/schema.js';
import * as built from '../../dist/workflow/schema.js';
import { parseEvents, runCli, type JsonEvent } from '../support/cli.js';
import { createSandbox, writeJson, type Sandbox } from '../support/sandbox.js';
import { storeUids } from '../support/stores.js';

const SCHEMAS = [
  'bench-report',
  'ledger-entry',
  'profile',
  'run-event',
  'slurm-submission',
  'store-metadata',
  'workflow',
];

function schemaText(name: string): string {
  return readFileSync(schemaPath(`${name}.schema.json`), 'utf8');
}

/** The problems a schema, compiled as the build compiles it, finds in a document: [] when it is valid. */
function checker(name: string): (document: unknown) => string[] {
  const validate = new Ajv2020(AJV_OPTIONS).compile(JSON.parse(schemaText(name)) as object);
  return (document) =>
    validate(document) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message ?? e.keyword}`);
}

const storeMetadataProblems = checker('store-metadata');
const ledgerEntryProblems = checker('ledger-entry');
const runEventProblems = checker('run-event');
const benchReportProblems = checker('bench-report');

/** A copy of `document` with `key` removed. */
function without<T extends object>(document: T, key: keyof T): Partial<T> {
  const copy: Partial<T> = { ...document };
  delete copy[key];
  return copy;
}

describe('the schemas in schemas/', () => {
  it('are exactly the shipped ones, each named by its $id', () => {
    expect(readdirSync(join(schemaPath('x'), '..')).sort()).toEqual(SCHEMAS.map((name) => `${name}.schema.json`));
    for (const name of SCHEMAS)
      expect((JSON.parse(schemaText(name)) as { $id?: unknown }).$id).toBe(`urn:run-graph:schema:${name}:1`);
  });

  it('compile in strict mode, are valid 2020-12 schemas, and the build precompiled each', () => {
    for (const name of SCHEMAS) {
      const ajv = new Ajv2020({ ...AJV_OPTIONS, validateSchema: true });
      expect(() => ajv.compile(JSON.parse(schemaText(name)) as object), name).not.toThrow();
      expect(
        built.precompiledValidator(`${name}.schema.json`, schemaDigest(schemaText(name))),
        `${name}: run \`npm run build\``,
      ).toBeTypeOf('function');
    }
  });

  it('describe every property of the files run-graph writes', () => {
    for (const name of SCHEMAS.filter((n) => n !== 'workflow')) {
      const schema = JSON.parse(schemaText(name)) as SchemaNode;
      expect(undescribedProperties(schema, schema, ''), name).toEqual([]);
    }
  });
});

interface SchemaNode {
  description?: string;
  $ref?: string;
  properties?: { [name: string]: SchemaNode };
  [keyword: string]: unknown;
}

/**
 * Paths of declared properties with no description, neither their own nor
 * that of the definition they refer to. Conditions (`if`/`then`/`else`) only
 * constrain properties declared elsewhere, so they are not searched.
 */
function undescribedProperties(root: SchemaNode, node: unknown, at: string): string[] {
  if (typeof node !== 'object' || node === null) return [];
  const missing: string[] = [];
  const definitions = (root.$defs ?? {}) as { [name: string]: SchemaNode };
  for (const [name, property] of Object.entries((node as SchemaNode).properties ?? {})) {
    const target = property.$ref === undefined ? undefined : definitions[property.$ref.replace('#/$defs/', '')];
    if (property.description === undefined && target?.description === undefined)
      missing.push(`${at}/properties/${name}`);
  }
  for (const [key, child] of Object.entries(node)) {
    if (key !== 'if' && key !== 'then' && key !== 'else')
      missing.push(...undescribedProperties(root, child, `${at}/${key}`));
  }
  return missing;
}

// Plain operation objects, so the module needs nothing from run-graph: a stream of `chunks` chunks of two rows.
const STREAM_MODULE = `export const counter = {
  namespace: 'probe', name: 'Counter', version: '1', summary: 'chunks of counting numbers', defaultOutput: 'samples', stream: 'samples',
  check: () => ({ samples: { kind: 'array', dtype: 'float64', shape: null } }),
  async *run(input) {
    for (let chunk = 0; chunk < input.chunks; chunk++) yield { dtype: 'float64', shape: [2], data: Float64Array.of(2 * chunk, 2 * chunk + 1) };
  },
};
`;

/** Every kind of artifact, a loop, and a node that fails, once retried (so its store is `failed`), with one downstream of it. */
const WORKFLOW = {
  operations: ['./ops.mjs'],
  subgraphs: {
    halve: {
      inputs: ['x'],
      outputs: { x: { $ref: 'half.result' } },
      nodes: [{ label: 'half', operation: 'run-graph.Multiply', input: { a: { $input: 'x' }, b: 0.5 } }],
    },
    small: {
      inputs: ['x'],
      outputs: { done: { $ref: 'all' } },
      nodes: [
        { label: 'largest', operation: 'run-graph.Max', input: { array: { $input: 'x' } } },
        { label: 'below', operation: 'run-graph.Compare', input: { a: { $ref: 'largest' }, b: 1.0, op: 'lt' } },
        { label: 'all', operation: 'run-graph.All', input: { array: { $ref: 'below' } } },
      ],
    },
  },
  nodes: [
    {
      label: 'matrix',
      operation: 'scalems.Integer64',
      input: {
        data: [
          [1, 2],
          [3, 4],
        ],
      },
    },
    { label: 'doubled', operation: 'run-graph.Add', input: { a: { $ref: 'matrix' }, b: { $ref: 'matrix' } } },
    {
      label: 'report',
      operation: 'scalems.Subprocess',
      input: { argv: ['sh', '-c', 'wc -c < "$1" > size.txt', 'sh', { $ref: 'doubled' }], outputFiles: ['size.txt'] },
    },
    { label: 'walk', operation: 'probe.Counter', input: { chunks: 3 } },
    { label: 'walkTotal', operation: 'run-graph.Sum', input: { array: { $ref: 'walk' } } },
    { label: 'start', operation: 'scalems.Float64', input: { data: [4, 2] } },
    {
      label: 'relax',
      while: {
        subgraph: 'halve',
        until: 'small',
        stopWhen: 'done',
        state: { x: { $ref: 'start' } },
        maxIterations: 10,
      },
    },
    {
      label: 'broken',
      operation: 'scalems.Subprocess',
      input: { argv: ['sh', '-c', 'exit 3'] },
      retries: 1,
      backoff: 0,
    },
    { label: 'afterBroken', operation: 'scalems.Subprocess', input: { argv: ['cat', { $ref: 'broken' }] } },
  ],
};

describe('what a run writes', () => {
  let box: Sandbox;
  let workdir: string;
  /** The --json lines of a cold run, a resumed one, and a run of a workflow that is not there. */
  let events: JsonEvent[];
  let stores: { uid: string; metadata: StoreMetadata }[];

  beforeAll(async () => {
    box = await createSandbox();
    workdir = box.path('work');
    await writeFile(box.path('ops.mjs'), STREAM_MODULE);
    const workflow = await writeJson(box.path('flow.json'), WORKFLOW);
    events = [];
    // Each fails: the workflow has a node that fails (retried in each run), the third has no workflow.
    for (const args of [[workflow], [workflow], [box.path('missing.json')]]) {
      const result = await runCli(['run', ...args, '--workdir', workdir, '--json']);
      expect(result.code, result.stderr).not.toBe(0);
      events.push(...parseEvents(result.stdout));
    }
    stores = await Promise.all(
      (await storeUids(workdir)).map(async (uid) => ({
        uid,
        metadata: JSON.parse(await readFile(join(workdir, uid, METADATA_FILE), 'utf8')) as StoreMetadata,
      })),
    );
  }, 60_000);
  afterAll(async () => box.cleanup());

  it('prints --json lines that each match run-event.schema.json', () => {
    for (const event of events) expect(runEventProblems(event), JSON.stringify(event)).toEqual([]);
    const types = new Set(events.map((e) => e.type));
    for (const type of [
      'run-started',
      'node-started',
      'node-committing',
      'node-committed',
      'node-reused',
      'node-failed',
      'node-skipped',
      'node-retrying',
      'nodes-added',
      'loop-iteration',
      'run-finished',
      'error',
    ]) {
      expect(types, `no ${type} line`).toContain(type);
    }
  });

  it('leaves stores whose metadata.json each match store-metadata.schema.json', () => {
    for (const { uid, metadata } of stores) expect(storeMetadataProblems(metadata), uid).toEqual([]);
    const states = new Set(stores.map((s) => s.metadata.state));
    expect([...states].sort()).toEqual(['committed', 'failed']);
    const broken = stores.find((s) => s.metadata.state === 'failed')?.metadata;
    // Two runs of two attempts each: numbered on across runs, the last of each run final.
    expect(broken?.state === 'failed' ? broken.attempts.map((a) => [a.attempt, a.lastAttempt, a.final]) : []).toEqual([
      [1, 2, false],
      [2, 2, true],
      [3, 4, false],
      [4, 4, true],
    ]);
    const kinds = new Set(
      stores.flatMap(({ metadata }) =>
        metadata.state === 'committed' ? Object.values(metadata.artifacts).map((a) => a.kind) : [],
      ),
    );
    expect([...kinds].sort()).toEqual(['array', 'file', 'json', 'stream']);
  });

  it('writes one ledger entry per committed store, each matching ledger-entry.schema.json', async () => {
    const names = (await readdir(join(workdir, LEDGER_DIR))).filter((name) => name.endsWith('.json'));
    const entries = await Promise.all(
      names.map(async (name) => JSON.parse(await readFile(join(workdir, LEDGER_DIR, name), 'utf8')) as { uid: string }),
    );
    for (const [i, entry] of entries.entries()) expect(ledgerEntryProblems(entry), names[i]).toEqual([]);
    const committed = stores.filter((s) => s.metadata.state === 'committed').map((s) => s.uid);
    expect(entries.map((e) => e.uid).sort()).toEqual(committed.sort());
  });

  it('has schemas that reject a document with one thing wrong', async () => {
    const committed = stores.find(
      (s) => s.metadata.state === 'committed' && Object.values(s.metadata.artifacts).some((a) => a.kind === 'array'),
    )?.metadata;
    if (committed?.state !== 'committed') throw new Error('no committed store with an array');
    const [output, array] = Object.entries(committed.artifacts).find(([, a]) => a.kind === 'array') ?? [];
    if (output === undefined || array === undefined) throw new Error('no array artifact');
    expect(
      storeMetadataProblems(without(committed, 'artifacts')),
      'accepts a committed store without artifacts',
    ).not.toEqual([]);
    expect(
      storeMetadataProblems({ ...committed, state: 'created' }),
      'accepts a created store with artifacts',
    ).not.toEqual([]);
    expect(
      storeMetadataProblems({ ...committed, uid: committed.uid.toUpperCase() }),
      'accepts an uppercase uid',
    ).not.toEqual([]);
    expect(
      storeMetadataProblems({ ...committed, record: { ...committed.record, operation: ['scalems'] } }),
      'accepts a record operation of one element',
    ).not.toEqual([]);
    expect(
      storeMetadataProblems({ ...committed, artifacts: { [output]: without(array, 'dtype') } }),
      'accepts an array artifact without dtype',
    ).not.toEqual([]);
    expect(
      storeMetadataProblems({ ...committed, artifacts: { [output]: { ...array, kind: 'json' } } }),
      'accepts a json artifact with dtype and shape',
    ).not.toEqual([]);
    expect(
      storeMetadataProblems({ ...committed, artifacts: { [output]: { ...array, kind: 'stream' } } }),
      'accepts a stream artifact without chunks',
    ).not.toEqual([]);

    const finished = events.find((e) => e.type === 'run-finished');
    const failed = events.find((e) => e.type === 'node-failed');
    if (finished === undefined || failed?.type !== 'node-failed')
      throw new Error('no run-finished or node-failed line');
    expect(runEventProblems({ ...finished, type: 'run-paused' }), 'accepts an unknown event type').not.toEqual([]);
    expect(runEventProblems(without(finished, 'time')), 'accepts an event without time').not.toEqual([]);
    expect(runEventProblems({ ...finished, id: 1 }), 'accepts an event with the id the server adds').not.toEqual([]);
    expect(
      runEventProblems({ ...failed, error: { ...failed.error, code: 'NODE_FAILED' } }),
      'accepts an error code without E_',
    ).not.toEqual([]);

    const name = (await readdir(join(workdir, LEDGER_DIR))).find((n) => n.endsWith('.json'));
    if (name === undefined) throw new Error('no ledger entry');
    const entry = JSON.parse(await readFile(join(workdir, LEDGER_DIR, name), 'utf8')) as {
      format: string;
      operation: object;
    };
    expect(
      ledgerEntryProblems({ ...entry, format: 'run-graph-ledger/2' }),
      'accepts another ledger format',
    ).not.toEqual([]);
    expect(
      ledgerEntryProblems({ ...entry, operation: without(entry.operation as { version: unknown }, 'version') }),
      'accepts an operation without version',
    ).not.toEqual([]);
  });
});

describe('a store just published', () => {
  it('has `created` metadata.json matching store-metadata.schema.json', async () => {
    const box = await createSandbox();
    try {
      const layout = await openWorkdir(box.path('work'));
      const uid = 'cd'.repeat(32) as Uid;
      const record = { depends: [], input: { data: [1, 2] }, operation: ['scalems', 'Integer64'] };
      expect(
        await publishStore(
          layout,
          { uid, record, operation: { namespace: 'scalems', name: 'Integer64', version: null } },
          currentOwner(),
        ),
      ).toBe('created');
      const metadata = JSON.parse(await readFile(join(layout.storeDir(uid), METADATA_FILE), 'utf8')) as StoreMetadata;
      expect(metadata.state).toBe('created');
      expect(storeMetadataProblems(metadata)).toEqual([]);
      expect(
        storeMetadataProblems({ ...metadata, durationMs: 3 }),
        'accepts a created store with durationMs',
      ).not.toEqual([]);
    } finally {
      await box.cleanup();
    }
  });
});

describe('a benchmark report', () => {
  it('matches bench-report.schema.json once written as JSON, a missing median as null', () => {
    const fsync = makeRow({
      id: 'floor.fsync.1',
      label: 'floor: one at a time, per node',
      unit: 'us',
      median: 812.5,
      samples: [800, 812.5, 901],
    });
    const ratio = makeRow({
      id: 'fanout.10.cold.vs-floor',
      label: 'fanout 10: cold per node / floor',
      unit: 'x',
      median: Number.NaN,
      samples: [],
      target: TARGETS.coldVsFloor,
    });
    const report: BenchReport = {
      format: 'run-graph-bench/1',
      generatedAt: new Date().toISOString(),
      machine: describeMachine(tmpdir()),
      settings: {
        quick: true,
        large: false,
        reps: 3,
        jobs: 2,
        shapes: ['fanout'],
        sizes: [10],
        subprocessNodes: 10,
        floorNodes: 10,
      },
      rows: [fsync, ratio],
      notes: ['--quick: tiny sizes, a smoke test of the benchmark; its verdicts mean nothing.'],
    };
    const written = JSON.parse(JSON.stringify(report)) as { rows: { median: number | null; verdict?: string }[] };
    expect(written.rows[1]).toMatchObject({ median: null, verdict: 'short' });
    expect(benchReportProblems(written)).toEqual([]);
    expect(
      benchReportProblems({ ...written, rows: [{ ...written.rows[0], verdict: 'pass' }] }),
      'accepts a verdict without a target',
    ).not.toEqual([]);
    expect(
      benchReportProblems({ ...written, rows: [{ ...written.rows[1], median: 'n/a' }] }),
      'accepts a median that is text',
    ).not.toEqual([]);
    expect(benchReportProblems({ ...written, rows: [{ ...fsync, unit: 's' }] }), 'accepts an unknown unit').not.toEqual(
      [],
    );
  });
});
