#!/usr/bin/env node
/**
 * The `run-graph` command. Thin on purpose: parse the command line, call the
 * library, show its events, set the exit code. Every user error is one line
 * naming the problem and where it is (`--verbose` adds the stack).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { RunGraphError } from '../errors.js';
import { DEFAULT_PORT } from '../server/defaults.js';
import { GRAPH_FORMATS } from '../views/graph-formats.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { addResourceOptions } from './resource-options.js';
import { settleToken, tokenFileOption, tokenOption } from './token-option.js';
import type { explainCommand } from './commands/explain.js';
import type { gcCommand } from './commands/gc.js';
import type { graphCommand } from './commands/graph.js';
import type { importCommand } from './commands/import.js';
import type { inspectCommand } from './commands/inspect.js';
import type { runCommand } from './commands/run.js';
import type { serveCommand } from './commands/serve.js';
import type { statusCommand } from './commands/status.js';
import type { unlockCommand } from './commands/unlock.js';
import type { validateCommand } from './commands/validate.js';
import type { slurmJobCommand } from './commands/slurm-job.js';
import type { logsCommand } from './commands/logs.js';
import type { publishCommand } from './commands/publish.js';
import type { reportCommand } from './commands/report.js';

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
    .exitOverride()
    .hook('preAction', (_program, command) => settleToken(command));

  const workdirOption = (): Option =>
    new Option('-w, --workdir <dir>', 'working directory (default: <workflow>.workdir beside the workflow file)');
  const jsonOption = (what: string): Option => new Option('--json', what);
  const hostOption = (): Option =>
    new Option('--host <address>', 'address to serve on; any but a loopback one needs a token').default('127.0.0.1');
  const portOption = (): Option =>
    new Option('--port <port>', 'port to serve on (0: any free port)').default(DEFAULT_PORT).argParser(parsePort);
  const publishDirOption = (): Option =>
    new Option(
      '--publish-dir <dir>',
      'root of the paths in the workflow\'s "publish" section (default: the workflow file\'s directory)',
    );

  addResourceOptions(program.command('run'))
    .description('run a workflow; committed nodes are reused, so running it again resumes it')
    .argument('<workflow>', 'workflow JSON file')
    .argument('[targets...]', 'labels to run, with what they need (default: every node)')
    .addOption(workdirOption())
    .addOption(
      new Option(
        '--force <label...>',
        'run these nodes again even if committed (the old store is kept until the new one commits)',
      ),
    )
    .addOption(new Option('--force-downstream <label...>', 'run these nodes and everything downstream of them again'))
    .addOption(new Option('-n, --dry-run', 'print what would run and why; write nothing'))
    .addOption(
      new Option(
        '--gpus <devices>',
        'the GPUs nodes may take: a count, or device ids such as 0,1 (default: CUDA_VISIBLE_DEVICES, else nvidia-smi)',
      ),
    )
    .addOption(
      new Option(
        '--retries <n>',
        'extra attempts for a failed node that sets none itself (nor its operation): above the workflow\'s "defaults"',
      ),
    )
    .addOption(
      new Option(
        '--fail-fast',
        'after the first node that fails for good, start no other node (those running finish); default: every node not downstream of a failure runs',
      ),
    )
    .addOption(publishDirOption())
    .addOption(
      new Option(
        '-j, --jobs <n>',
        'most operations running at once; up to 4n nodes may be committing meanwhile (default: the cores)',
      ).argParser(parsePositiveInteger),
    )
    .addOption(
      new Option(
        '--cores <n>',
        "cores the nodes' cpus share (default: --jobs if given, else what this process may use: Slurm's allocation or its CPU affinity)",
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
    .addOption(tokenFileOption())
    .addOption(
      new Option('--executor <name>', 'where nodes run: local, or slurm (submit each ready node as a Slurm job)')
        .choices(['local', 'slurm'])
        .default('local'),
    )
    .addOption(
      new Option('--max-jobs <n>', 'slurm: most jobs of this run pending or running at once (default 100)').argParser(
        parsePositiveInteger,
      ),
    )
    .addOption(
      new Option(
        '--group-size <n>',
        'slurm: nodes per job (default: the ready nodes of a resource class spread over the free job slots)',
      ).argParser(parsePositiveInteger),
    )
    .addOption(
      new Option('--poll <seconds>', 'slurm: longest interval between two looks at the queue (default 15)').argParser(
        parsePositiveInteger,
      ),
    )
    .addOption(
      new Option(
        '--sbatch-option <option...>',
        'slurm: extra sbatch options for every job, e.g. --sbatch-option=--exclusive',
      ),
    )
    .action(async (workflow: string, targets: string[], options: Parameters<typeof runCommand>[2]) => {
      const { runCommand } = await import('./commands/run.js');
      process.exitCode = await runCommand(workflow, targets, options);
    });

  program
    .command('publish')
    .description(
      "put the workflow's published outputs at their paths again, from committed stores alone; say which are not committed",
    )
    .argument('<workflow>', 'workflow JSON file')
    .addOption(workdirOption())
    .addOption(publishDirOption())
    .addOption(jsonOption('print what was published as JSON'))
    .action(async (workflow: string, options: Parameters<typeof publishCommand>[1]) => {
      const { publishCommand } = await import('./commands/publish.js');
      process.exitCode = await publishCommand(workflow, options);
    });

  program
    .command('slurm-job', { hidden: true })
    .description('build the nodes of one Slurm submission (what the jobs of run --executor slurm run)')
    .argument('<workflow>', 'workflow JSON file')
    .requiredOption('-w, --workdir <dir>', 'working directory')
    .requiredOption('--submission <name>', 'the submission record under <workdir>/slurm/')
    .addOption(
      new Option('-j, --jobs <n>', 'operations at once (default: what the job may use)').argParser(
        parsePositiveInteger,
      ),
    )
    .addOption(new Option('--stale <seconds>', 'lock heartbeat age').default(30).argParser(parsePositiveInteger))
    .action(async (workflow: string, options: Parameters<typeof slurmJobCommand>[1]) => {
      const { slurmJobCommand } = await import('./commands/slurm-job.js');
      process.exitCode = await slurmJobCommand(workflow, options);
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
    .addOption(tokenFileOption())
    .action(
      async (
        workflow: string | undefined,
        options: Parameters<typeof statusCommand>[1] & { remote?: string; token?: string },
      ) => {
        if (options.remote !== undefined) {
          const { remoteStatusCommand } = await import('./commands/remote-status.js');
          process.exitCode = await remoteStatusCommand(workflow, { ...options, remote: options.remote });
          return;
        }
        if (workflow === undefined)
          throw new RunGraphError('E_USAGE', 'status needs a workflow file (or --remote URL)');
        const { statusCommand } = await import('./commands/status.js');
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
    .addOption(tokenFileOption())
    .addOption(new Option('--allow-submit', 'build records clients submit (needs a token): a shared result cache'))
    .addOption(
      new Option('--max-body <bytes>', 'largest request body accepted (default: 1 MiB)').argParser(
        parsePositiveInteger,
      ),
    )
    .addOption(
      new Option(
        '--submit-quota <bytes>',
        'disk the stores built for clients may take; past it submissions get 507 (default: no quota)',
      ).argParser(parsePositiveInteger),
    )
    .addOption(new Option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain); needs --tls-key'))
    .addOption(new Option('--tls-key <file>', 'PEM private key of --tls-cert'))
    .addOption(
      new Option(
        '--max-connections <n>',
        'connections held open at once; more are answered 503 (default: 512)',
      ).argParser(parsePositiveInteger),
    )
    .addOption(jsonOption('print the address as a JSON line'))
    .action(async (workflow: string | undefined, options: Parameters<typeof serveCommand>[1]) => {
      const { serveCommand } = await import('./commands/serve.js');
      process.exitCode = await serveCommand(workflow, options);
    });

  addResourceOptions(program.command('validate'))
    .description('check a workflow (schema, references, cycles, input types and shapes) without running anything')
    .argument('<workflow>', 'workflow JSON file')
    .addOption(jsonOption('print the checked nodes and their uids as JSON'))
    .action(async (workflow: string, options: Parameters<typeof validateCommand>[1]) => {
      const { validateCommand } = await import('./commands/validate.js');
      process.exitCode = await validateCommand(workflow, options);
    });

  program
    .command('unlock')
    .description('list store locks; remove those whose owners are provably dead; --force removes a named one')
    .option('-w, --workdir <dir>', 'working directory', '.')
    .option('--force <uid...>', 'remove the lock of these stores whoever holds it')
    .addOption(jsonOption('print the locks as JSON'))
    .action(async (options: Parameters<typeof unlockCommand>[0]) => {
      const { unlockCommand } = await import('./commands/unlock.js');
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
      const { explainCommand } = await import('./commands/explain.js');
      process.exitCode = await explainCommand(workflow, label, options);
    });

  program
    .command('logs')
    .description(
      "print a node's stdout and stderr: of its latest attempt (committed, running or failed), or of --attempt N",
    )
    .argument('<workflow>', 'workflow JSON file')
    .argument('<label>', 'the node')
    .addOption(workdirOption())
    .addOption(new Option('--attempt <n>', 'the attempt, by number (`status` and `explain` show them)'))
    .addOption(new Option('--stdout', 'print its stdout only, as it is'))
    .addOption(new Option('--stderr', 'print its stderr only, as it is'))
    .action(async (workflow: string, label: string, options: Parameters<typeof logsCommand>[2]) => {
      const { logsCommand } = await import('./commands/logs.js');
      process.exitCode = await logsCommand(workflow, label, options);
    });

  program
    .command('report')
    .description('write the web view of a working directory (finished or running) as one self-contained HTML file')
    .argument('<workflow>', 'workflow JSON file')
    .addOption(workdirOption())
    .requiredOption('-o, --output <file>', 'the HTML file to write (replaced atomically)')
    .action(async (workflow: string, options: Parameters<typeof reportCommand>[1]) => {
      const { reportCommand } = await import('./commands/report.js');
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
    .addOption(tokenFileOption())
    .addOption(jsonOption('print the store as JSON'))
    .action(async (target: string, options: Parameters<typeof inspectCommand>[1]) => {
      const { inspectCommand } = await import('./commands/inspect.js');
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
      const { graphCommand } = await import('./commands/graph.js');
      process.exitCode = await graphCommand(workflow, options);
    });

  program
    .command('gc')
    .description(
      'list the stores no kept workflow reaches and the space they take; delete them with --yes (never a store a live process holds)',
    )
    // Not requiredOption: its absence is reported as every run-graph error is (E_USAGE), not in commander's words.
    .option('-k, --keep <workflow...>', 'workflows whose stores are kept (required)')
    .addOption(
      new Option(
        '--keep-quarantine <age>',
        'with --yes, keep quarantined stores younger than this (7d, 12h, 30m, seconds; default: delete all)',
      ),
    )
    .addOption(new Option('-w, --workdir <dir>', 'working directory (default: that of the first --keep workflow)'))
    .addOption(new Option('-y, --yes', 'delete the unreachable stores (default: only list them)'))
    .addOption(
      new Option('--stale <seconds>', 'heartbeat age after which a lock held on another host is taken over')
        .default(30)
        .argParser(parsePositiveInteger),
    )
    .addOption(jsonOption('print the stores (and what was deleted) as JSON'))
    .action(async (options: Parameters<typeof gcCommand>[0]) => {
      const { gcCommand } = await import('./commands/gc.js');
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
      const { importCommand } = await import('./commands/import.js');
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

// Not a top-level await: the CLI is also bundled into one CommonJS file (bundle.ts).
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
