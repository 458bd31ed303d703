#!/usr/bin/env node
/**
 * The package's `bin`: what `run-graph` and `npx run-graph` start. A
 * CommonJS file, so that Node starts it without setting up its ES module
 * loader, which costs a `--version` some 7 ms of CPU. It answers `--version`
 * from package.json without loading anything else, so that a version check
 * costs Node's own start and no more. Every other command line goes to the
 * program in main.ts, which loads the modules of the one command it runs:
 * from `run-graph.cjs`, the whole CLI in one file (bundle.ts), where the
 * build made one; else from its ES modules.
 */
import fs = require('node:fs');
import path = require('node:path');

const argv = process.argv.slice(2);
const BUNDLE = path.join(__dirname, 'run-graph.cjs');
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  process.stdout.write(`${pkg.version}\n`);
} else if (fs.existsSync(BUNDLE)) {
  require(BUNDLE);
} else {
  void import('./main.js');
}
