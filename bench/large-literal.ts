/**
 * A large literal array through the CLI: a workflow holding `elements`
 * random float64s (written as JSON.stringify writes them) and a Sum of it,
 * run cold and then resumed, each by the built CLI in a process of its own.
 * What is measured: the cold run's peak RSS against the size of the
 * workflow's JSON text (the target: at most 3x), and the wall time
 * of the resume, node start-up included (target: under a second). The peak
 * RSS is the CLI process's own (getrusage ru_maxrss), written by a preload
 * at its exit with its CPU time (user + system), which a loaded machine
 * inflates less than wall time.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface LargeLiteralResult {
  textBytes: number;
  /** Peak RSS of each cold run, bytes. */
  coldRss: number[];
  /** Wall time of each resume, ms. */
  resumeMs: number[];
  /** CPU time (user + system) of each cold run, ms. */
  coldCpuMs: number[];
  /** CPU time (user + system) of each resume, ms. */
  resumeCpuMs: number[];
}

// Written at the CLI's exit: its own peak RSS in KiB and its CPU time in µs.
const PRELOAD =
  "import { writeFileSync } from 'node:fs'; process.on('exit', () => { const u = process.resourceUsage(); writeFileSync(process.env.RUN_GRAPH_BENCH_RSS, `${u.maxRSS} ${u.userCPUTime + u.systemCPUTime}`); });";

/** Peak RSS (bytes) and CPU time (ms) the preload wrote. */
async function usageOf(file: string): Promise<{ rss: number; cpuMs: number }> {
  const [maxRss = '', cpuMicros = ''] = (await readFile(file, 'utf8')).split(' ');
  return { rss: Number(maxRss) * 1024, cpuMs: Number(cpuMicros) / 1000 };
}

function runCli(cli: string, args: string[], rssFile: string): { ms: number; status: number | null; stderr: string } {
  const started = performance.now();
  const result = spawnSync(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(PRELOAD)}`, cli, ...args],
    { encoding: 'utf8', env: { ...process.env, CI: '1', RUN_GRAPH_BENCH_RSS: rssFile } },
  );
  return { ms: performance.now() - started, status: result.status, stderr: result.stderr };
}

/** Cold run and resume of a literal of `elements` floats, `reps` times each in a fresh directory under `dir`. */
export async function measureLargeLiteral(options: {
  dir: string;
  elements: number;
  reps: number;
  /** The CLI to run. Default: this package's built one (another build's, to compare). */
  cli?: string;
}): Promise<LargeLiteralResult> {
  const cli = options.cli ?? fileURLToPath(import.meta.resolve('#dist/cli/main.js'));
  const result: LargeLiteralResult = { textBytes: 0, coldRss: [], resumeMs: [], coldCpuMs: [], resumeCpuMs: [] };
  for (let rep = 0; rep < options.reps; rep++) {
    const dir = await mkdtemp(join(options.dir, 'run-graph-bench-literal-'));
    try {
      const data = Array.from({ length: options.elements }, () => Math.random());
      const workflow = join(dir, 'literal.json');
      await writeFile(
        workflow,
        JSON.stringify({
          nodes: [
            { label: 'literal', operation: 'scalems.Float64', input: { data } },
            { label: 'total', operation: 'run-graph.Sum', input: { array: { $ref: 'literal' } } },
          ],
        }),
      );
      result.textBytes = (await stat(workflow)).size;
      const rssFile = join(dir, 'rss');
      const args = ['run', workflow, '--workdir', join(dir, 'wd')];
      const cold = runCli(cli, args, rssFile);
      if (cold.status !== 0) throw new Error(`cold run of the literal failed: ${cold.stderr}`);
      const coldUsage = await usageOf(rssFile);
      result.coldRss.push(coldUsage.rss);
      result.coldCpuMs.push(coldUsage.cpuMs);
      const resume = runCli(cli, args, rssFile);
      if (resume.status !== 0) throw new Error(`resume of the literal failed: ${resume.stderr}`);
      result.resumeMs.push(resume.ms);
      result.resumeCpuMs.push((await usageOf(rssFile)).cpuMs);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return result;
}
