/**
 * How long the server's event loop was held, for tests and the bench: the
 * longest delay perf_hooks saw (wall time, which a busy machine inflates),
 * and the longest stretch of CPU time between two ticks of a 5 ms timer,
 * which waiting for a core does not inflate: what one synchronous piece of
 * work cost.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface LoopMonitor {
  /** Longest event loop delay, wall time, ms. */
  maxDelayMs(): number;
  /** Most CPU time the process spent between two ticks, ms. */
  maxCpuStretchMs(): number;
  stop(): void;
}

export function monitorLoop(): LoopMonitor {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let last = process.cpuUsage();
  let longest = 0;
  const tick = setInterval(() => {
    const now = process.cpuUsage();
    longest = Math.max(longest, (now.user - last.user + now.system - last.system) / 1000);
    last = now;
  }, 5);
  tick.unref();
  return {
    maxDelayMs: () => delay.max / 1e6,
    maxCpuStretchMs: () => longest,
    stop: () => {
      clearInterval(tick);
      delay.disable();
    },
  };
}
