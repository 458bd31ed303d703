#!/usr/bin/env node
/**
 * The `run-graph` command. Thin on purpose: parse the command line, call the
 * library, show its events, set the exit code. Every user error is one line
 * naming the problem and where it is (`--verbose` adds the stack).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { RunGraphError } from '../errors.js';
import { TOKEN_ENV } from '../server/auth.js';
import { DEFAULT_PORT } from '../server/server.js';
import { GRAPH_FORMATS } from '../views/graph-render.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { explainCommand } from './commands/explain.js';
import { gcCommand } from './commands/gc.js';
import { graphCommand } from './commands/graph.js';
import { importCommand } from './commands/import.js';
import { inspectCommand } from './commands/inspect.js';
import { remoteStatusCommand } from './commands/remote-status.js';
import { reportCommand } from './commands/report.js';
import { runCommand } from './commands/run.js';
import { serveCommand } from './commands/serve.js';
import { statusCommand } from './commands/status.js';
import { unlockCommand } from './commands/unlock.js';
import { validateCommand } from './commands/validate.js';

interface GlobalOptions {
  verbose?: boolean;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Commander argument parser for `--jobs`: a positive integer, with the value shown when it is not. */
export function parsePositiveInteger(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`expected a positive integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** Commander argument parser for `--port`: an integer from 0 to 65535. */
export function parsePort(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value > 65_535)
    throw new InvalidArgumentError(`expected a port from 0 to 65535, got ${JSON.stringify(text)}`);
  return value;
}

function buildProgram(): Command {
  const program = new Command('run-graph')
    .description(
      'Checkpointing workflow engine: run a JSON workflow in a working directory; run it again after a crash to resume.',
    )
    .version(packageVersion())
    .option('--verbose', 'print stack traces with errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  const workdirOption = (): Option =>
    new Option('-w, --workdir <dir>', 'working directory (default: <workflow>.workdir beside the workflow file)');
  const jsonOption = (what: string): Option => new Option('--json', what);
  const hostOption = (): Option =>
    new Option('--host <address>', 'address to serve on; any but a loopback one needs a token').default('127.0.0.1');
  const portOption = (): Option =>
    new Option('--port <port>', 'port to serve on (0: any free port)').default(DEFAULT_PORT).argParser(parsePort);
  const tokenOption = (): Option => new Option('--token <token>', `bearer token (default: $${TOKEN_ENV})`);

  program
    .command('run')
    .description('run a workflow; committed nodes are reused, so running it again resumes it')
    .argument('<workflow>', 'workflow JSON file')
    .addOption(workdirOption())
    .addOption(
      new Option(
        '-j, --jobs <n>',
        'most operations running at once; up to 4n nodes may be committing meanwhile (default: number of CPUs)',
      ).argParser(parsePositiveInteger),
    )
    .addOption(jsonOption('print one JSON event per line instead of progress'))
    .addOption(
      new Option('--verify', 'check every committed artifact against its sha256 before reuse (default: sizes only)'),
    )
    .addOption(
      new Option('--stale <seconds>', 'heartbeat age after which a lock held on another host is taken over')
        .default(30)
        .argParser(parsePositiveInteger),
    )
    .addOption(
      new Option('--serve', 'serve the working directory and stream live events to clients while the run lasts'),
    )
    .addOption(hostOption())
    .addOption(portOption())
    .addOption(tokenOption())
    .action(async (workflow: string, options: Parameters<typeof runCommand>[1]) => {
      process.exitCode = await runCommand(workflow, options);
    });

  program
    .command('status')
    .description('show, per node, whether it is committed, not started, incomplete or running')
    .argument('[workflow]', 'workflow JSON file (optional with --remote: the served workflow)')
    .addOption(workdirOption())
    .addOption(jsonOption('print the status as JSON'))
    .addOption(
      new Option('--remote <url>', 'ask a run-graph server (run-graph serve) instead of reading a working directory'),
    )
    .addOption(tokenOption())
    .action(
      async (
        workflow: string | undefined,
        options: Parameters<typeof statusCommand>[1] & { remote?: string; token?: string },
      ) => {
        if (options.remote !== undefined) {
          process.exitCode = await remoteStatusCommand(workflow, { ...options, remote: options.remote });
          return;
        }
        if (workflow === undefined)
          throw new RunGraphError('E_USAGE', 'status needs a workflow file (or --remote URL)');
        process.exitCode = await statusCommand(workflow, options);
      },
    );

  program
    .command('serve')
    .description('serve a working directory over HTTP (read-only unless --allow-submit) until Ctrl-C')
    .argument('[workflow]', 'workflow JSON file whose nodes are served by label (optional with --workdir)')
    .addOption(workdirOption())
    .addOption(hostOption())
    .addOption(portOption())
    .addOption(tokenOption())
    .addOption(new Option('--allow-submit', 'build records clients submit (needs a token): a shared result cache'))
    .addOption(
      new Option('--max-body <bytes>', 'largest request body accepted (default: 8 MiB)').argParser(
        parsePositiveInteger,
      ),
    )
    .addOption(jsonOption('print the address as a JSON line'))
    .action(async (workflow: string | undefined, options: Parameters<typeof serveCommand>[1]) => {
      process.exitCode = await serveCommand(workflow, options);
    });

  program
    .command('validate')
    .description('check a workflow (schema, references, cycles, input types and shapes) without running anything')
    .argument('<workflow>', 'workflow JSON file')
    .addOption(jsonOption('print the checked nodes and their uids as JSON'))
    .action(async (workflow: string, options: Parameters<typeof validateCommand>[1]) => {
      process.exitCode = await validateCommand(workflow, options);
    });

  program
    .command('unlock')
    .description('list store locks; remove those whose owners are provably dead; --force removes a named one')
    .option('-w, --workdir <dir>', 'working directory', '.')
    .option('--force <uid...>', 'remove the lock of these stores whoever holds it')
    .addOption(jsonOption('print the locks as JSON'))
    .action(async (options: Parameters<typeof unlockCommand>[0]) => {
      process.exitCode = await unlockCommand(options);
    });

  program
    .command('explain')
    .description('say why a node will run or is reused: what changed since the closest existing store, field by field')
    .argument('<workflow>', 'workflow JSON file')
    .argument('<label>', 'the node to explain')
    .addOption(workdirOption())
    .addOption(jsonOption('print the explanation as JSON'))
    .action(async (workflow: string, label: string, options: Parameters<typeof explainCommand>[2]) => {
      process.exitCode = await explainCommand(workflow, label, options);
    });

  program
    .command('report')
    .description('write the web view of a working directory (finished or running) as one self-contained HTML file')
    .argument('<workflow>', 'workflow JSON file')
    .addOption(workdirOption())
    .requiredOption('-o, --output <file>', 'the HTML file to write (replaced atomically)')
    .action(async (workflow: string, options: Parameters<typeof reportCommand>[1]) => {
      process.exitCode = await reportCommand(workflow, options);
    });

  program
    .command('inspect')
    .description('show one store: operation, version, state, timings, owner, artifacts with a preview of their values')
    .argument('<target>', 'a node label (with --workflow), a uid, or a unique uid prefix')
    .addOption(new Option('-w, --workdir <dir>', 'working directory (default: that of --workflow)'))
    .addOption(new Option('--workflow <file>', 'workflow whose labels the target may name'))
    .addOption(
      new Option(
        '--remote <url>',
        'inspect through a run-graph server (run-graph serve); labels may be those of the served workflow',
      ),
    )
    .addOption(tokenOption())
    .addOption(jsonOption('print the store as JSON'))
    .action(async (target: string, options: Parameters<typeof inspectCommand>[1]) => {
      process.exitCode = await inspectCommand(target, options);
    });

  program
    .command('graph')
    .description(
      'print the workflow as a Mermaid or Graphviz DOT graph, nodes coloured by state when there is a working directory',
    )
    .argument('<workflow>', 'workflow JSON file')
    .addOption(new Option('-f, --format <format>', 'output format').choices([...GRAPH_FORMATS]).default('mermaid'))
    .addOption(workdirOption())
    .action(async (workflow: string, options: Parameters<typeof graphCommand>[1]) => {
      process.exitCode = await graphCommand(workflow, options);
    });

  program
    .command('gc')
    .description(
      'list the stores no kept workflow reaches and the space they take; delete them with --yes (never a store a live process holds)',
    )
    .requiredOption('-k, --keep <workflow...>', 'workflows whose stores are kept')
    .addOption(new Option('-w, --workdir <dir>', 'working directory (default: that of the first --keep workflow)'))
    .addOption(new Option('-y, --yes', 'delete the unreachable stores (default: only list them)'))
    .addOption(
      new Option('--stale <seconds>', 'heartbeat age after which a lock held on another host is taken over')
        .default(30)
        .argParser(parsePositiveInteger),
    )
    .addOption(jsonOption('print the stores (and what was deleted) as JSON'))
    .action(async (options: Parameters<typeof gcCommand>[0]) => {
      process.exitCode = await gcCommand(options);
    });

  program
    .command('import')
    .description(
      'check a SCALE-MS scalems_workflow_1 document (its declared uids must match) and print it as a run-graph workflow',
    )
    .argument('<document>', 'SCALE-MS workflow document (JSON)')
    .addOption(new Option('-o, --output <file>', 'write the workflow to this file instead of stdout'))
    .action(async (document: string, options: Parameters<typeof importCommand>[1]) => {
      process.exitCode = await importCommand(document, options);
    });

  return program;
}

/** Print an error as one line (JSON too with --json) and return its exit code. */
function reportError(error: unknown, verbose: boolean, json: boolean): number {
  if (error instanceof RunGraphError) {
    if (json) process.stdout.write(`${JSON.stringify({ type: 'error', error: error.toJSON() })}\n`);
    process.stderr.write(`run-graph: ${error.code}: ${error.describe()}\n`);
    if (verbose && error.stack !== undefined) process.stderr.write(`${error.stack}\n`);
    return exitCodeFor(error.code);
  }
  process.stderr.write(
    `run-graph: internal error (a bug in run-graph, please report it): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  return EXIT.internal;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not errors; commander already printed them.
      return error.exitCode === 0 ? EXIT.ok : EXIT.badInput;
    }
    const verbose = (program.opts() as GlobalOptions).verbose === true || argv.includes('--verbose');
    return reportError(error, verbose, argv.includes('--json'));
  }
}

// A reader that stops early (`run-graph status | head`) is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok);
  throw error;
});

process.exitCode = await main(process.argv.slice(2));
