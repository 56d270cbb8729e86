/**
 * The batches of LocalBackend's 'batched' durability (and of packs, in every mode but 'fsync').
 *
 * A `put` writes its object to a temp file without fsync and stages it here; reads in this
 * process already see it. When a batch holds `batchBytes` or `batchObjects`, or on `seal()` from
 * flush(), it is committed: one syncfs of the file system makes every staged temp file durable
 * (packs were already fdatasynced as each was finished), they are renamed into place, and the
 * directories are synced. Where syncfs is unavailable the batch falls back to concurrent per-file
 * fsyncs and directory fsyncs. Batches commit one after another, and a writer runs at most one
 * batch ahead of the disk. Any failure is fatal (local-sync.ts): objects whose put() resolved may
 * not be durable, and nothing later may pretend otherwise.
 */
import { renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { fromFsError } from '../errors.js';
import type { LocalFs } from './local-backend.js';
import type { LocalDirs } from './local-dirs.js';
import type { PackStore, SealedPack } from './local-pack-store.js';
import type { LocalSync } from './local-sync.js';

export interface LocalBatchesOptions {
  readonly root: string;
  readonly fs: LocalFs;
  /** Node's own fs (not injected): renames may then be synchronous. */
  readonly realFs: boolean;
  /** False for durability 'none': renames only, no syncs. */
  readonly durable: boolean;
  readonly sync: LocalSync;
  readonly dirs: LocalDirs;
  readonly packs: PackStore | undefined;
  readonly batchBytes: number;
  readonly batchObjects: number;
}

export class LocalBatches {
  /** final path → temp path of every staged loose object not yet renamed into place. */
  readonly staged = new Map<string, string>();
  /** The batch still being filled: [final path, temp path] of loose objects (packed ones are in `packs`). */
  #open: Array<[string, string]> = [];
  #openBytes = 0;
  #openObjects = 0;
  /** Batches commit one after another; this settles when the last one sealed has. */
  #committing: Promise<void> = Promise.resolve();

  constructor(private readonly o: LocalBatchesOptions) {}

  /** Whether anything put() accepted is not yet at its final place (loose or packed). */
  get hasStaged(): boolean {
    return this.staged.size > 0 || (this.o.packs?.stagedCount ?? 0) > 0;
  }

  /** Settles when every sealed batch has committed (rejects with a commit's failure). */
  get committing(): Promise<void> {
    return this.#committing;
  }

  /** Stages a loose object written to `tmp`; seals the batch once it is full. */
  async stage(path: string, tmp: string, bytes: number): Promise<void> {
    this.staged.set(path, tmp);
    this.#open.push([path, tmp]);
    await this.grew(bytes);
  }

  /** Counts a staged object (a packed one is staged by the pack store); seals the batch once it is full. */
  async grew(bytes: number): Promise<void> {
    this.#openBytes += bytes;
    this.#openObjects++;
    if (this.#openBytes >= this.o.batchBytes || this.#openObjects >= this.o.batchObjects) await this.seal();
  }

  /**
   * Seals the open batch and queues its commit behind the previous one. Resolves when the
   * previous batch has committed: a writer can run at most one batch ahead of the disk.
   */
  seal(): Promise<void> {
    const previous = this.#committing;
    if (this.#openObjects === 0) return previous;
    const batch = this.#open;
    const sync = this.o.sync;
    let packs: SealedPack[];
    try {
      packs = this.o.packs?.seal(this.o.durable) ?? [];
    } catch (e) {
      this.o.packs!.abandon();
      this.#committing = previous.then(() => {
        throw sync.fail(e, this.o.root);
      });
      return previous;
    }
    this.#open = [];
    this.#openBytes = 0;
    this.#openObjects = 0;
    this.#committing = previous.then(() => (sync.failed ? undefined : this.#commit(batch, packs)));
    return previous;
  }

  /** After a fatal failure: forgets every staged object (their temp files are removed by the caller). */
  abandon(): void {
    this.o.packs?.abandon();
    this.staged.clear();
  }

  /**
   * Makes one batch durable: sync the temp files (loose objects, packs and their indexes), rename
   * them into place, sync the directories. With durability 'none' (packs only) just the renames.
   */
  async #commit(batch: Array<[string, string]>, packs: SealedPack[]): Promise<void> {
    const { durable, sync, dirs } = this.o;
    try {
      if (durable) {
        // packs sync themselves (fdatasync started when each was finished); loose temps with one syncfs
        if (batch.length > 0 && !(await sync.syncAll('data'))) {
          await sync.forEach(batch, async ([, tmp]) => sync.syncFile(tmp));
        }
        for (const { draft } of packs) {
          await draft.synced.catch((e: unknown) => {
            throw sync.fail(e, draft.tmpPack);
          });
        }
      }
      if (this.o.realFs) {
        // synchronous renames: ≈ 4× cheaper than 20,000 libuv round trips, and they only touch metadata
        for (const [path, tmp] of batch) {
          const dir = dirname(path);
          dirs.ensureSync(dir);
          try {
            renameSync(tmp, path);
          } catch (e) {
            throw fromFsError(e, path, 'store');
          }
          dirs.touched(dir);
        }
      } else {
        await sync.forEach(batch, async ([path, tmp]) => {
          const dir = dirname(path);
          await dirs.ensure(dir);
          try {
            await this.o.fs.rename(tmp, path);
          } catch (e) {
            throw fromFsError(e, path, 'store');
          }
          dirs.touched(dir);
        });
      }
      this.o.packs?.install(packs, (dir) => dirs.ensureSync(dir), (dir) => dirs.touched(dir));
      const dirty = dirs.takeDirty();
      // only packs: their one directory is cheaper to fsync than a whole-file-system sync
      if (durable && (batch.length === 0 || !(await sync.syncAll('directories')))) await sync.syncDirs(dirty);
    } catch (e) {
      // Objects whose put() resolved may not be durable: nothing later may pretend otherwise.
      throw sync.fail(e, this.o.root);
    } finally {
      for (const [path, tmp] of batch) if (this.staged.get(path) === tmp) this.staged.delete(path);
      this.o.packs?.unstage(packs);
    }
  }
}
