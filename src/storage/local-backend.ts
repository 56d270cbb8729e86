/**
 * A Backend on a local directory: `.mlstore/` itself, and `file://` or plain-path remotes.
 *
 * Key `a/b/c` is the file `<root>/a/b/c`. `<root>/tmp/` is reserved (keys may not start with
 * `tmp/`): it holds in-flight writes and CAS lock files. With `packs` (the repository's own
 * store), small chunk objects are kept many to a file in `<root>/packs/` instead (reserved too;
 * local-packs.ts). A key can be both packed and loose (e.g. restored after a repair): `get` tries
 * the packs first (an in-memory lookup), `stat` the file first; any copy is verified above.
 *
 * Durability (see docs/storage.md for the measurements behind it). Every object is written to
 * `<root>/tmp/<name>` and renamed into place only once its bytes are on disk, so a reader — or
 * anyone after a crash, SIGKILL or power loss — sees the whole object or nothing at the final key.
 *  - 'batched' (default): `put` writes the temp file without fsync and stages it; reads in this
 *    process already see it. Staged objects are committed in batches (when `batchBytes` or
 *    `batchObjects` accumulate, and on `flush()`; local-batches.ts): one syncfs of the file
 *    system makes every temp file durable, then they are renamed into place, then a second
 *    syncfs makes the new directory entries durable. Batches commit in the background (syncfs
 *    runs in a helper process, sync-file-system.ts) while the caller goes on writing the next
 *    one. Where syncfs is unavailable the batch falls back to concurrent per-file fsyncs.
 *  - 'fsync': each `put` fsyncs its temp file before the rename (the directory entries still
 *    wait for `flush()`). Slower for many small objects; no file-system-wide sync.
 *  - 'none': no fsync at all (scratch stores, tests).
 * After `flush()` resolves, every `put` that resolved before it is durable at its final key.
 * An fsync/syncfs or batch failure is fatal: the page cache may have dropped the dirty pages, so
 * a retry could "succeed" without the data ever reaching the disk (PostgreSQL's fsyncgate). The
 * backend keeps the error and rethrows it from every later write and flush. `putIfVersion`
 * (refs) is durable when it returns: it fsyncs the file and its directory itself.
 *
 * Compare-and-swap: the version token is `ino:mtimeNs:ctimeNs:size` of the file (every CAS write
 * renames a new inode into place, so the token changes). A CAS takes an O_EXCL lock file
 * `<root>/tmp/locks/<sha256(key)>.lock`, re-checks the version, renames, and removes the lock;
 * that makes it safe between processes. A lock older than `lockStaleMs` was left by a crashed
 * process (the critical section takes milliseconds) and is broken.
 */
import * as nodeFs from 'node:fs/promises';
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MlstoreError, fromFsError, throwIfAborted } from '../errors.js';
import {
  assertValidKey,
  missing,
  type Backend,
  type BackendCapabilities,
  type GetOptions,
  type ObjectInfo,
  type PutOptions,
  type Versioned,
} from './backend.js';
import { syncFileSystem, type SyncFileSystem } from './sync-file-system.js';
import { LocalDirs } from './local-dirs.js';
import { LocalSync } from './local-sync.js';
import { withKeyLock, type KeyLockOptions } from './local-key-lock.js';
import { isPackable, PACKS_DIR, type PackedPlaces, type PackProblem } from './local-packs.js';
import { PackStore } from './local-pack-store.js';
import { LocalBatches } from './local-batches.js';
import { DIRECT_MIN, DirectWriter } from './direct-writer.js';
import { cleanTmpDir, tmpPrefix, type StoreOwner } from './local-tmp.js';
import { readLooseFile, unreadable, versionToken, writeSmallFileSync, writeLargeFile } from './local-files.js';

/** The subset of `node:fs/promises` the backend uses; inject a wrapper to simulate faults. */
export type LocalFs = Pick<typeof nodeFs, 'open' | 'rename' | 'mkdir' | 'stat' | 'readdir' | 'unlink' | 'link'>;

