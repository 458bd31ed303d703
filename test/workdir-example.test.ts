// workdir.example/ is the working directory examples/quickstart.json
// produces, committed to the repository. This test runs quickstart afresh and
// proves the committed copy has the same stores, the same artifact bytes and
// the same records, so it cannot drift from the code.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, REPO_ROOT } from './support/cli.js';

const example = join(REPO_ROOT, 'workdir.example');
const fresh = mkdtempSync(join(tmpdir(), 'run-graph-example-'));

afterAll(() => rmSync(fresh, { recursive: true, force: true }));

/** Store directories and, per store, its file names. */
function storeListing(workdir: string): Map<string, string[]> {
  const stores = readdirSync(workdir).filter((name) => /^[0-9a-f]{64}$/.test(name));
  return new Map(stores.map((uid) => [uid, readdirSync(join(workdir, uid)).sort()]));
}

/** metadata.json without the fields that record when and how long. */
function timelessMetadata(path: string): unknown {
  const {
    createdAt: _c,
    committedAt: _t,
    durationMs: _d,
    usage,
    ...rest
  } = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  // What a command used is sampled while it runs, not reproduced: a command done before the first sample
  // records none. So usage is not compared, only checked to be well formed where it is there.
  if (usage !== undefined) {
    // The CPU times always, the peak memory when /proc could be read (else null).
    const { cpuUserMs, cpuSystemMs, maxRssBytes } = usage as Record<string, unknown>;
    expect([typeof cpuUserMs, typeof cpuSystemMs]).toEqual(['number', 'number']);
    expect(maxRssBytes === null || typeof maxRssBytes === 'number').toBe(true);
  }
  return rest;
}

describe('workdir.example', () => {
  it('is what a fresh run of examples/quickstart.json produces', () => {
    expect(existsSync(CLI), 'dist/cli/bin.cjs is missing: run `npm run build` (npm test does)').toBe(true);
    const result = spawnSync(
      process.execPath,
      [CLI, 'run', join(REPO_ROOT, 'examples', 'quickstart.json'), '--workdir', fresh],
      { encoding: 'utf8' },
    );
    expect(result.status, result.stderr).toBe(0);

    const expected = storeListing(example);
    const actual = storeListing(fresh);
    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
    expect(expected.has('266bb4e33dfb7be89c04735cebe31cae8d7714243ccb9d137a1a37a46a645365')).toBe(true);

    for (const [uid, files] of expected) {
      expect(actual.get(uid), `files of store ${uid}`).toEqual(files);
      for (const file of files) {
        const committed = join(example, uid, file);
        const made = join(fresh, uid, file);
        if (file === 'metadata.json') {
          expect(timelessMetadata(made), `${uid}/metadata.json`).toEqual(timelessMetadata(committed));
        } else {
          expect(readFileSync(made).equals(readFileSync(committed)), `${uid}/${file} differs`).toBe(true);
        }
      }
    }
  });
});
