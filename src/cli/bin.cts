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
 *
 * The bundle is compiled with V8's code cache, `run-graph.cjs.cache`, which
 * the build writes: V8 then reads the compiled code of what the build's run
 * of the CLI compiled instead of compiling it again. V8 refuses a cache made
 * from other source, by another version of Node or with other V8 flags, and
 * the bundle is then compiled as without one (`NODE_DEBUG=run-graph` says
 * which). The cache is not in the package (it fits one build of Node only):
 * what `npm install` of a checkout builds has one.
 */
import fs = require('node:fs');
import nodeModule = require('node:module');
import path = require('node:path');
import util = require('node:util');
import vm = require('node:vm');

const argv = process.argv.slice(2);
const BUNDLE = path.join(__dirname, 'run-graph.cjs');
const CACHE = `${BUNDLE}.cache`;
/** Set by the build alone (bundle.ts): write the code cache of the bundle as this process leaves. */
const WRITE_CACHE = process.env['RUN_GRAPH_WRITE_CODE_CACHE'] === '1';
const debug = util.debuglog('run-graph');

/**
 * Run the bundle as Node runs a CommonJS module, compiled with the code
 * cache when V8 accepts it. Its dynamic imports (an operation module,
 * piscina) call `__dynamicImport`: this file's import(), for code compiled
 * from a cache cannot make one itself on Node 20.
 */
function runBundle(): void {
  const source = fs.readFileSync(BUNDLE, 'utf8').replace(/^#!.*/, '');
  const cachedData = !WRITE_CACHE && fs.existsSync(CACHE) ? fs.readFileSync(CACHE) : undefined;
  const script = new vm.Script(
    `(function (exports, require, module, __filename, __dirname, __dynamicImport) {${source}\n})`,
    cachedData === undefined ? { filename: BUNDLE } : { filename: BUNDLE, cachedData },
  );
  if (cachedData !== undefined)
    debug(`code cache ${script.cachedDataRejected === true ? 'refused' : 'used'}: ${CACHE}`);
  if (WRITE_CACHE)
    process.once('exit', () => {
      fs.writeFileSync(`${CACHE}.tmp`, script.createCachedData());
      fs.renameSync(`${CACHE}.tmp`, CACHE);
    });
  const bundle = { exports: {} };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  const dynamicImport = (specifier: string): Promise<unknown> => import(specifier);
  wrapper.call(
    bundle.exports,
    bundle.exports,
    nodeModule.createRequire(BUNDLE),
    bundle,
    BUNDLE,
    __dirname,
    dynamicImport,
  );
}

if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  process.stdout.write(`${pkg.version}\n`);
} else if (fs.existsSync(BUNDLE)) {
  runBundle();
} else {
  void import('./main.js');
}
