#!/usr/bin/env node
/**
 * The `run-graph` command. Thin on purpose: parse the command line, call the
 * library, show its events, set the exit code. Every user error is one line
 * naming the problem and where it is (`--verbose` adds the stack).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { RunGraphError } from '../errors.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { runCommand } from './commands/run.js';
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

function buildProgram(): Command {
  const program = new Command('run-graph')
    .description('Checkpointing workflow engine: run a JSON workflow in a working directory; run it again after a crash to resume.')
    .version(packageVersion())
    .option('--verbose', 'print stack traces with errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  const workdirOption = (): Option => new Option('-w, --workdir <dir>', 'working directory (default: <workflow>.workdir beside the workflow file)');
  const jsonOption = (what: string): Option => new Option('--json', what);

  program
    .command('run')
    .description('run a workflow; committed nodes are reused, so running it again resumes it')
    .argument('<workflow>', 'workflow JSON file')
    .addOption(workdirOption())
    .addOption(new Option('-j, --jobs <n>', 'most nodes running at once (default: number of CPUs)').argParser(parsePositiveInteger))
    .addOption(jsonOption('print one JSON event per line instead of progress'))
    .addOption(new Option('--verify', 'check every committed artifact against its sha256 before reuse (default: sizes only)'))
    .addOption(new Option('--stale <seconds>', 'heartbeat age after which a lock held on another host is taken over').default(30).argParser(parsePositiveInteger))
    .action(async (workflow: string, options: Parameters<typeof runCommand>[1]) => {
      process.exitCode = await runCommand(workflow, options);
    });

  program
    .command('status')
    .description('show, per node, whether it is committed, not started, incomplete or running')
    .argument('<workflow>', 'workflow JSON file')
    .addOption(workdirOption())
    .addOption(jsonOption('print the status as JSON'))
    .action(async (workflow: string, options: Parameters<typeof statusCommand>[1]) => {
      process.exitCode = await statusCommand(workflow, options);
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
  process.stderr.write(`run-graph: internal error (a bug in run-graph, please report it): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
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
