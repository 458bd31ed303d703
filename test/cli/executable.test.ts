// The README's first command is `npm install && npx run-graph run ...`: npx
// runs the package's bin, dist/cli/bin.js, which hands over to the program,
// dist/cli/main.js; the build must leave both executable with their
// `#!/usr/bin/env node` line (the bin itself: startup.test.ts).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI } from '../support/cli.js';

describe('the built run-graph program', () => {
  it('is executable and runs by itself, as npx runs it', () => {
    expect(() => accessSync(CLI, constants.X_OK), 'run `npm run build` (npm test does)').not.toThrow();
    expect(readFileSync(CLI, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    const help = spawnSync(CLI, ['--help'], { encoding: 'utf8' });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain('run-graph');
  });
});
