// The README's first command is `npm install && npx run-graph run ...`: npx
// runs the package's bin, dist/cli/bin.cjs, which hands over to the program,
// bundled (bundle.test.ts) or as ES modules from dist/cli/main.js, which is
// also what Slurm jobs run; the build must leave both executable with their
// `#!/usr/bin/env node` line (the bin itself: startup.test.ts).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.js';

/** The program the bin hands over to when there is no bundle, and what Slurm jobs run. */
const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');

describe('the built run-graph program', () => {
  it('is executable and runs by itself, as npx runs it', () => {
    expect(() => accessSync(CLI, constants.X_OK), 'run `npm run build` (npm test does)').not.toThrow();
    expect(readFileSync(CLI, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    const help = spawnSync(CLI, ['--help'], { encoding: 'utf8' });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('run-graph');
  });
});
