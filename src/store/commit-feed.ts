/**
 * What other processes committed in a working directory, learnt in bulk
 * from the ledger rather than store by store: every commit renames one
 * entry, `<uid>.<time>.<context>.<random>.json`, into `ledger/` (ledger.ts),
 * which changes that directory's mtime. So one stat of `ledger/` says
 * whether anything was committed since the last look, and one listing says
 * which uids. A worker that shares the directory with others uses this to
 * skip the nodes they finished without opening their stores, and to wait
 * for a node another process holds without polling that store: it wakes when
 * the node's entry appears (at once on this host, through an inotify watch
 * of `ledger/`; on another host's commit, at the next look, every
 * POLL_MS), or after `recheckMs` to look at the holder again (it may have
 * died).
 *
 * The ledger is not fsynced and may miss an entry (a crash between commit
 * and entry): a node the feed does not know is simply looked at in its
 * store, as before. A node the feed knows is committed: entries are written
 * only after their store's commit.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Uid } from '../identity/fingerprint.js';
import { LEDGER_DIR } from './ledger.js';

/** How often waiters look at the ledger (commits on other hosts, which no watch on this one sees). */
const POLL_MS = 1_000;
/** The least time between two looks at the ledger asked for by `refresh`. */
const MIN_LOOK_INTERVAL_MS = 200;

interface Waiter {
  uid: Uid;
  resolve: () => void;
  timer: NodeJS.Timeout;
}

export class CommitFeed {
  readonly #dir: string;
  readonly #known = new Set<string>();
  readonly #waiters = new Set<Waiter>();
  #seenMtimeNs = -1n;
  #lastLook = 0;
  #poll: NodeJS.Timeout | undefined;
  #watcher: FSWatcher | undefined;

  /** Entries stamped before this (the ledger's `YYYYMMDDTHHMMSSmmmZ`) are history: their stores may be gone since. */
  readonly #since: string;

  constructor(workdirRoot: string, since: Date) {
    this.#dir = join(workdirRoot, LEDGER_DIR);
    this.#since = since.toISOString().replace(/[-:.]/g, '');
  }

  /** Whether the ledger (as of the last look) records a commit of `uid`. */
  has(uid: Uid): boolean {
    return this.#known.has(uid);
  }

  /**
   * Look at the ledger if it changed since the last look (one stat; a
   * listing when it did), at most every MIN_LOOK_INTERVAL_MS unless `force`.
   */
  refresh(force = false): void {
    const now = Date.now();
    this.#startWatching();
    // While the watch reports this host's commits, a look is only for other hosts': every POLL_MS is enough.
    const interval = this.#watcher === undefined ? MIN_LOOK_INTERVAL_MS : POLL_MS;
    if (!force && now - this.#lastLook < interval) return;
    this.#lastLook = now;
    const mtimeNs = statSync(this.#dir, { throwIfNoEntry: false, bigint: true })?.mtimeNs;
    if (mtimeNs === undefined || mtimeNs === this.#seenMtimeNs) return;
    this.#seenMtimeNs = mtimeNs;
    let names: string[];
    try {
      names = readdirSync(this.#dir);
    } catch {
      return;
    }
    for (const name of names) this.#learn(name);
    this.#wakeCommitted();
  }

  /** Learn from one entry's name; names beginning with '.' are entries still being written. */
  #learn(name: string): void {
    const [uid, stamp] = name.split('.', 2);
    if (uid !== undefined && uid !== '' && stamp !== undefined && stamp >= this.#since) this.#known.add(uid);
  }

  #wakeCommitted(): void {
    for (const waiter of [...this.#waiters]) if (this.#known.has(waiter.uid)) this.#wake(waiter);
  }

  /**
   * Resolve once the ledger records a commit of `uid`, or after `recheckMs`
   * (to look at its holder again), or when `signal` aborts.
   */
  waitFor(uid: Uid, recheckMs: number, signal: AbortSignal): Promise<void> {
    if (this.#known.has(uid) || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter: Waiter = {
        uid,
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        timer: setTimeout(() => this.#wake(waiter), recheckMs),
      };
      const onAbort = (): void => this.#wake(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
      this.#startWatching();
    });
  }

  /** Stop watching and wake every waiter. */
  close(): void {
    for (const waiter of [...this.#waiters]) this.#wake(waiter);
    this.#stopWatching();
  }

  #wake(waiter: Waiter): void {
    if (!this.#waiters.delete(waiter)) return;
    clearTimeout(waiter.timer);
    waiter.resolve();
  }

  #startWatching(): void {
    this.#poll ??= setInterval(() => {
      if (this.#waiters.size > 0) this.refresh(true);
    }, POLL_MS);
    this.#poll.unref();
    if (this.#watcher !== undefined) return;
    try {
      // The event names the entry renamed into place: learnt without a listing.
      this.#watcher = watch(this.#dir, { persistent: false }, (_event, name) => {
        if (typeof name !== 'string') return this.refresh(true);
        this.#learn(name);
        this.#wakeCommitted();
      });
      this.#watcher.on('error', () => this.#watcher?.close());
    } catch {
      // No ledger yet, or no watching here (some network file systems): the poll does it.
    }
  }

  #stopWatching(): void {
    if (this.#poll !== undefined) clearInterval(this.#poll);
    this.#poll = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
