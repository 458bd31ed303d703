/**
 * Where a bearer token comes from: `--token-file <path>` (first line of the
 * file), `$RUN_GRAPH_TOKEN`, or `--token <token>`. The last one is accepted
 * but warned about: a command line is visible to every user of the machine
 * in `ps` and /proc.
 */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { RunGraphError } from '../errors.js';
import { TOKEN_ENV } from '../server/auth.js';

/** `--token`, which every command that takes a token adds together with `tokenFileOption()`. */
export function tokenOption(): Option {
  return new Option('--token <token>', `bearer token (visible in ps: prefer --token-file or $${TOKEN_ENV})`);
}

export function tokenFileOption(): Option {
  return new Option('--token-file <path>', `file whose first line is the bearer token (default: $${TOKEN_ENV})`);
}

/** The first line of a token file, or E_USAGE naming the file. */
function readTokenFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new RunGraphError('E_USAGE', `cannot read the token file ${JSON.stringify(path)}: ${String(error)}`, {
      value: path,
      cause: error,
    });
  }
  const token = (text.split(/\r?\n/)[0] ?? '').trim();
  if (token === '')
    throw new RunGraphError('E_USAGE', `the token file ${JSON.stringify(path)} is empty`, {
      value: path,
      hint: 'write one with `openssl rand -hex 24 > token.txt`',
    });
  return token;
}

/**
 * Settle `--token` of the command about to run: read `--token-file`, else
 * take `$RUN_GRAPH_TOKEN`, and warn on stderr if the token was typed on the
 * command line. Commands then read `options.token` alone.
 */
export function settleToken(command: Command): void {
  const options = command.opts<{ token?: string; tokenFile?: string }>();
  if (!command.options.some((option) => option.long === '--token-file')) return;
  if (options.token !== undefined && options.tokenFile !== undefined)
    throw new RunGraphError('E_USAGE', 'give --token or --token-file, not both');
  if (options.token !== undefined) {
    process.stderr.write(
      `run-graph: warning: --token on the command line is visible to every user of this machine (ps, /proc); use --token-file <path> or $${TOKEN_ENV}\n`,
    );
    return;
  }
  const token = options.tokenFile !== undefined ? readTokenFile(options.tokenFile) : process.env[TOKEN_ENV];
  if (token !== undefined && token !== '') command.setOptionValue('token', token);
}
