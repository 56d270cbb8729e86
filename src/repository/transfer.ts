/**
 * Moving objects between the local store and a remote. Both directions walk the object graph from
 * commits (commit → tree → subtrees → file manifests → chunks, plus detached signatures) and copy
 * only what the other side lacks, with bounded concurrency (`jobs`).
 *
 *  - Upload (transfer-upload.ts) writes in dependency order — chunks, manifests, trees (leaves
 *    first), commits (parents first), signatures — and the caller moves refs only after that and a
 *    `flush`. So on the remote, "object X is present" implies "everything X reaches is present",
 *    which is what lets a push stop at the first tree or commit the remote already has.
 *  - Download (transfer-download.ts) verifies every object's hash, byte count and (for metadata)
 *    strict structure before it enters the local store; bad bytes are refused, never cached.
 *
 * The local index remembers which keys a remote has (`remoteHas`), written in checkpoints after
 * the remote acknowledged (and, for directories, fsynced) them: an interrupted push resumes where
 * it stopped, and a re-push of an unchanged repository costs a few index look-ups.
 */
import { setMaxListeners } from 'node:events';
import pLimit from 'p-limit';
import { MlstoreError, isMlstoreError, throwIfAborted } from '../errors.js';
import type { ProgressEvent } from '../env.js';
import type { IndexDb } from './index-db.js';

export interface TransferOptions {
  /** Objects in flight at once. */
  jobs: number;
  signal?: AbortSignal;
  progress?: (event: ProgressEvent) => void;
  /** The local index and the id it uses for the remote; absent: no cache. */
  index?: { db: IndexDb; remoteId: string };
  /** Milliseconds clock for checkpoint pacing (the caller passes its injected clock). */
  now?: () => number;
}

/**
 * Runs `fn` over `items`, at most `jobs` at a time. After the first failure no new item starts;
 * the ones in flight finish, then the first error is thrown (never a partial success).
 */
export async function runPool<T>(items: Iterable<T>, jobs: number, signal: AbortSignal | undefined, fn: (item: T) => Promise<void>): Promise<void> {
  const limit = pLimit(Math.max(1, jobs));
  let failure: { error: unknown } | undefined;
  const tasks: Promise<void>[] = [];
  for (const item of items) {
    tasks.push(
      limit(async () => {
        if (failure) return;
        try {
          throwIfAborted(signal);
          await fn(item);
        } catch (e) {
          failure ??= { error: e };
        }
      }),
    );
  }
  await Promise.all(tasks);
  if (failure) throw failure.error;
}

/**
 * Collects keys known to be on the remote and writes them to the index in checkpoints, about once
 * a second (so an interrupted transfer loses at most that much bookkeeping) or every 8192 keys.
 * `beforeMark` runs first (the remote's flush, for an upload), so a key is never remembered as
 * present before it is durable there. Checkpoints run one at a time, in order.
 */
export class RemoteMarks {
  #pending: string[] = [];
  #chain: Promise<void> = Promise.resolve();
  #last: number;

  constructor(
    private readonly index: TransferOptions['index'],
    private readonly beforeMark: () => Promise<void>,
    private readonly now: () => number = () => 0,
    private readonly every = { ms: 1000, keys: 8192 },
  ) {
    this.#last = now();
  }

  /** Records `key`; returns a promise that settles when a checkpoint it triggered is written. */
  add(key: string): Promise<void> {
    if (!this.index) return Promise.resolve();
    this.#pending.push(key);
    if (this.#pending.length >= this.every.keys || this.now() - this.#last >= this.every.ms) return this.checkpoint();
    return Promise.resolve();
  }

  /** Marks `keys` right away without waiting for a flush (keys already known to be durable there). */
  async addDurable(keys: readonly string[]): Promise<void> {
    if (!this.index || keys.length === 0) return;
    const { db, remoteId } = this.index;
    this.#chain = this.#chain.then(() => db.markRemoteHas(remoteId, keys));
    await this.#chain;
  }

  checkpoint(): Promise<void> {
    if (!this.index) return Promise.resolve();
    const keys = this.#pending;
    this.#pending = [];
    this.#last = this.now();
    const { db, remoteId } = this.index;
    this.#chain = this.#chain.then(async () => {
      if (keys.length === 0) return;
      await this.beforeMark();
      await db.markRemoteHas(remoteId, keys);
    });
    return this.#chain;
  }
}

/** Which of `keys` the index says the remote has (all false without an index). */
export async function knownOnRemote(index: TransferOptions['index'], keys: readonly string[]): Promise<boolean[]> {
  if (!index || keys.length === 0) return keys.map(() => false);
  return index.db.remoteHas(index.remoteId, keys);
}

/** Counts objects and bytes and reports them as progress events of one phase. */
export class Meter {
  done = 0;
  bytes = 0;
  constructor(
    private readonly phase: string,
    private readonly total: number | undefined,
    private readonly totalBytes: number | undefined,
    private readonly progress: TransferOptions['progress'],
  ) {
    this.report();
  }

  add(bytes: number): void {
    this.done++;
    this.bytes += bytes;
    this.report();
  }

  report(): void {
    this.progress?.({
      phase: this.phase,
      done: this.done,
      bytes: this.bytes,
      ...(this.total !== undefined ? { total: this.total } : {}),
      ...(this.totalBytes !== undefined ? { totalBytes: this.totalBytes } : {}),
    });
  }
}

/** Re-labels a strict-decoding failure of metadata read from `location` as CORRUPT_OBJECT naming the object. */
export function decodeOrCorrupt<T>(decode: (b: Uint8Array) => T, bytes: Uint8Array, id: string, kind: string, location: string): T {
  try {
    return decode(bytes);
  } catch (e) {
    if (!isMlstoreError(e)) throw e;
    throw new MlstoreError('CORRUPT_OBJECT', `${kind} ${id} in ${location} is invalid: ${e.message}`, {
      details: { id, kind, location },
      cause: e,
    });
  }
}

/**
 * A child of the caller's signal for one transfer: every request in flight listens to it, so it
 * may carry hundreds of listeners without Node warning about a leak (the parent gets just one).
 */
export function transferSignal(parent: AbortSignal | undefined, jobs: number): { signal: AbortSignal; done: () => void } {
  const child = new AbortController();
  setMaxListeners(Math.max(64, jobs * 8), child.signal);
  if (!parent) return { signal: child.signal, done: () => {} };
  const onAbort = (): void => child.abort(parent.reason);
  if (parent.aborted) onAbort();
  else parent.addEventListener('abort', onAbort, { once: true });
  return { signal: child.signal, done: () => parent.removeEventListener('abort', onAbort) };
}

/**
 * Group commit for `flush`: `request()` resolves once every write that resolved before the call
 * is durable. Concurrent requests share one flush; a request made while a flush runs waits for
 * the next one (the running flush may have started before its write landed). A flush error is
 * passed to every waiter and is fatal (never retried).
 */
export class GroupFlush {
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;

  constructor(private readonly flush: () => Promise<void>) {}

  request(): Promise<void> {
    if (!this.#running) {
      const run = this.flush().finally(() => {
        if (this.#running === run) this.#running = undefined;
      });
      this.#running = run;
      return run;
    }
    this.#next ??= this.#running
      .catch(() => {})
      .then(() => {
        this.#next = undefined;
        return this.request();
      });
    return this.#next;
  }
}
