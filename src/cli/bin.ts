#!/usr/bin/env node
/**
 * The package's `bin`: what `run-graph` and `npx run-graph` start. It
 * answers `--version` from package.json without loading anything else, so
 * that a version check costs Node's own start and no more. Every other
 * command line goes to the program in main.ts, which loads the modules of
 * the one command it runs: from `run-graph.cjs`, the whole CLI in one file
 * (bundle.ts), where the build made one; else from its ES modules.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const argv = process.argv.slice(2);
const BUNDLE = new URL('./run-graph.cjs', import.meta.url);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  process.stdout.write(`${pkg.version}\n`);
} else if (existsSync(BUNDLE)) {
  createRequire(import.meta.url)('./run-graph.cjs');
} else {
  await import('./main.js');
}