export interface LocalBackendOptions {
  fs?: LocalFs;
  /** How writes become durable (see above). Default 'batched'. */
  durability?: Durability;
  /** syncfs(2) of the file system holding a path; injectable to test failures. */
  syncFileSystem?: SyncFileSystem;
  /** A staged batch is committed once it holds this many bytes (default 1 GiB) … */
  batchBytes?: number;
  /** … or this many objects (default 50,000). */
  batchObjects?: number;
  /** Give up waiting for a CAS lock after this long (LOCKED). Default 10 s. */
  lockTimeoutMs?: number;
  /** A lock file older than this is considered abandoned. Default 30 s. */
  lockStaleMs?: number;
  /** This process and a liveness probe: a CAS lock left by a dead process on this host is broken at once. */
  owner?: StoreOwner;
  /**
   * Keep small chunk objects in packs (local-packs.ts) rather than one file each. Only with the
   * real file system and durability 'batched' or 'none'; the repository's store sets it, remotes not.
   */
  packs?: boolean;
  /**
   * Write objects of DIRECT_MIN bytes and more with O_DIRECT where the file system allows it
   * (direct-writer.ts). Default false; only with the real file system and durability other than 'none'.
   */
  directIo?: boolean;
  /**
   * Refuse to create or write into a directory below `root` reached through a symlink
   * (local-dirs.ts): for shared directories used as remotes, where others may plant one.
   */
  noSymlinks?: boolean;
  /** Concurrent fsyncs in flush(). Default 64. */
  flushConcurrency?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export type Durability = 'batched' | 'fsync' | 'none';

const TMP = 'tmp';
/** Unsynced temp files up to this size are written with synchronous calls. */
const SYNC_WRITE_MAX = 64 * 1024;
const VALID_SEGMENT = /^[A-Za-z0-9._-]{1,255}$/;

export class LocalBackend implements Backend, PackedPlaces {
  readonly location: string;
  readonly #root: string;
  readonly #fs: LocalFs;
  readonly #durability: Durability;
  readonly #sync: LocalSync;
  /** Without an injected fs, existence checks use statSync: no libuv round trip, no Error object. */
  readonly #realFs: boolean;
  /**
   * Temp names: a prefix per instance and a counter (unique across processes, cheap). With an
   * owner the prefix starts `<pid>@<host tag>.`, so cleanTmp never removes a live writer's files.
   */
  readonly #tmpPrefix: string;
  readonly #owner: StoreOwner | undefined;
  #tmpCounter = 0;
  readonly #packs: PackStore | undefined;
  /** Staged objects and their batches (local-batches.ts). */
  readonly #batches: LocalBatches;
  /** Large objects bypass the page cache (direct-writer.ts); undefined with an injected fs or durability 'none'. */
  readonly #direct: DirectWriter | undefined;
  readonly #lockTimeoutMs: number;
  readonly #lockStaleMs: number;
  readonly #flushConcurrency: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #dirs: LocalDirs;
  readonly #keyLock: KeyLockOptions;

