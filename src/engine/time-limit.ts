/**
 * A node's time limit (`resources.time`), enforced on this machine. When it
 * runs out, the signal the operation was given is aborted with an E_TIMEOUT
 * error as its reason: a subprocess's process group is killed (SIGTERM, then
 * SIGKILL), a worker thread is stopped, an operation that watches its signal
 * stops. One that does not (plain JavaScript on the main thread) is
 * abandoned after a short grace: the node fails with E_TIMEOUT all the same,
 * its store is never committed, and the next run starts it afresh.
 */
import { isTimeout, timeoutError } from '../operations/resources.js';

/** How long a timed-out operation may take to stop before it is abandoned: a subprocess's SIGKILL comes 2 s after its SIGTERM. */
const ABANDON_AFTER_MS = 3_000;
/** setTimeout's longest delay; longer limits are waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const EXPIRED: unique symbol = Symbol('expired');

let abandoned = 0;

/**
 * How many timed-out operations this process abandoned still running. A
 * command that ends its run should exit rather than wait for them.
 */
export function abandonedOperations(): number {
  return abandoned;
}

/**
 * Run `work` with a signal that aborts when `outer` does or when `seconds`
 * have passed; in the second case reject with E_TIMEOUT whatever `work`
 * does. No limit (`seconds` undefined): `work(outer)`.
 */
export async function withinTimeLimit<T>(
  seconds: number | undefined,
  outer: AbortSignal,
  label: string,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  if (seconds === undefined) return work(outer);
  const controller = new AbortController();
  const forward = (): void => controller.abort(outer.reason);
  if (outer.aborted) forward();
  else outer.addEventListener('abort', forward, { once: true });
  const expiry = timeoutError(seconds, label);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<typeof EXPIRED>((resolve) => {
    const deadline = Date.now() + seconds * 1000;
    const wait = (): void => {
      const left = deadline - Date.now();
      if (left > 0) {
        timer = setTimeout(wait, Math.min(left, MAX_TIMER_MS));
        return;
      }
      controller.abort(expiry);
      resolve(EXPIRED);
    };
    wait();
  });
  const running = work(controller.signal);
  try {
    const first = await Promise.race([running, expired]);
    if (first !== EXPIRED) return first as T;
    // Let it stop (a process group dies, a thread ends), but never wait for it for long.
    let settled = false;
    let stopped: unknown;
    await Promise.race([
      running.then(
        () => (settled = true),
        (error: unknown) => {
          settled = true;
          stopped = error;
        },
      ),
      new Promise((resolve) => setTimeout(resolve, ABANDON_AFTER_MS).unref()),
    ]);
    if (!settled) abandoned++;
    // The operation's own account of the timeout says more (what was killed); anything else it did is moot now.
    throw isTimeout(stopped) ? stopped : expiry;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    outer.removeEventListener('abort', forward);
  }
}
