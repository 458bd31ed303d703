#!/usr/bin/env node
/**
 * The package's `bin`: what `run-graph` and `npx run-graph` start. It
 * answers `--version` from package.json without loading anything else, so
 * that a version check costs Node's own start and no more; every other
 * command line goes to the program in main.ts, which loads the modules of
 * the one command it runs.
 */
import { readFileSync } from 'node:fs';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  process.stdout.write(`${pkg.version}\n`);
} else {
  await import('./main.js');
}
