/**
 * The filesystem floor: what publishing one store costs at the very least on
 * this machine, measured by the benchmark itself so the engine's per-node
 * overhead can be read as a ratio rather than an absolute that means nothing
 * on other hardware.
 *
 * One "node" of the floor is the minimum a durable store commit needs:
 * mkdir in tmp/, write a small file, fsync it, rename the directory into
 * place, fsync the parent directory. The no-fsync variant drops both fsyncs:
 * the cost of the directory operations alone.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pooled, timed } from './stats.js';

export interface FloorOptions {
  /** A directory on the file system under test; the floor works in a fresh folder inside it and removes it. */
  dir: string;
  /** Nodes to publish; the figure is the mean over them. */
  count: number;
  /** Nodes in flight at once: 1 for a chain, `jobs` for a fan-out. */
  concurrency: number;
  /** Whether to fsync the file and the directory (the durable floor) or not. */
  fsync: boolean;
}

/** About the size of a store's metadata.json. */
const PAYLOAD = Buffer.from(
  `${JSON.stringify({ format: 'run-graph-store/1', uid: randomBytes(32).toString('hex'), state: 'created', padding: 'x'.repeat(200) }, null, 2)}\n`,
);

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function publishOne(root: string, tmp: string, index: number, fsync: boolean): Promise<void> {
  const name = `node-${index}`;
  const staging = join(tmp, name);
  await mkdir(staging);
  const handle = await open(join(staging, 'metadata.json'), 'wx');
  try {
    await handle.writeFile(PAYLOAD);
    if (fsync) await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(staging, join(root, name));
  if (fsync) await fsyncPath(root);
}

/** Microseconds per node of the floor protocol. */
export async function measureFloor(options: FloorOptions): Promise<number> {
  const root = await mkdtemp(join(options.dir, 'run-graph-floor-'));
  try {
    const tmp = join(root, 'tmp');
    await mkdir(tmp);
    const { ms } = await timed(() =>
      pooled(options.count, options.concurrency, (i) => publishOne(root, tmp, i, options.fsync)),
    );
    return (ms * 1000) / options.count;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
