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
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, transform, type Plugin } from 'esbuild';

const CLI_DIR = dirname(fileURLToPath(import.meta.url));
export const BUNDLE_FILE = join(CLI_DIR, 'run-graph.cjs');

/** `import.meta.url` of each bundled module: the URL of its file in dist/, relative to the bundle's folder. */
const moduleUrlPlugin: Plugin = {
  name: 'module-url',
  setup(builder) {
    builder.onLoad({ filter: /\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url') || args.path.includes(`${sep}node_modules${sep}`)) return undefined;
      const fromBundle = relative(CLI_DIR, args.path).split(sep).join('/');
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
      return { contents: code.slice(0, body) + declaration + code.slice(body), loader: 'js' };
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
  plugins: [moduleUrlPlugin],
  logLevel: 'warning',
});
console.log(`bundled the CLI into ${relative(process.cwd(), BUNDLE_FILE)}`);
