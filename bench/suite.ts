/**
 * The whole benchmark, in the order: filesystem floor, trivial-node
 * workflows (fanout and chain, cold / no-op / partial, peak RSS), subprocess
 * nodes against GNU make, fingerprinting, a large literal array through the
 * CLI (peak RSS against its JSON text, resume time), and scaling ratios. Every figure is
 * the median of `reps` repetitions; every comparison is a ratio of two
 * medians measured in this same run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { measureFingerprinting } from './fingerprinting.js';
import { measureFloor } from './floor.js';
import { measureLargeLiteral } from './large-literal.js';
import { measureMetadataCalls, straceAvailable } from './metadata-calls.js';
import { NODES_IN_FLIGHT_PER_JOB } from '#dist/engine/worker-context.js';
import { describeMachine } from './machine.js';
import { CLI_SHAPES, measureCliRuns, measureVersion } from './cli-runs.js';
import { gnuMakeVersion, measureMake } from './make.js';
import { measureServeLoad } from './serve-load.js';
import { runPhaseInChild, type PhaseName, type PhaseResult } from './phases.js';
import { median, settleDisk } from './stats.js';
import { TARGETS, makeRow, type BenchReport, type BenchRow, type Target, type Unit } from './table.js';
import type { Shape } from './workflows.js';

export interface SuiteOptions {
  /** Where working directories are made (and removed); its file system is the one measured. */
  dir: string;
  /** Tiny sizes and one repetition by default: a smoke test of the benchmark itself. */
  quick: boolean;
  /** Add the 100,000-node workflows. */
  large: boolean;
  /** Which trivial-node shapes to run. Default: fanout and chain. */
  shapes?: readonly ('fanout' | 'chain')[];
  reps: number;
  /** Concurrent nodes for run-graph and make. */
  jobs: number;
  /** Extra node flags for the phase children (e.g. `--cpu-prof`). Default: none. */
  nodeFlags?: readonly string[];
  /** Progress lines. */
  log: (line: string) => void;
}

interface Sizes {
  workflow: number[];
  floorNodes: number;
  subprocessNodes: number;
  arrayElements: number;
  recordMembers: number;
  literalElements: number;
}

function sizesFor(options: SuiteOptions): Sizes {
  if (options.quick)
    return {
      workflow: [10, 100],
      floorNodes: 50,
      subprocessNodes: 10,
      arrayElements: 100_000,
      recordMembers: 1_000,
      literalElements: 100_000,
    };
  return {
    workflow: options.large ? [1_000, 10_000, 100_000] : [1_000, 10_000],
    floorNodes: 1_000,
    subprocessNodes: 1_000,
    arrayElements: 10_000_000,
    recordMembers: 100_000,
    literalElements: 5_000_000,
  };
}

const count = (n: number): string => n.toLocaleString('en-US');

function sampleRow(id: string, label: string, unit: Unit, samples: number[], target?: Target): BenchRow {
  return makeRow({ id, label, unit, median: median(samples), samples, ...(target === undefined ? {} : { target }) });
}

function ratioRow(
  id: string,
  label: string,
  numerator: BenchRow | undefined,
  denominator: BenchRow | undefined,
  target?: Target,
): BenchRow {
  const value =
    numerator === undefined || denominator === undefined ? Number.NaN : numerator.median / denominator.median;
  return makeRow({ id, label, unit: 'x', median: value, samples: [], ...(target === undefined ? {} : { target }) });
}

/**
 * Samples of one shape at one size, one entry per repetition, and the first
 * failure if a run failed; `floorBefore`: the fsync floor (µs per node)
 * measured right before each repetition's cold run.
 */
type PhaseSamples = { [phase in PhaseName]: PhaseResult[] } & { floorBefore: number[]; error?: string };

/** A floor to measure right before each cold run: `count` stores, `concurrency` at a time. */
interface PairedFloor {
  count: number;
  concurrency: number;
}

/** Run times of the phase's successful runs (a failed run's time measures nothing). */
const runTimes = (results: readonly PhaseResult[], time: (r: PhaseResult) => number = (r) => r.runMs): number[] =>
  results.filter((r) => r.error === undefined).map(time);

