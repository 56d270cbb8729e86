/**
 * How LocalBackend makes bytes durable, and the rule that a failure to do so is fatal.
 *
 * syncAll() is one syncfs(2) of the store's file system (false where that is unavailable, and
 * the caller syncs file by file); syncFile()/syncDir() fsync one path; forEach() runs many of
 * them at once through the libuv pool. Any sync failure is recorded and rethrown by every later
 * write and flush (`check()`): after a failed fsync Linux may already have dropped the dirty pages
 * and cleared the error, so a retry could "succeed" without the data ever reaching the disk
 * (PostgreSQL's "fsyncgate").
 */
import type { FileHandle } from 'node:fs/promises';
import { MlstoreError, fromFsError } from '../errors.js';
import type { LocalFs } from './local-backend.js';
import type { SyncFileSystem } from './sync-file-system.js';

export class LocalSync {
  #fatal: MlstoreError | undefined;
  #syncfs: boolean | undefined; // undefined until the first syncAll finds out

  constructor(
    private readonly root: string,
    private readonly fs: LocalFs,
    private readonly syncFileSystem: SyncFileSystem,
    private readonly concurrency: number,
  ) {}

  get failed(): boolean {
    return this.#fatal !== undefined;
  }

  /** Rethrows the recorded failure, if any. */
  check(): void {
    if (this.#fatal) throw this.#fatal;
  }

  /** Records a sync failure: from now on every write and flush rethrows it. */
  fail(e: unknown, path: string): MlstoreError {
    const base = fromFsError(e, path, 'fsync');
    this.#fatal ??= new MlstoreError(base.code, `${base.message} — fsync failures are fatal; data written since the last successful flush may be lost`, {
      cause: e,
      details: { ...base.details, fatal: true },
      hint: 'Check the disk (dmesg), then re-run the command in a new process; do not retry in this one.',
    });
    return this.#fatal;
  }

  /** Starts the syncfs helper ahead of the first batch (sync-file-system.ts). */
  prepare(): void {
    if (this.#syncfs !== false) this.syncFileSystem.prepare?.(this.root);
  }

  /** syncfs of the store's file system; false when unavailable here (then sync file by file). */
  async syncAll(what: string): Promise<boolean> {
    if (this.#syncfs === false) return false;
    let result;
    try {
      result = await this.syncFileSystem(this.root);
    } catch (e) {
      throw this.fail(e, `${this.root} (syncfs of ${what})`);
    }
    this.#syncfs = result === 'ok';
    return this.#syncfs;
  }

  syncFile(path: string): Promise<void> {
    return this.#sync(path, 'open');
  }

  syncDir(dir: string): Promise<void> {
    return this.#sync(dir, 'open directory');
  }

  async syncDirs(dirs: readonly string[]): Promise<void> {
    await this.forEach(dirs, (dir) => this.syncDir(dir));
  }

  /** Runs fn over items with `concurrency` in flight (the libuv pool runs them in parallel). */
  async forEach<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) await fn(items[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, items.length) }, worker));
  }

  async #sync(path: string, action: string): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await this.fs.open(path, 'r');
    } catch (e) {
      throw fromFsError(e, path, action);
    }
    try {
      await fh.sync();
    } catch (e) {
      throw this.fail(e, path);
    } finally {
      await fh.close().catch(() => {});
    }
  }
}