  constructor(root: string, options: LocalBackendOptions = {}) {
    this.#root = root;
    this.#owner = options.owner;
    this.#tmpPrefix = tmpPrefix(options.owner);
    this.location = root;
    this.#fs = options.fs ?? nodeFs;
    this.#durability = options.durability ?? 'batched';
    this.#realFs = options.fs === undefined;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    this.#lockStaleMs = options.lockStaleMs ?? 30_000;
    this.#flushConcurrency = options.flushConcurrency ?? 64;
    this.#now = options.now ?? (() => Date.now());
    this.#sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.#dirs = new LocalDirs(this.#fs, this.#realFs, options.noSymlinks ? root : undefined);
    this.#sync = new LocalSync(root, this.#fs, options.syncFileSystem ?? syncFileSystem, this.#flushConcurrency);
    this.#packs = options.packs && this.#realFs && this.#durability !== 'fsync' ? new PackStore(root, () => this.#tmpName('')) : undefined;
    this.#direct = this.#realFs && this.#durability !== 'none' && options.directIo === true ? new DirectWriter(() => this.#tmpName('.probe')) : undefined;
    this.#batches = new LocalBatches({
      root,
      fs: this.#fs,
      realFs: this.#realFs,
      durable: this.#durability !== 'none',
      sync: this.#sync,
      dirs: this.#dirs,
      packs: this.#packs,
      batchBytes: options.batchBytes ?? 1024 * 1024 * 1024,
      batchObjects: options.batchObjects ?? 50_000,
    });
    this.#keyLock = {
      fs: this.#fs,
      dir: join(root, TMP, 'locks'),
      location: this.location,
      timeoutMs: this.#lockTimeoutMs,
      staleMs: this.#lockStaleMs,
      now: this.#now,
      sleep: this.#sleep,
      ensureDir: (dir) => this.#dirs.ensure(dir),
      ...(options.owner ? { owner: options.owner } : {}),
    };
  }

  async capabilities(): Promise<BackendCapabilities> {
    return { atomicCompareAndSwap: true, storedChecksums: false };
  }

  async get(key: string, options: GetOptions = {}): Promise<Uint8Array> {
    const r = await this.#read(key, options, false);
    if (!r) throw missing(key, this.location);
    return r.bytes;
  }

  async put(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    const path = this.#path(key);
    this.#sync.check();
    throwIfAborted(options.signal);
    if (this.#batches.staged.has(path)) return;
    if (this.#packs && isPackable(key, bytes.length)) return this.#putPacked(key, path, bytes);
    // Immutable: same key, same bytes — so an existing file of the right size is left alone. One of
    // another size is damaged (truncated by a crash of some other writer, a disk error): the
    // rename below replaces it. (Same-size damage is for fsck, which re-hashes; fsck --repair-from.)
    this.#dirs.assertNoSymlinks(dirname(path));
    if (!this.#dirs.isFresh(dirname(path)) && (await this.#storedSize(path)) === bytes.length) return;
    const tmp = await this.#writeTmp(bytes, this.#durability === 'fsync');
    if (this.#durability === 'batched') {
      await this.#batches.stage(path, tmp, bytes.length);
      return;
    }
    try {
      throwIfAborted(options.signal);
      await this.#dirs.ensure(dirname(path));
      await this.#fs.rename(tmp, path);
    } catch (e) {
      await this.#fs.unlink(tmp).catch(() => {});
      throw fromFsError(e, path, 'store');
    }
    this.#dirs.touched(dirname(path));
  }

  /**
   * A small chunk: appended to the open pack draft unless a pack already has it. A loose copy is
   * not looked for (a stat per object): one exists only if written with durability 'fsync', and a
   * second copy in a pack is harmless.
   */
  async #putPacked(key: string, path: string, bytes: Uint8Array): Promise<void> {
    const packs = this.#packs!;
    if (packs.has(key)) return;
    try {
      if (packs.stagedCount === 0) this.#dirs.ensureSync(join(this.#root, TMP));
      packs.append(key, bytes, this.#durability !== 'none');
    } catch (e) {
      // The draft may now hold an entry without its bytes: it can never be committed, nor can
      // the objects staged before it — the same rule as a failed sync.
      packs.abandon();
      throw this.#sync.fail(e, path);
    }
    await this.#batches.grew(bytes.length);
  }

  /**
   * A hint that a run of puts follows: the syncfs helper starts now, while the process is small,
   * rather than at the first batch commit (why that matters: sync-file-system.ts).
   */
  prepareWrites(): void {
    if (this.#durability !== 'none') this.#sync.prepare();
  }

  async stat(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectInfo | undefined> {
    const path = this.#path(key);
    throwIfAborted(options.signal);
    for (let real = this.#batches.staged.get(path) ?? path; ; real = path) {
      try {
        const st = await this.#fs.stat(real);
        return st.isFile() ? { key, size: st.size } : undefined;
      } catch (e) {
        if (real !== path && errno(e) === 'ENOENT') continue; // its batch renamed it meanwhile
        if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') {
          const packed = this.#packs?.locate(key);
          return packed ? { key, size: packed.length } : undefined;
        }
        throw unreadable(e, key, path);
      }
    }
  }

  async *list(prefix: string, options: { signal?: AbortSignal } = {}): AsyncIterable<ObjectInfo> {
    if (prefix !== '') {
      if (!prefix.endsWith('/')) throw new MlstoreError('BAD_PATH', `list prefix must end in '/': ${prefix}`);
      assertValidKey(prefix.slice(0, -1));
    }
    if (this.#batches.hasStaged) await this.flush(options); // list what put() promised
    const packed = new Map<string, number>();
    if (this.#packs) {
      this.#packs.index.refreshIfChanged();
      for (const [key, entry] of this.#packs.index.entries(prefix)) packed.set(key, entry.length);
    }
    const stack = [prefix];
    while (stack.length > 0) {
      throwIfAborted(options.signal);
      const dirKey = stack.pop()!;
      const dir = dirKey === '' ? this.#root : join(this.#root, dirKey);
      let entries;
      try {
        entries = await this.#fs.readdir(dir, { withFileTypes: true });
      } catch (e) {
        if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') continue;
        throw fromFsError(e, dir, 'list');
      }
      for (const ent of entries) {
        if (dirKey === '' && (ent.name === TMP || ent.name === PACKS_DIR)) continue;
        if (!VALID_SEGMENT.test(ent.name) || ent.name === '.' || ent.name === '..') continue; // not ours
        const key = dirKey + ent.name;
        if (ent.isDirectory()) stack.push(key + '/');
        else if (ent.isFile()) {
          const info = await this.stat(key, options);
          if (info) yield info;
          packed.delete(key);
        }
      }
    }
    for (const [key, size] of packed) yield { key, size };
  }

  /** `packs/<name>.pack@<offset>+<length>` for a committed packed key (fsck's readers), else undefined. */
  packedPlace(key: string): string | undefined {
    return this.#packs?.placeOf(key);
  }

  packedKeys(prefix: string): Array<[key: string, size: number]> {
    if (!this.#packs) return [];
    this.#packs.index.refreshIfChanged();
    return [...this.#packs.index.entries(prefix)].map(([key, e]) => [key, e.length]);
  }

  /** Damaged pack indexes: their objects read as missing until repaired. */
  packProblems(): PackProblem[] {
    return this.#packs?.problems() ?? [];
  }

  quarantinePack(indexKey: string, stamp: string): string {
    if (!this.#packs) throw new MlstoreError('BAD_PATH', `${this.location} keeps no packs`);
    return this.#packs.quarantine(indexKey, stamp, this.#root, (dir) => this.#dirs.ensureSync(dir));
  }

  async delete(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const path = this.#path(key);
    this.#sync.check();
    throwIfAborted(options.signal);
    if (this.#batches.staged.has(path) || (this.#packs?.stagedCount ?? 0) > 0) await this.flush(options);
    await withKeyLock(this.#keyLock, key, options.signal, async () => {
      try {
        await this.#fs.unlink(path);
        this.#dirs.touched(dirname(path));
      } catch (e) {
        if (errno(e) !== 'ENOENT') throw fromFsError(e, path, 'delete');
      }
      if (this.#packs) {
        await this.#packs.remove(key, this.#durability !== 'none', (dir) => this.#sync.syncDir(dir), (dir) => this.#dirs.ensureSync(dir));
      }
    });
  }

  async getVersioned(key: string, options: GetOptions = {}): Promise<Versioned | undefined> {
    return this.#read(key, options, true);
  }

  async putIfVersion(key: string, bytes: Uint8Array, expected: string | null, options: PutOptions = {}): Promise<boolean> {
    const path = this.#path(key);
    this.#sync.check();
    throwIfAborted(options.signal);
    return withKeyLock(this.#keyLock, key, options.signal, async () => {
      if ((await this.#versionOf(path)) !== expected) return false;
      const tmp = await this.#writeTmp(bytes, this.#durability !== 'none');
      try {
        await this.#dirs.ensure(dirname(path));
        await this.#fs.rename(tmp, path);
      } catch (e) {
        await this.#fs.unlink(tmp).catch(() => {});
        throw fromFsError(e, path, 'update');
      }
      if (this.#durability !== 'none') await this.#sync.syncDir(dirname(path));
      return true;
    });
  }

  async flush(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#sync.check();
    throwIfAborted(options.signal);
    if (this.#durability === 'batched' || this.#packs) {
      void this.#batches.seal();
      await this.#batches.committing;
      this.#sync.check();
      if (this.#durability === 'batched') return;
    }
    const dirs = this.#dirs.takeDirty();
    if (this.#durability === 'fsync') await this.#sync.syncDirs(dirs);
  }

  /**
   * Commits whatever is still staged, so work done before a failure or Ctrl-C is kept and tmp/
   * stays clean. Best effort: a caller that needs durability calls flush() and sees its errors;
   * close() runs in `finally` blocks, where an error of its own would hide the real one.
   */
  async close(): Promise<void> {
    if (this.#batches.hasStaged && !this.#sync.failed) await this.flush().catch(() => {});
    if (this.#sync.failed) await this.#discardOwnTmp();
    this.#packs?.close();
    this.#direct?.close(); // its slots are shared-arena blocks: back for the next user
  }

  /**
   * After a fatal failure this instance never commits again, so its temp files (loose objects,
   * pack drafts, probes: all named with its prefix) are garbage: removed now rather than left
   * for a later cleanTmp. Best effort, like close().
   */
  async #discardOwnTmp(): Promise<void> {
    await this.#batches.committing.catch(() => {}); // no batch still renaming
    this.#batches.abandon();
    const dir = join(this.#root, TMP);
    const names = await this.#fs.readdir(dir).catch(() => [] as string[]);
    for (const name of names) if (name.startsWith(this.#tmpPrefix)) await this.#fs.unlink(join(dir, name)).catch(() => {});
  }

  /**
   * Removes leftovers of interrupted writes from `<root>/tmp/` (and abandoned lock files):
   * see local-tmp.ts for which ones. Returns how many went.
   */
  async cleanTmp(options: { olderThanMs?: number } = {}): Promise<number> {
    const cutoff = this.#now() - (options.olderThanMs ?? 600_000);
    const removed = await cleanTmpDir({
      fs: this.#fs,
      dir: join(this.#root, TMP),
      cutoff,
      lockCutoff: Math.min(cutoff, this.#now() - this.#lockStaleMs),
      ownPrefix: this.#tmpPrefix,
      ...(this.#owner ? { owner: this.#owner } : {}),
    });
    return removed + (this.#packs?.removeOrphans(cutoff) ?? 0);
  }

  #path(key: string): string {
    assertValidKey(key);
    const segments = key.split('/');
    if (segments[0] === TMP || segments[0] === PACKS_DIR) {
      throw new MlstoreError('BAD_PATH', `storage key ${JSON.stringify(key)} is in the reserved ${segments[0]}/ area`, { details: { key } });
    }
    return join(this.#root, ...segments);
  }

  /** A fresh path in tmp/ (this instance's prefix, a counter, the suffix). */
  #tmpName(suffix: string): string {
    return join(this.#root, TMP, `${this.#tmpPrefix}${(this.#tmpCounter++).toString(36)}${suffix}`);
  }

  /** Size of the file at `path`, or undefined when there is none (or something else is there). */
  async #storedSize(path: string): Promise<number | undefined> {
    if (this.#realFs) {
      try {
        const st = statSync(path, { throwIfNoEntry: false });
        return st?.isFile() ? st.size : undefined;
      } catch (e) {
        if (errno(e) === 'ENOTDIR') return undefined;
        throw fromFsError(e, path, 'check');
      }
    }
    try {
      const st = await this.#fs.stat(path);
      return st.isFile() ? st.size : undefined;
    } catch (e) {
      if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return undefined;
      throw fromFsError(e, path, 'check');
    }
  }

  /** Writes bytes to a fresh file in tmp/ (fsynced when `sync`) and returns its path. */
  async #writeTmp(bytes: Uint8Array, sync: boolean): Promise<string> {
    const tmpDir = join(this.#root, TMP);
    const tmp = this.#tmpName('.tmp');
    if (!sync && this.#realFs && bytes.length <= SYNC_WRITE_MAX) {
      writeSmallFileSync(tmp, bytes, (dir) => this.#dirs.ensureSync(dir));
      return tmp;
    }
    if (this.#direct && bytes.length >= DIRECT_MIN) {
      this.#dirs.ensureSync(tmpDir);
      try {
        if (await this.#direct.write(tmp, bytes, sync)) return tmp;
      } catch (e) {
        throw sync && errno(e) !== 'ENOSPC' ? this.#sync.fail(e, tmp) : fromFsError(e, tmp, 'write');
      }
    }
    if (!sync && this.#realFs) {
      await writeLargeFile(tmp, bytes, (dir) => this.#dirs.ensureSync(dir));
      return tmp;
    }
    let fh: nodeFs.FileHandle;
    try {
      fh = await this.#fs.open(tmp, 'wx', 0o644);
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw fromFsError(e, tmp, 'create');
      await this.#dirs.ensure(tmpDir);
      fh = await this.#fs.open(tmp, 'wx', 0o644).catch((e2: unknown) => {
        throw fromFsError(e2, tmp, 'create');
      });
    }
    try {
      try {
        await fh.writeFile(bytes);
      } catch (e) {
        throw fromFsError(e, tmp, 'write');
      }
      if (sync) {
        try {
          await fh.sync();
        } catch (e) {
          throw this.#sync.fail(e, tmp);
        }
      }
    } catch (e) {
      await fh.close().catch(() => {});
      await this.#fs.unlink(tmp).catch(() => {});
      throw e;
    }
    await fh.close();
    return tmp;
  }

  async #read(key: string, options: GetOptions, versioned: boolean): Promise<Versioned | undefined> {
    const path = this.#path(key);
    throwIfAborted(options.signal);
    if (this.#packs && !versioned && isPackable(key, 0)) {
      // packed first: an in-memory lookup, where a miss on the loose path costs a failed open
      const bytes = this.#packs.read(key, options);
      if (bytes) return { bytes, version: '' };
    }
    return readLooseFile(this.#realFs ? undefined : this.#fs, key, path, this.#batches.staged.get(path), options, versioned, this.location);
  }

  async #versionOf(path: string): Promise<string | null> {
    try {
      return versionToken(await this.#fs.stat(path, { bigint: true }));
    } catch (e) {
      if (errno(e) === 'ENOENT') return null;
      throw fromFsError(e, path, 'stat');
    }
  }

}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

