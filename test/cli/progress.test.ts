/**
 * The run on a terminal, through a real pseudo-terminal (`script` from
 * util-linux): a progress bar with done/total, running, failed, elapsed
 * and ETA while the run goes on; failures printed on lines of their own; at
 * the end a summary (counts, wall time, slowest nodes) and no status line
 * left on screen, the cursor at the start of a fresh line for the prompt.
 * Without a terminal (and with --json) the output stays plain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createSandbox, writeJson, type Sandbox } from '../support/sandbox.js';
import { finalScreen, hasScript, runInTerminal } from '../support/terminal.js';

const available = hasScript();
if (!available && process.env['CI'] === 'true')
  throw new Error('script (util-linux) is missing: the terminal tests need it in CI');
if (!available) console.log('skipped: the terminal tests need `script` from util-linux to make a pseudo-terminal');

const workflow = {
  nodes: [
    {
      label: 'slow',
      operation: 'scalems.Subprocess',
      input: { argv: ['sh', '-c', 'sleep 1.6; echo x > out.txt'], outputFiles: ['out.txt'] },
    },
    {
      label: 'quick',
      operation: 'scalems.Subprocess',
      input: { argv: ['sh', '-c', 'echo y > out.txt'], outputFiles: ['out.txt'] },
    },
    {
      label: 'bad',
      operation: 'scalems.Subprocess',
      input: { argv: ['sh', '-c', 'sleep 0.3; echo oops >&2; exit 3'] },
    },
  ],
};

const STATUS_LINE = /[█░]|ETA /;

describe.runIf(available)('progress on a terminal', () => {
  let box: Sandbox;
  let file: string;
  beforeAll(async () => {
    box = await createSandbox();
    file = await writeJson(box.path('flow.json'), workflow);
  });
  afterAll(async () => {
    await box.cleanup();
  });

  it('draws a bar while running, prints the failure and a summary, and leaves no status line behind', async () => {
    const { code, raw } = await runInTerminal(['run', file, '--jobs', '3'], box.dir);
    expect(code).toBe(1);
    // While it ran: the bar, with every field.
    expect(raw).toMatch(/\[[█░]{20}\] \d\/3 {2}running \d( {2}failed 1)? {2}\d+s {2}ETA (--|\d+s)/);
    expect(raw).toMatch(/failed 1 {2}[12]s {2}ETA/);

    const screen = finalScreen(raw);
    expect(screen.lines.filter((line) => STATUS_LINE.test(line))).toEqual([]);
    expect(screen.cursorColumn).toBe(0);
    expect(screen.lines.at(-1)).toBe('');
    const failure = screen.lines.find((line) => line.includes("node 'bad'"));
    expect(failure).toMatch(/^FAILED +bad /);
    const summary = screen.lines.findIndex((line) => line.startsWith('FAILED in '));
    expect(screen.lines[summary]).toMatch(/^FAILED in \d+s: 2 ran, 0 reused, 1 failed, 0 skipped$/);
    expect(screen.lines[summary + 1]).toMatch(/^slowest: slow 1\.\d s, quick \d+ ms$/);
  });

  it('after a run that reuses everything, says so and ends on a fresh line', async () => {
    const { raw } = await runInTerminal(['run', file, 'slow', 'quick'], box.dir);
    const screen = finalScreen(raw);
    expect(screen.lines.filter((line) => STATUS_LINE.test(line))).toEqual([]);
    expect(screen.lines).toContain('done in 0s: 0 ran, 2 reused, 0 failed, 0 skipped');
    expect(screen.cursorColumn).toBe(0);
  });

  it('prints plain lines with --json or without a terminal', async () => {
    const json = await runInTerminal(['run', file, 'slow', '--json'], box.dir);
    expect(json.raw).not.toMatch(STATUS_LINE);
    for (const line of json.raw.split('\r\n').filter((l) => l !== ''))
      expect(() => JSON.parse(line) as unknown).not.toThrow();
    const plain = await runCli(['run', file, 'slow']);
    expect(plain.stdout + plain.stderr).not.toMatch(STATUS_LINE);
    expect(plain.stdout).toMatch(/^done: 0 built, 1 reused/m);
  });
});
