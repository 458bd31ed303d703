/**
 * File-system metadata calls per node when several `run-graph run` workers
 * share one working directory (a job array, `srun -n K`), counted by strace:
 * the cost a parallel file system's metadata server pays, which must not
 * grow with the number of workers.
 *
 * For W workers, W processes run the same fan-out at once on a fresh working
 * directory, each under `strace -f -c` (threads followed: the thread pool
 * makes most calls). Counted: every call that names a path (strace's %file
 * class: open/openat, stat/statx/newfstatat/lstat, access, mkdir, rename,
 * unlink, rmdir, utimensat, readlink...) and getdents. Per node is the
 * marginal figure: (calls with `nodes` nodes - calls with one node) / (nodes
 * - 1), summed over the workers, so the start-up of W processes (loading
 * modules) does not count as per-node work.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fanoutWorkflow } from './workflows.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const TRACED = 'trace=%file,getdents,getdents64';

/** Whether strace can trace here (installed, and ptrace allowed). */
export function straceAvailable(): boolean {
  const probe = spawnSync('strace', ['-f', '-c', '-o', '/dev/null', 'true'], { stdio: 'ignore' });
  return probe.status === 0;
}

/** The call counts of one `strace -c` summary: calls per syscall. */
export function parseStraceSummary(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    // "% time     seconds  usecs/call     calls    errors syscall"; errors may be blank.
    const match = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (match !== null && match[2] !== 'total') counts.set(match[2] as string, Number(match[1]));
  }
  return counts;
}

function runWorker(args: string[], output: string, env: NodeJS.ProcessEnv): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn('strace', ['-f', '-c', '-e', TRACED, '-o', output, process.execPath, CLI, ...args], {
      env,
      stdio: 'ignore',
    });
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
}

/** Total traced calls of `workers` processes running a fan-out of `n` on one fresh working directory. */
async function tracedRun(dir: string, workers: number, n: number): Promise<number> {
  const here = join(dir, `w${workers}-n${n}`);
  await mkdir(here, { recursive: true });
  const workflow = join(here, 'fanout.json');
  // n leaves off one source; no reduce, so the leaves are the work.
  const spec = fanoutWorkflow(n);
  spec.nodes = spec.nodes.filter((node) => node.label !== 'reduce');
  await writeFile(workflow, JSON.stringify(spec));
  const env = { ...process.env, CI: '1' };
  const codes = await Promise.all(
    Array.from({ length: workers }, (_, k) =>
      runWorker(['run', workflow, '--workdir', join(here, 'workdir'), '--jobs', '1'], join(here, `strace.${k}`), env),
    ),
  );
  if (codes.some((code) => code !== 0)) throw new Error(`a worker failed (exit codes ${codes.join(', ')})`);
  let total = 0;
  for (const name of await readdir(here))
    if (name.startsWith('strace.'))
      for (const calls of parseStraceSummary(await readFile(join(here, name), 'utf8')).values()) total += calls;
  await rm(here, { recursive: true, force: true });
  return total;
}

/** Metadata calls per node (summed over the workers) for each worker count. */
export async function measureMetadataCalls(options: {
  dir: string;
  nodes: number;
  workers: readonly number[];
  log: (line: string) => void;
}): Promise<Map<number, number>> {
  const perNode = new Map<number, number>();
  for (const workers of options.workers) {
    const base = await tracedRun(options.dir, workers, 1);
    const full = await tracedRun(options.dir, workers, options.nodes);
    const value = (full - base) / (options.nodes - 1);
    options.log(`metadata calls: ${workers} worker(s), ${options.nodes} nodes: ${value.toFixed(1)} per node`);
    perNode.set(workers, value);
  }
  return perNode;
}

// `node build/bench/metadata-calls.js [nodes] [workers,...]`: the measurement alone.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const nodes = Number(process.argv[2] ?? 200);
  const workers = (process.argv[3] ?? '1,4,16').split(',').map(Number);
  if (!straceAvailable()) {
    console.log('strace is not available: nothing measured');
  } else {
    const dir = join(process.env['TMPDIR'] ?? '/tmp', `run-graph-metadata-${process.pid}`);
    const result = await measureMetadataCalls({ dir, nodes, workers, log: console.log });
    await rm(dir, { recursive: true, force: true });
    const one = result.get(1);
    for (const [w, v] of result)
      console.log(`${w}\t${v.toFixed(1)}${one === undefined ? '' : `\t${(v / one).toFixed(2)}x`}`);
  }
}
