/**
 * The CLI on a pseudo-terminal, and what the terminal shows at the end.
 * `script` (util-linux) gives the child a real TTY, so the CLI picks its
 * progress bar as it does for a person; `finalScreen` replays the bytes as
 * a terminal would (carriage return, erase line, newline) to see what is
 * left on screen once the command exits, the status line included if it
 * was never cleared.
 */
import { spawn, spawnSync } from 'node:child_process';
import { CLI, requireBuiltCli } from './cli.js';

/** Whether `script` from util-linux is here to give the CLI a pseudo-terminal. */
export function hasScript(): boolean {
  return spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Run `run-graph ...args` on a 100-column pseudo-terminal; the raw bytes it wrote (stdout and stderr both) and its exit code. */
export function runInTerminal(args: readonly string[], cwd: string): Promise<{ code: number | null; raw: string }> {
  requireBuiltCli();
  const command = `stty cols 100 rows 40; exec ${[process.execPath, CLI, ...args].map(shellQuote).join(' ')}`;
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm' };
  // The reporter draws the bar only outside CI, as a person's terminal is.
  delete env['CI'];
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-q', '-f', '-e', '-c', command, '/dev/null'], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let raw = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (raw += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (raw += text));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, raw });
    });
  });
}

/**
 * The lines on screen after `raw` was written to a terminal, and where the
 * cursor is: `\r` returns to column 0, `\n` moves down, `ESC[2K` erases the
 * line, `ESC[K` erases to its end, other escape sequences change nothing
 * here, every other character overwrites the cell under the cursor.
 */
export function finalScreen(raw: string): { lines: string[]; cursorColumn: number } {
  const lines: string[][] = [[]];
  let row = 0;
  let col = 0;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i] as string;
    if (ch === '\r') col = 0;
    else if (ch === '\n') {
      row++;
      lines[row] ??= [];
    } else if (ch === '\x1b') {
      const match = /^\[([0-9;?]*)([A-Za-z])/.exec(raw.slice(i + 1));
      if (match === null) continue;
      const [all, param, code] = match;
      if (code === 'K') {
        const line = lines[row] as string[];
        if (param === '2') lines[row] = [];
        else line.length = Math.min(line.length, col);
      }
      i += (all as string).length;
    } else {
      const line = lines[row] as string[];
      while (line.length < col) line.push(' ');
      line[col] = ch;
      col++;
    }
  }
  return { lines: lines.map((cells) => cells.join('').trimEnd()), cursorColumn: col };
}
