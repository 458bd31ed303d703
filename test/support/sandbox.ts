/**
 * Fresh temporary folders for tests, and the small file helpers the tests
 * share. Nothing a test writes lands in the checkout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** A fresh temp folder for one test (or one file of tests), removed by `cleanup()`. */
export interface Sandbox {
  readonly dir: string;
  /** Absolute path of a name inside the sandbox. */
  path(...parts: string[]): string;
  /** Write a file inside the sandbox (JSON, as `writeJson` does, for anything but a string) and return its path. */
  write(name: string, content: string | object): Promise<string>;
  cleanup(): Promise<void>;
}

export async function createSandbox(): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), 'run-graph-test-'));
  const path = (...parts: string[]): string => join(dir, ...parts);
  return {
    dir,
    path,
    async write(name, content) {
      if (typeof content !== 'string') return writeJson(path(name), content);
      await writeFile(path(name), content);
      return path(name);
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * For test files that make folders synchronously: returns a function making
 * a fresh temp folder at each call; all of them are removed after the file's
 * tests. Call it once, at the top level of a test file.
 */
export function tempDirsRemovedAfterAll(): () => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), 'run-graph-test-'));
    dirs.push(dir);
    return dir;
  };
}

/** Write `value` to `path` as indented JSON with a final newline (a workflow, or anything for bad-input tests); returns the path. */
export async function writeJson(path: string, value: unknown): Promise<string> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
  return path;
}

/** Whether a path exists (file or directory). */
export async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}
