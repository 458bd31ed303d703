/**
 * Build step (`npm run build` runs it after tsc): the CLI as one CommonJS
 * file, `dist/cli/run-graph.cjs`, which the package's bin loads.
 *
 * Run from its ~150 ES modules, a command spends some 50-60 ms of CPU in
 * Node's ES module loader (resolving, reading, compiling and linking each
 * file) before it does anything; one file costs a fraction of that. The
 * bundle is made from tsc's output in dist/, so it is that code and nothing
 * else, and each module keeps its own place: `import.meta.url` in a bundled
 * module is the URL of its file in dist/, so that package.json, the schemas,
 * the precompiled validators, the worker and watchdog scripts, the web
 * assets and the module URL of every built-in operation (which a worker
 * thread imports) are found where they always were. Commands stay lazy: a
 * module imported with `await import()` runs only when a command needs it.
 *
 * Not bundled: piscina (it starts workers from files of its own) and what is
 * loaded with `createRequire` at run time (ajv, lossless-json, the
 * precompiled validators), each loaded only by the commands that need it.
 *
 * Then V8's code cache of the bundle, `run-graph.cjs.cache`, which the bin
 * compiles it with: some 15 ms of CPU of every command not spent compiling.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, transform, type Plugin } from 'esbuild';

const CLI_DIR = dirname(fileURLToPath(import.meta.url));
export const BUNDLE_FILE = join(CLI_DIR, 'run-graph.cjs');

/**
 * A dynamic import esbuild cannot resolve at build time: of an operation
 * module, or of piscina; not the `import('./commands/x.js')` of main.js,
 * which are bundled.
 */
const RUNTIME_IMPORT = /(?<![\w$.])import\s*\((?!\s*['"`]\.{1,2}\/)/g;
/** The same, once esbuild has lowered each import() call into a require (see runtimeImportsRedirected). */
const LOWERED_RUNTIME_IMPORT = /__toESM\(require\((?!\s*['"`]\.{1,2}\/)/g;

/**
 * The text of a module with each dynamic import that is left for run time
 * calling `__dynamicImport` instead, which the bin passes in: code compiled
 * with V8's code cache cannot call import() on Node 20 (vm.Script loses
 * the callback a cached script needs for it), and the bin compiles the
 * bundle so. esbuild's parser, which lowers each real import() call into a
 * require, checks the count: an "import(" in a string or a comment would
 * make the counts differ, and the build stops instead of changing it.
 */
async function runtimeImportsRedirected(text: string, path: string): Promise<string> {
  const found = text.match(RUNTIME_IMPORT)?.length ?? 0;
  if (found === 0) return text;
  const { code } = await transform(text, { loader: 'js', format: 'esm', supported: { 'dynamic-import': false } });
  const calls = code.match(LOWERED_RUNTIME_IMPORT)?.length ?? 0;
  if (calls !== found)
    throw new Error(`${path}: ${found} "import(" in its text but ${calls} import() calls; cannot redirect them`);
  return text.replace(RUNTIME_IMPORT, '__dynamicImport(');
}

/**
 * `import.meta.url` of a bundled module: the URL of its file in dist/,
 * relative to the bundle's folder.
 */
async function moduleUrlKept(text: string, path: string): Promise<string> {
  if (!text.includes('import.meta.url')) return text;
  const fromBundle = relative(CLI_DIR, path).split(sep).join('/');
  // esbuild's define replaces the expression only, never text in a string or a comment.
  const { code } = await transform(text, {
    loader: 'js',
    format: 'esm',
    target: 'node20',
    define: { 'import.meta.url': '__moduleUrl' },
  });
  const declaration = `const __moduleUrl = require('node:url').pathToFileURL(require('node:path').join(__dirname, ${JSON.stringify(fromBundle)})).href;\n`;
  // After a hashbang line, which must stay first.
  const body = code.startsWith('#!') ? code.indexOf('\n') + 1 : 0;
  return code.slice(0, body) + declaration + code.slice(body);
}

/** Each of run-graph's modules as the bundle holds it. */
const distModulesPlugin: Plugin = {
  name: 'dist-modules',
  setup(builder) {
    builder.onLoad({ filter: /\.js$/ }, async (args) => {
      if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
      const text = await readFile(args.path, 'utf8');
      return {
        contents: await moduleUrlKept(await runtimeImportsRedirected(text, args.path), args.path),
        loader: 'js',
      };
    });
  },
};

await build({
  entryPoints: [join(CLI_DIR, 'main.js')],
  outfile: BUNDLE_FILE,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // No keepNames: its __name() call on every function made, closures in loops too, cost more than a resume's
  // reporting. esbuild renames only a name that two modules declare at their top level (none of run-graph's classes);
  // the bundle's own errors and values are recognised with instanceof, another copy's by their names, kept there.
  external: ['piscina'],
  plugins: [distModulesPlugin],
  logLevel: 'warning',
});

// The code cache the bin compiles the bundle with (see bin.cts): what a dry run of the quickstart compiles (loading a
// workflow, building its graph, planning the run), written by the bin itself so that it matches how the bin compiles.
// Without NODE_OPTIONS, whose V8 flags would make V8 refuse the cache to a plain `node`.
const CACHE_FILE = `${BUNDLE_FILE}.cache`;
rmSync(CACHE_FILE, { force: true });
const { NODE_OPTIONS: _ignored, ...env } = process.env;
const primed = spawnSync(
  process.execPath,
  [join(CLI_DIR, 'bin.cjs'), 'run', join(CLI_DIR, '..', '..', 'examples', 'quickstart.json'), '--dry-run'],
  { env: { ...env, RUN_GRAPH_WRITE_CODE_CACHE: '1' }, stdio: ['ignore', 'ignore', 'inherit'] },
);
const cached = primed.status === 0 && existsSync(CACHE_FILE);
if (!cached) console.warn(`no code cache for the bundle: the dry run ended with ${primed.status ?? primed.signal}`);
console.log(`bundled the CLI into ${relative(process.cwd(), BUNDLE_FILE)}${cached ? ', with its code cache' : ''}`);
