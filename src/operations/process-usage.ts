/**
 * CPU time and peak memory of a command a Subprocess node runs, read from
 * /proc while it runs (Linux; elsewhere nothing is recorded).
 *
 * Node reaps its children itself and keeps their rusage from us
 * (process.resourceUsage covers this process only), and a wrapper that
 * reports getrusage(RUSAGE_CHILDREN) would cost a process per node. So the
 * command's own /proc entries are sampled: `stat` fields 14-17 (user and
 * system time of the process and of the children it waited for, in clock
 * ticks) and `status` VmHWM (its peak resident memory, a high-water mark
 * the kernel keeps). Samples come after 5, 20 and 50 ms, then every 100 ms,
 * each two small reads; the last one before the exit is what is recorded.
 * So the peak memory is exact unless it was reached in the last interval,
 * and the CPU time misses at most the last interval's (or, for a command
 * over in less than 5 ms, all of it: such a command records nothing).
 * Memory is the command's own process, not its children's.
 */
import { readFileSync } from 'node:fs';
import type { ResourceUsage } from '../store/metadata.js';

/** Clock ticks per second as /proc counts them: USER_HZ, 100 on every Linux build that matters. */
const TICKS_PER_SECOND = 100;
const SAMPLE_AFTER_MS = [5, 15, 30];
const SAMPLE_EVERY_MS = 100;

function readUsage(pid: number): ResourceUsage | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may hold spaces: field 3 is index 0, so utime (14) is index 11.
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    const [utime = 0, stime = 0, cutime = 0, cstime = 0] = fields.slice(11, 15);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
    return {
      cpuUserMs: ((utime + cutime) * 1000) / TICKS_PER_SECOND,
      cpuSystemMs: ((stime + cstime) * 1000) / TICKS_PER_SECOND,
      maxRssBytes: hwm === undefined ? null : Number(hwm) * 1024,
    };
  } catch {
    return undefined;
  }
}

/** Samples a running process's usage until `stop()`, which returns the last sample (or undefined). */
export class ProcessUsageSampler {
  readonly #pid: number;
  #last: ResourceUsage | undefined;
  #timer: NodeJS.Timeout | undefined;
  #step = 0;

  constructor(pid: number) {
    this.#pid = pid;
    this.#schedule();
  }

  #schedule(): void {
    const previous = SAMPLE_AFTER_MS[this.#step - 1] ?? 0;
    const delay = this.#step < SAMPLE_AFTER_MS.length ? (SAMPLE_AFTER_MS[this.#step] ?? 0) - previous : SAMPLE_EVERY_MS;
    this.#timer = setTimeout(() => {
      const sample = readUsage(this.#pid);
      // A zombie has no memory figures any more: keep the last live sample's peak.
      if (sample !== undefined)
        this.#last = { ...sample, maxRssBytes: sample.maxRssBytes ?? this.#last?.maxRssBytes ?? null };
      this.#step++;
      this.#schedule();
    }, delay);
    this.#timer.unref();
  }

  stop(): ResourceUsage | undefined {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    return this.#last;
  }
}
