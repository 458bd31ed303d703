// The plain reporter prints a line per event, in the order of the events,
// but writes the lines of one turn of the event loop together: a no-op
// resume of 1,000 nodes is one write, not 1,000.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createReporter } from '../../src/cli/reporter.js';
import type { Uid } from '../../src/identity/fingerprint.js';

function recordingStream(): { writes: string[]; stream: NodeJS.WritableStream } {
  const writes: string[] = [];
  const stream = {
    write: (chunk: string) => {
      writes.push(chunk);
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  return { writes, stream };
}

const uid = (n: number): Uid => n.toString(16).padStart(64, '0') as Uid;

describe('the plain reporter', () => {
  it('writes the lines of one turn at once, in order, and everything before a notice or at close', async () => {
    const out = recordingStream();
    const reporter = createReporter('plain', { out: out.stream, err: recordingStream().stream });
    for (let i = 0; i < 1000; i++) reporter.onEvent({ type: 'node-reused', label: `sh${i}`, uid: uid(i) });
    expect(out.writes).toEqual([]);
    await nextTurn();
    expect(out.writes).toHaveLength(1);
    const lines = (out.writes[0] ?? '').split('\n');
    expect(lines).toHaveLength(1001);
    expect(lines[0]).toBe(`reused    sh0 (${uid(0).slice(0, 12)})`);
    expect(lines[999]).toBe(`reused    sh999 (${uid(999).slice(0, 12)})`);

    reporter.onEvent({ type: 'node-reused', label: 'late', uid: uid(1) });
    reporter.notice('a notice');
    expect(out.writes.slice(1)).toEqual([`reused    late (${uid(1).slice(0, 12)})\n`, 'a notice\n']);
    reporter.onEvent({ type: 'node-reused', label: 'last', uid: uid(2) });
    reporter.close();
    expect(out.writes.at(-1)).toBe(`reused    last (${uid(2).slice(0, 12)})\n`);
    await nextTurn();
    expect(out.writes).toHaveLength(4);
  });
});
