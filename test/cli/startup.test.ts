// The package's bin, dist/cli/bin.cjs, answers --version without loading the
// program, and the program loads a command's modules only when that command
// runs: what keeps `run-graph --version` at Node's own start-up cost and a
// no-op resume from loading the server, ajv or the worker pool.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.js';

const BIN = join(REPO_ROOT, 'dist', 'cli', 'bin.cjs');
const source = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8');
/** The modules a CommonJS source file (the bin) requires with `import x = require('...')`. */
function requires(text: string): string[] {
  return [...text.matchAll(/^import \w+ = require\('([^']+)'\);/gm)].map((match) => match[1] ?? '');
}
/** The modules a source file imports at load time (type-only imports are erased). */
function staticImports(text: string): string[] {
  return [...text.matchAll(/^import (?!type )[^;]*? from '([^']+)';/gms)].map((match) => match[1] ?? '');
}

describe('start-up', () => {
  it('the bin prints the package version and exits 0', () => {
    expect(() => accessSync(BIN, constants.X_OK), 'run `npm run build` (npm test does)').not.toThrow();
    expect(readFileSync(BIN, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    const version = (JSON.parse(source('package.json')) as { version: string }).version;
    for (const flag of ['--version', '-V']) {
      const result = spawnSync(BIN, [flag], { encoding: 'utf8' });
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toBe(`${version}\n`);
    }
  });

  it('the bin hands every other command line to the program', () => {
    const help = spawnSync(BIN, ['--help'], { encoding: 'utf8' });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('Usage: run-graph');
    const bad = spawnSync(BIN, ['run', join(REPO_ROOT, 'no-such-workflow.json')], { encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/run-graph: E_[A-Z_]+: .*no-such-workflow\.json/);
  });

  it('the bin loads nothing but Node built-ins before it knows the command', () => {
    expect(requires(source('src/cli/bin.cts')).every((name) => name.startsWith('node:'))).toBe(true);
  });

  it('the program loads no command module, server or renderer until a command runs', () => {
    const imports = staticImports(source('src/cli/main.ts'));
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter((name) => /commands\/|server\/server|graph-render/.test(name))).toEqual([]);
    expect(staticImports(source('src/cli/commands/run.ts'))).not.toContain('./serve.js');
  });
});