async function measureShape(
  options: SuiteOptions,
  shape: Shape,
  n: number,
  phases: readonly PhaseName[],
  pairedFloor?: PairedFloor,
): Promise<PhaseSamples> {
  const samples: PhaseSamples = { cold: [], noop: [], partial: [], floorBefore: [] };
  const child = { nodeFlags: options.nodeFlags ?? [] };
  for (let rep = 0; rep < options.reps && samples.error === undefined; rep++) {
    const workdir = await mkdtemp(join(options.dir, `run-graph-bench-${shape}-`));
    try {
      const line: string[] = [];
      // In this order: the no-op resume needs the cold run's stores, the partial resume deletes some of them.
      for (const phase of phases) {
        if (phase === 'cold' && pairedFloor !== undefined) {
          // The disk of a shared machine changes speed over minutes: the cold run is compared with a floor taken
          // just before it, not only with the one measured at the start.
          settleDisk();
          samples.floorBefore.push(
            await measureFloor({
              dir: options.dir,
              count: pairedFloor.count,
              concurrency: pairedFloor.concurrency,
              fsync: true,
            }),
          );
          line.push(`floor ${samples.floorBefore.at(-1)?.toFixed(0)} µs/node`);
        }
        settleDisk();
        const result = await runPhaseInChild({ shape, n, phase, workdir, jobs: options.jobs }, child);
        samples[phase].push(result);
        line.push(
          `${phase} ${result.runMs.toFixed(0)} ms (build ${result.buildMs.toFixed(0)} ms, ${(result.maxRssKiB / 1024).toFixed(0)} MiB)`,
        );
        // A failure of the engine is deterministic: record it, and measure no further on this workflow.
        if (result.error !== undefined) {
          samples.error = result.error;
          line.push(`FAILED: ${result.error}`);
          break;
        }
      }
      options.log(`${shape} n=${n} rep ${rep + 1}/${options.reps}: ${line.join(', ')}`);
    } finally {
      await rm(workdir, { recursive: true, force: true });
    }
  }
  return samples;
}

function shapeRows(shape: 'fanout' | 'chain', n: number, samples: PhaseSamples, floorInFlight?: BenchRow): BenchRow[] {
  const name = `${shape} ${count(n)}`;
  const nodes = samples.cold[0]?.nodes ?? n;
  const id = `${shape}.${n}`;
  const all = [...samples.cold, ...samples.noop, ...samples.partial];
  const cold = sampleRow(`${id}.cold`, `${name}: cold run`, 'ms', runTimes(samples.cold));
  const coldPerNode = sampleRow(
    `${id}.cold.per-node`,
    `${name}: cold run, per node`,
    'us',
    runTimes(samples.cold, (r) => (r.runMs * 1000) / nodes),
  );
  const at = shape === 'fanout' ? 'jobs' : '1';
  // Each repetition's cold run against the floor measured right before it, then the median of those ratios.
  const paired = samples.cold.flatMap((r, rep) => {
    const floor = samples.floorBefore[rep];
    return r.error === undefined && floor !== undefined ? [(r.runMs * 1000) / nodes / floor] : [];
  });
  return [
    sampleRow(
      `${id}.build`,
      `${name}: graph build (parse, schema, types, uids)`,
      'ms',
      all.map((r) => r.buildMs),
      shape === 'fanout' && n >= 100_000 ? TARGETS.largeFanoutBuildMs : undefined,
    ),
    cold,
    coldPerNode,
    sampleRow(
      `${id}.floor-before`,
      `${name}: fsync floor (${at} at a time) measured just before each cold run, per node`,
      'us',
      samples.floorBefore,
    ),
    sampleRow(
      `${id}.cold.vs-floor`,
      `${name}: cold per node / that floor (median of the repetitions' ratios)`,
      'x',
      paired,
      TARGETS.coldVsFloor,
    ),
    ...(floorInFlight === undefined
      ? []
      : [
          ratioRow(
            `${id}.cold.vs-floor-in-flight`,
            `${name}: cold per node / fsync floor (as many at a time as the run has nodes in flight)`,
            coldPerNode,
            floorInFlight,
          ),
        ]),
    sampleRow(`${id}.noop`, `${name}: no-op resume (open + run)`, 'ms', runTimes(samples.noop)),
    sampleRow(
      `${id}.noop.per-node`,
      `${name}: no-op resume incl. graph build, per node`,
      'us',
      runTimes(samples.noop, (r) => ((r.buildMs + r.runMs) * 1000) / nodes),
      TARGETS.noopPerNodeUs,
    ),
    sampleRow(`${id}.partial`, `${name}: partial resume (last 10% deleted)`, 'ms', runTimes(samples.partial)),
    sampleRow(
      `${id}.rss`,
      `${name}: peak RSS (largest phase)`,
      'MiB',
      samples.cold.map(
        (r, rep) =>
          Math.max(r.maxRssKiB, samples.noop[rep]?.maxRssKiB ?? 0, samples.partial[rep]?.maxRssKiB ?? 0) / 1024,
      ),
      shape === 'fanout' && n >= 100_000 ? TARGETS.largeFanoutRssMiB : undefined,
    ),
  ];
}

