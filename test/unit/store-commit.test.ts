// The store protocol of one node without the builder around it: publish,
// claim, commit. What the commit promises: artifacts are renamed into place
// and made durable before metadata.json changes, nothing is left under a
// temporary name, and a commit refused at the last moment leaves the store
// uncommitted.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NodeRecord, Uid } from '../../src/identity/fingerprint.js';
import { decodeNpy } from '../../src/values/npy.js';
import { commitStore, publishStore } from '../../src/store/data-store.js';
import { TEMP_PREFIX } from '../../src/store/durable.js';
import { claimOwnership, primeLockClock } from '../../src/store/lock.js';
import { isCommitted, readStoreMetadata, type StoreMetadata } from '../../src/store/metadata.js';
import { OWNER_FILE, currentOwner, readOwner } from '../../src/store/owner.js';
import { openWorkdir, type WorkdirLayout } from '../../src/store/workdir.js';

let dir: string;
let layout: WorkdirLayout;
const owner = currentOwner();
const uid = 'ab'.repeat(32) as Uid;
const record = { operation: ['test', 'Op', '1'], input: {}, depends: [] } as unknown as NodeRecord;
const bigLength = 20_000; // 160 kB of int64: written through the thread pool, not synchronously

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'run-graph-commit-'));
  layout = await openWorkdir(join(dir, 'work'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

async function publishedAndClaimed(): Promise<{
  storeDir: string;
  created: StoreMetadata;
  release: () => Promise<void>;
}> {
  expect(
    await publishStore(layout, { uid, record, operation: { namespace: 'test', name: 'Op', version: '1' } }, owner),
  ).toBe('created');
  const storeDir = layout.storeDir(uid);
  const claim = await claimOwnership(storeDir, owner);
  if (claim.kind !== 'acquired') throw new Error(`expected to acquire the lock, got ${claim.kind}`);
  const created = await readStoreMetadata(storeDir);
  if (created === undefined) throw new Error('no metadata after publishing');
  return { storeDir, created, release: async () => claim.lock.release() };
}

function outputs(): Parameters<typeof commitStore>[2] {
  return {
    small: { kind: 'array', value: { dtype: 'int64', shape: [3], data: new BigInt64Array([1n, 2n, 3n]) } },
    big: {
      kind: 'array',
      value: { dtype: 'float64', shape: [bigLength], data: Float64Array.from({ length: bigLength }, (_, i) => i / 2) },
    },
    note: { kind: 'json', value: { text: 'grüße', n: 1 } },
  };
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('publishing and claiming a new store', () => {
  it('writes the owner file again once the lock is taken, so it is no older than the lock', async () => {
    await primeLockClock(layout.tmp, owner);
    expect(
      await publishStore(layout, { uid, record, operation: { namespace: 'test', name: 'Op', version: '1' } }, owner),
    ).toBe('created');
    const storeDir = layout.storeDir(uid);
    // Published with an owner file naming the publisher: until the owner file is written anew, it names the holder.
    expect((await readdir(storeDir)).sort()).toEqual(['metadata.json', OWNER_FILE]);
    const staged = await stat(join(storeDir, OWNER_FILE), { bigint: true });
    const claim = await claimOwnership(storeDir, owner);
    expect(claim.kind).toBe('acquired');
    const written = await stat(join(storeDir, OWNER_FILE), { bigint: true });
    const lock = await stat(join(storeDir, 'lock'), { bigint: true });
    // The same bytes written over it in place (the same file), dated by the kernel after the lock: a dead owner's
    // lock is then provably its own.
    expect(written.ino).toBe(staged.ino);
    expect(written.mtimeNs >= lock.mtimeNs).toBe(true);
    expect(await readOwner(storeDir)).toEqual(owner);
    if (claim.kind === 'acquired') await claim.lock.release();
  });

  it('reports a store that already exists instead of replacing it', async () => {
    const info = { uid, record, operation: { namespace: 'test', name: 'Op', version: '1' } };
    expect(await publishStore(layout, info, owner)).toBe('created');
    expect(await publishStore(layout, info, owner)).toBe('exists');
    expect(await readdir(layout.tmp)).toEqual([]);
  });
});

describe('commitStore', () => {
  it('writes every artifact and commits the metadata last, leaving no temporary file', async () => {
    const { storeDir, created, release } = await publishedAndClaimed();
    let seenBeforeCommit: { names: string[]; state: string | undefined } | undefined;
    const committed = await commitStore(storeDir, created, outputs(), {
      durationMs: 5,
      beforeCommit: async () => {
        // The artifacts are in place, under their own names, while metadata.json still says `created`.
        seenBeforeCommit = {
          names: (await readdir(storeDir)).filter((n) => !n.startsWith(TEMP_PREFIX)).sort(),
          state: (await readStoreMetadata(storeDir))?.state,
        };
      },
    });
    await release();
    expect(seenBeforeCommit).toEqual({
      names: ['big.npy', 'lock', 'metadata.json', 'note.json', OWNER_FILE, 'small.npy'].sort(),
      state: 'created',
    });
    expect(committed.durationMs).toBe(5);

    const names = await readdir(storeDir);
    expect(names.filter((n) => n.startsWith(TEMP_PREFIX))).toEqual([]);
    const onDisk = await readStoreMetadata(storeDir);
    expect(isCommitted(onDisk)).toBe(true);
    expect(onDisk).toEqual(committed);
    for (const [output, entry] of Object.entries(committed.artifacts)) {
      const bytes = await readFile(join(storeDir, entry.path));
      expect(bytes.length, output).toBe(entry.size);
      expect(sha256(bytes), output).toBe(entry.sha256);
    }
    const big = decodeNpy(await readFile(join(storeDir, 'big.npy')));
    expect(big.shape).toEqual([bigLength]);
    expect(big.data[bigLength - 1]).toBe((bigLength - 1) / 2);
    expect(JSON.parse(await readFile(join(storeDir, 'note.json'), 'utf8'))).toEqual({ text: 'grüße', n: 1 });
  });

  it('leaves the store uncommitted, with no temporary file, when the commit is refused at the last moment', async () => {
    const { storeDir, created, release } = await publishedAndClaimed();
    const refusal = new Error('lost the lock');
    await expect(
      commitStore(storeDir, created, outputs(), {
        durationMs: 1,
        beforeCommit: async () => {
          throw refusal;
        },
      }),
    ).rejects.toBe(refusal);
    await release();
    expect((await readStoreMetadata(storeDir))?.state).toBe('created');
    expect((await readdir(storeDir)).filter((n) => n.startsWith(TEMP_PREFIX))).toEqual([]);
  });
});