/** time(10n)/time(n) for every phase of a shape, for each pair of consecutive sizes. */
function scalingRows(shape: 'fanout' | 'chain', sizes: readonly number[], rows: readonly BenchRow[]): BenchRow[] {
  const byId = new Map(rows.map((row) => [row.id, row]));
  const out: BenchRow[] = [];
  for (let i = 1; i < sizes.length; i++) {
    const [small, big] = [sizes[i - 1] as number, sizes[i] as number];
    for (const phase of ['build', 'cold', 'noop', 'partial']) {
      out.push(
        ratioRow(
          `scaling.${shape}.${phase}.${big}`,
          `scaling ${shape} ${phase}: time(${count(big)}) / time(${count(small)})`,
          byId.get(`${shape}.${big}.${phase}`),
          byId.get(`${shape}.${small}.${phase}`),
          TARGETS.scaling,
        ),
      );
    }
  }
  return out;
}

export async function runSuite(options: SuiteOptions): Promise<BenchReport> {
  const sizes = sizesFor(options);
  const { reps, jobs, log } = options;
  const rows: BenchRow[] = [];
  const notes: string[] = [];

  // 1. Filesystem floor, one node at a time (the chain's situation) and `jobs` at a time (the fanout's).
  // And as many at a time as a run has nodes in flight (committing while `jobs` run), for comparison.
  const inFlight = jobs * NODES_IN_FLIGHT_PER_JOB;
  const floor = {
    fsyncSeq: [] as number[],
    fsyncJobs: [] as number[],
    fsyncInFlight: [] as number[],
    plainSeq: [] as number[],
    plainJobs: [] as number[],
  };
  for (let rep = 0; rep < reps; rep++) {
    const base = { dir: options.dir, count: sizes.floorNodes };
    const measure = async (concurrency: number, fsync: boolean): Promise<number> => {
      settleDisk();
      return measureFloor({ ...base, concurrency, fsync });
    };
    floor.fsyncSeq.push(await measure(1, true));
    floor.fsyncJobs.push(await measure(jobs, true));
    floor.fsyncInFlight.push(await measure(inFlight, true));
    floor.plainSeq.push(await measure(1, false));
    floor.plainJobs.push(await measure(jobs, false));
    log(
      `floor rep ${rep + 1}/${reps}: fsync ${floor.fsyncSeq.at(-1)?.toFixed(0)} µs/node (1 at a time), ${floor.fsyncJobs.at(-1)?.toFixed(0)} µs/node (${jobs} at a time)`,
    );
  }
  const floorFsyncSeq = sampleRow(
    'floor.fsync.1',
    'floor: mkdir + write + fsync + rename + dir fsync, 1 at a time, per node',
    'us',
    floor.fsyncSeq,
  );
  const floorFsyncJobs = sampleRow(
    `floor.fsync.jobs`,
    `floor: the same, ${jobs} at a time, per node`,
    'us',
    floor.fsyncJobs,
  );
  const floorFsyncInFlight = sampleRow(
    `floor.fsync.in-flight`,
    `floor: the same, ${inFlight} at a time (a run's nodes in flight), per node`,
    'us',
    floor.fsyncInFlight,
  );
  rows.push(
    floorFsyncSeq,
    floorFsyncJobs,
    floorFsyncInFlight,
    sampleRow('floor.nofsync.1', 'floor without fsync, 1 at a time, per node', 'us', floor.plainSeq),
    sampleRow('floor.nofsync.jobs', `floor without fsync, ${jobs} at a time, per node`, 'us', floor.plainJobs),
  );

  // 2. Trivial in-process nodes.
  const workflowRows: BenchRow[] = [];
  const shapes = options.shapes ?? (['fanout', 'chain'] as const);
  for (const shape of shapes) {
    for (const n of sizes.workflow) {
      const samples = await measureShape(options, shape, n, ['cold', 'noop', 'partial'], {
        count: sizes.floorNodes,
        concurrency: shape === 'fanout' ? jobs : 1,
      });
      workflowRows.push(...shapeRows(shape, n, samples, shape === 'fanout' ? floorFsyncInFlight : undefined));
      if (samples.error !== undefined)
        notes.push(
          `${shape} ${count(n)} failed, so its run times are missing (build time and RSS are from the failed run): ${samples.error}`,
        );
    }
  }
  rows.push(...workflowRows);

  // 3. Subprocess nodes against GNU make.
  const sub = sizes.subprocessNodes;
  const subSamples = await measureShape(options, 'subprocess', sub, ['cold', 'noop']);
  const endToEnd = (r: PhaseResult): number => r.buildMs + r.runMs;
  const subCold = sampleRow(
    `subprocess.${sub}.cold`,
    `subprocess ${count(sub)}: cold (build + run)`,
    'ms',
    runTimes(subSamples.cold, endToEnd),
  );
  const subNoop = sampleRow(
    `subprocess.${sub}.noop`,
    `subprocess ${count(sub)}: no-op (build + run)`,
    'ms',
    runTimes(subSamples.noop, endToEnd),
  );
  rows.push(subCold, subNoop);
  if (subSamples.error !== undefined) notes.push(`subprocess ${count(sub)} failed: ${subSamples.error}`);
  const make = await gnuMakeVersion();
  if (make === undefined) {
    notes.push('GNU make is not installed: the make comparison was skipped.');
    log('GNU make not found: skipping the make comparison');
  } else {
    const makeSamples = await measureMake({ dir: options.dir, n: sub, jobs, reps });
    log(
      `make n=${sub}: cold ${median(makeSamples.cold).toFixed(0)} ms, no-op ${median(makeSamples.noop).toFixed(0)} ms`,
    );
    const makeCold = sampleRow(`make.${sub}.cold`, `make -j${jobs} ${count(sub)}: cold`, 'ms', makeSamples.cold);
    const makeNoop = sampleRow(`make.${sub}.noop`, `make -j${jobs} ${count(sub)}: no-op`, 'ms', makeSamples.noop);
    rows.push(
      makeCold,
      makeNoop,
      ratioRow(`subprocess.${sub}.cold.vs-make`, `subprocess ${count(sub)}: cold, run-graph / make`, subCold, makeCold),
      ratioRow(
        `subprocess.${sub}.noop.vs-make`,
        `subprocess ${count(sub)}: no-op, run-graph / make`,
        subNoop,
        makeNoop,
      ),
    );
    notes.push(`make: ${make}; it writes targets without fsync and keeps no per-node record.`);
  }

  // 3b. The same kind of DAG as a user runs it, fan-out and chain, against make in the same repetitions.
  for (const shape of CLI_SHAPES) {
    const samples = await measureCliRuns(shape, { dir: options.dir, n: sub, jobs, reps, make: make !== undefined });
    const id = `subprocess-cli.${shape}.${sub}`;
    const name = `subprocess ${shape === 'fanout' ? 'fan-out' : 'chain'} ${count(sub)}`;
    log(
      `${name} via run-graph run: cold ${median(samples.cold).toFixed(0)} ms, no-op ${median(samples.noop).toFixed(0)} ms`,
    );
    const cold = sampleRow(
      `${id}.cold`,
      `${name}: cold, \`run-graph run\` (process start included)`,
      'ms',
      samples.cold,
    );
    const noop = sampleRow(
      `${id}.noop`,
      `${name}: no-op, \`run-graph run\` (process start included)`,
      'ms',
      samples.noop,
      sub >= 1_000 ? TARGETS.subprocessNoopMs : undefined,
    );
    rows.push(cold, noop);
    if (make !== undefined) {
      const makeCold = sampleRow(`make.${shape}.${sub}.cold`, `${name}: cold, make -j${jobs}`, 'ms', samples.makeCold);
      const makeNoop = sampleRow(`make.${shape}.${sub}.noop`, `${name}: no-op, make -j${jobs}`, 'ms', samples.makeNoop);
      rows.push(
        makeCold,
        makeNoop,
        ratioRow(`${id}.cold.vs-make`, `${name}: cold, run-graph / make`, cold, makeCold, TARGETS.subprocessVsMake),
        ratioRow(`${id}.noop.vs-make`, `${name}: no-op, run-graph / make`, noop, makeNoop),
      );
    }
  }
  const startup = await measureVersion(options.quick ? 2 : 10);
  rows.push(
    sampleRow('cli.version', '`run-graph --version`, wall time', 'ms', startup.version, TARGETS.versionMs),
    sampleRow('cli.node-start', '`node -e 0`, wall time (what Node itself costs here)', 'ms', startup.node),
  );

  // 4. Fingerprinting.
  log('fingerprinting');
  const fp = await measureFingerprinting({
    dir: options.dir,
    elements: sizes.arrayElements,
    recordMembers: sizes.recordMembers,
    reps,
  });
  const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
  const rawArray = sampleRow(
    'fingerprint.array.raw-sha256',
    `raw sha256 of ${count(sizes.arrayElements)} int64 (${mb(fp.arrayBytes)}, in memory)`,
    'MB/s',
    fp.rawArraySha256,
  );
  const npyInput = sampleRow(
    'fingerprint.array.npy-input',
    'fingerprint of the same array as an .npy input (digest + uid)',
    'MB/s',
    fp.npyInput,
  );
  const rawRecord = sampleRow(
    'fingerprint.record.raw-sha256',
    `raw sha256 of a nested record's canonical text (${mb(fp.recordBytes)})`,
    'MB/s',
    fp.rawRecordSha256,
  );
  const canonical = sampleRow(
    'fingerprint.record.canonical-json',
    'canonicalJson of that record',
    'MB/s',
    fp.canonicalJson,
  );
  const recordFp = sampleRow(
    'fingerprint.record.fingerprint',
    'fingerprint of that record (canonical JSON + sha256)',
    'MB/s',
    fp.recordFingerprint,
  );
  rows.push(
    rawArray,
    npyInput,
    ratioRow(
      'fingerprint.array.share',
      'array fingerprint / raw sha256',
      npyInput,
      rawArray,
      TARGETS.arrayFingerprintShare,
    ),
    rawRecord,
    canonical,
    recordFp,
    ratioRow('fingerprint.record.share', 'record fingerprint / raw sha256', recordFp, rawRecord),
  );

  // 5. A large literal array, through the CLI.
  log(`large literal of ${count(sizes.literalElements)} floats`);
  const literal = await measureLargeLiteral({ dir: options.dir, elements: sizes.literalElements, reps });
  const literalName = `literal ${count(sizes.literalElements)} floats (${mb(literal.textBytes)} of JSON)`;
  rows.push(
    sampleRow(
      `literal.${sizes.literalElements}.cold.rss-ratio`,
      `${literalName}: cold run peak RSS / JSON text size`,
      'x',
      literal.coldRss.map((rss) => rss / literal.textBytes),
      TARGETS.literalRssRatio,
    ),
    sampleRow(
      `literal.${sizes.literalElements}.resume`,
      `${literalName}: resume, node start-up included`,
      'ms',
      literal.resumeMs,
      TARGETS.literalResumeMs,
    ),
  );

  // 6. Scaling.
  for (const shape of shapes) rows.push(...scalingRows(shape, sizes.workflow, workflowRows));

  // 6. `run-graph serve` under load.
  const serve = await measureServeLoad({
    dir: options.dir,
    seconds: options.quick ? 1 : 5,
    clients: options.quick ? 4 : 16,
    log,
  });
  rows.push(...serve.rows);
  notes.push(...serve.notes);
  // 7. Workers sharing one working directory: metadata calls per node (strace).
  if (!straceAvailable()) {
    notes.push(
      'strace is not available (or ptrace is not allowed): the metadata calls of shared workers were not counted.',
    );
    log('strace not available: skipping the metadata calls of shared workers');
  } else {
    const workerCounts = options.quick ? [1, 4] : [1, 4, 16];
    const fanout = options.quick ? 50 : 200;
    const calls = await measureMetadataCalls({ dir: options.dir, nodes: fanout, workers: workerCounts, log });
    const callRows = workerCounts.map((w) =>
      makeRow({
        id: `workers.${w}.metadata-calls`,
        label: `${w} worker${w === 1 ? '' : 's'} on one directory, fanout ${fanout}: metadata calls per node`,
        unit: 'calls',
        median: calls.get(w) ?? Number.NaN,
        samples: [calls.get(w) ?? Number.NaN],
      }),
    );
    rows.push(...callRows);
    const most = workerCounts[workerCounts.length - 1] as number;
    rows.push(
      ratioRow(
        `workers.${most}.metadata-calls.vs-one`,
        `metadata calls per node: ${most} workers / 1`,
        callRows[callRows.length - 1],
        callRows[0],
        most === 16 ? TARGETS.workersMetadata : undefined,
      ),
    );
  }

  notes.push(
    "Times of workflow phases are measured inside a child process per phase (node start-up excluded); peak RSS is that process's own high-water mark (VmHWM).",
    'Cold and partial runs fsync every artifact, the directory, and metadata.json before a store counts as committed.',
  );
  if (options.quick) notes.push('--quick: tiny sizes, a smoke test of the benchmark; its verdicts mean nothing.');
  return {
    format: 'run-graph-bench/1',
    generatedAt: new Date().toISOString(),
    machine: describeMachine(options.dir),
    settings: {
      quick: options.quick,
      large: options.large,
      reps,
      jobs,
      shapes: [...shapes],
      sizes: sizes.workflow,
      subprocessNodes: sub,
      floorNodes: sizes.floorNodes,
    },
    rows,
    notes,
  };
}
