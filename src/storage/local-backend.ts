/**
 * A Backend on a local directory: `.mlstore/` itself, and `file://` or plain-path remotes.
 *
 * Key `a/b/c` is the file `<root>/a/b/c`. `<root>/tmp/` is reserved (keys may not start with
 * `tmp/`): it holds in-flight writes and CAS lock files.
 *
 * Durability (see docs/storage.md for the measurements behind it):
 *  - `put` writes `<root>/tmp/<random>`, fsyncs it, and renames it into place, so a reader — or
 *    anyone after a crash or SIGKILL — sees the whole object or nothing at the final key. Many puts
 *    run concurrently through the libuv pool, and concurrent fsyncs share journal commits.
 *  - The directory entries that renames create are made durable by `flush()`, which fsyncs every
 *    directory dirtied since the last flush, concurrently. After `flush()` resolves, every `put`
 *    that resolved before it is durable.
 *  - An fsync error is fatal: the page cache may have dropped the dirty pages, so a retry could
 *    "succeed" without the data ever reaching the disk (PostgreSQL's fsyncgate). The backend keeps
 *    the error and rethrows it from every later write and flush.
 *  - `putIfVersion` (refs) is durable when it returns: it fsyncs the file and its directory itself.
 *
 * Compare-and-swap: the version token is `ino:mtimeNs:ctimeNs:size` of the file (every CAS write
 * renames a new inode into place, so the token changes). A CAS takes an O_EXCL lock file
 * `<root>/tmp/locks/<sha256(key)>.lock`, re-checks the version, renames, and removes the lock;
 * that makes it safe between processes. A lock older than `lockStaleMs` was left by a crashed
 * process (the critical section takes milliseconds) and is broken.
 */
import * as nodeFs from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
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

/** The subset of `node:fs/promises` the backend uses; inject a wrapper to simulate faults. */
export type LocalFs = Pick<typeof nodeFs, 'open' | 'rename' | 'mkdir' | 'stat' | 'readdir' | 'unlink' | 'link'>;

export interface LocalBackendOptions {
  fs?: LocalFs;
  /** 'fsync' (default): durable as described above. 'none': no fsync at all (scratch stores, tests). */
  durability?: 'fsync' | 'none';
  /** Give up waiting for a CAS lock after this long (LOCKED). Default 10 s. */
  lockTimeoutMs?: number;
  /** A lock file older than this is considered abandoned. Default 30 s. */
  lockStaleMs?: number;
  /** Concurrent fsyncs in flush(). Default 64. */
  flushConcurrency?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const TMP = 'tmp';
const VALID_SEGMENT = /^[A-Za-z0-9._-]{1,255}$/;

export class LocalBackend implements Backend {
  readonly location: string;
  readonly #root: string;
  readonly #fs: LocalFs;
  readonly #fsync: boolean;
  readonly #lockTimeoutMs: number;
  readonly #lockStaleMs: number;
  readonly #flushConcurrency: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #knownDirs = new Set<string>();
  #dirtyDirs = new Set<string>();
  #fatal: MlstoreError | undefined;

  constructor(root: string, options: LocalBackendOptions = {}) {
    this.#root = root;
    this.location = root;
    this.#fs = options.fs ?? nodeFs;
    this.#fsync = (options.durability ?? 'fsync') === 'fsync';
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    this.#lockStaleMs = options.lockStaleMs ?? 30_000;
    this.#flushConcurrency = options.flushConcurrency ?? 64;
    this.#now = options.now ?? (() => Date.now());
    this.#sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
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
    this.#checkFatal();
    throwIfAborted(options.signal);
    if (await this.#exists(path)) return; // immutable: same key, same bytes
    const tmp = await this.#writeTmp(bytes);
    try {
      throwIfAborted(options.signal);
      await this.#ensureDir(dirname(path));
      await this.#fs.rename(tmp, path);
    } catch (e) {
      await this.#fs.unlink(tmp).catch(() => {});
      throw fromFsError(e, path, 'store');
    }
    this.#dirtyDirs.add(dirname(path));
  }

  async stat(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectInfo | undefined> {
    const path = this.#path(key);
    throwIfAborted(options.signal);
    try {
      const st = await this.#fs.stat(path);
      return st.isFile() ? { key, size: st.size } : undefined;
    } catch (e) {
      if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return undefined;
      throw unreadable(e, key, path);
    }
  }

  async *list(prefix: string, options: { signal?: AbortSignal } = {}): AsyncIterable<ObjectInfo> {
    if (prefix !== '') {
      if (!prefix.endsWith('/')) throw new MlstoreError('BAD_PATH', `list prefix must end in '/': ${prefix}`);
      assertValidKey(prefix.slice(0, -1));
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
        if (dirKey === '' && ent.name === TMP) continue;
        if (!VALID_SEGMENT.test(ent.name) || ent.name === '.' || ent.name === '..') continue; // not ours
        const key = dirKey + ent.name;
        if (ent.isDirectory()) stack.push(key + '/');
        else if (ent.isFile()) {
          const info = await this.stat(key, options);
          if (info) yield info;
        }
      }
    }
  }

  async delete(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const path = this.#path(key);
    this.#checkFatal();
    throwIfAborted(options.signal);
    await this.#withLock(key, options.signal, async () => {
      try {
        await this.#fs.unlink(path);
        this.#dirtyDirs.add(dirname(path));
      } catch (e) {
        if (errno(e) !== 'ENOENT') throw fromFsError(e, path, 'delete');
      }
    });
  }

  async getVersioned(key: string, options: GetOptions = {}): Promise<Versioned | undefined> {
    return this.#read(key, options, true);
  }

  async putIfVersion(key: string, bytes: Uint8Array, expected: string | null, options: PutOptions = {}): Promise<boolean> {
    const path = this.#path(key);
    this.#checkFatal();
    throwIfAborted(options.signal);
    return this.#withLock(key, options.signal, async () => {
      if ((await this.#versionOf(path)) !== expected) return false;
      const tmp = await this.#writeTmp(bytes);
      try {
        await this.#ensureDir(dirname(path));
        await this.#fs.rename(tmp, path);
      } catch (e) {
        await this.#fs.unlink(tmp).catch(() => {});
        throw fromFsError(e, path, 'update');
      }
      if (this.#fsync) await this.#syncDir(dirname(path));
      return true;
    });
  }

  async flush(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#checkFatal();
    throwIfAborted(options.signal);
    const dirs = [...this.#dirtyDirs];
    this.#dirtyDirs = new Set();
    if (!this.#fsync) return;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < dirs.length) await this.#syncDir(dirs[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(this.#flushConcurrency, dirs.length) }, worker));
  }

  async close(): Promise<void> {}

  /**
   * Removes leftovers of interrupted writes from `<root>/tmp/` (and abandoned lock files).
   * Only files older than `olderThanMs` (default 10 min) go, so concurrent writers are safe.
   */
  async cleanTmp(options: { olderThanMs?: number } = {}): Promise<number> {
    const cutoff = this.#now() - (options.olderThanMs ?? 600_000);
    let removed = 0;
    for (const [dir, limit] of [
      [join(this.#root, TMP), cutoff],
      [join(this.#root, TMP, 'locks'), Math.min(cutoff, this.#now() - this.#lockStaleMs)],
    ] as const) {
      let names: string[];
      try {
        names = await this.#fs.readdir(dir);
      } catch (e) {
        if (errno(e) === 'ENOENT') continue;
        throw fromFsError(e, dir, 'list');
      }
      for (const name of names) {
        const p = join(dir, name);
        const st = await this.#fs.stat(p).catch(() => undefined);
        if (!st?.isFile() || st.mtimeMs > limit) continue;
        await this.#fs.unlink(p).then(() => removed++, () => {});
      }
    }
    return removed;
  }

  #path(key: string): string {
    assertValidKey(key);
    const segments = key.split('/');
    if (segments[0] === TMP) {
      throw new MlstoreError('BAD_PATH', `storage key ${JSON.stringify(key)} is in the reserved tmp/ area`, { details: { key } });
    }
    return join(this.#root, ...segments);
  }

  #checkFatal(): void {
    if (this.#fatal) throw this.#fatal;
  }

  async #exists(path: string): Promise<boolean> {
    try {
      await this.#fs.stat(path);
      return true;
    } catch (e) {
      if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return false;
      throw fromFsError(e, path, 'check');
    }
  }

  /** Writes bytes to a fresh file in tmp/ (fsynced when durable) and returns its path. */
  async #writeTmp(bytes: Uint8Array): Promise<string> {
    const tmpDir = join(this.#root, TMP);
    const tmp = join(tmpDir, `${randomBytes(12).toString('hex')}.tmp`);
    let fh: nodeFs.FileHandle;
    try {
      fh = await this.#fs.open(tmp, 'wx', 0o644);
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw fromFsError(e, tmp, 'create');
      await this.#ensureDir(tmpDir);
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
      if (this.#fsync) {
        try {
          await fh.sync();
        } catch (e) {
          throw this.#fail(e, tmp);
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

  async #ensureDir(dir: string): Promise<void> {
    if (this.#knownDirs.has(dir)) return;
    let first: string | undefined;
    try {
      first = await this.#fs.mkdir(dir, { recursive: true });
    } catch (e) {
      throw fromFsError(e, dir, 'create directory');
    }
    if (first !== undefined) {
      // every directory created from `first` down to `dir` is a new entry in its parent
      for (let d = dir; ; d = dirname(d)) {
        this.#dirtyDirs.add(dirname(d));
        if (d === first || d === dirname(d)) break;
      }
    }
    this.#knownDirs.add(dir);
  }

  async #syncDir(dir: string): Promise<void> {
    let fh: nodeFs.FileHandle;
    try {
      fh = await this.#fs.open(dir, 'r');
    } catch (e) {
      throw fromFsError(e, dir, 'open directory');
    }
    try {
      await fh.sync();
    } catch (e) {
      throw this.#fail(e, dir);
    } finally {
      await fh.close().catch(() => {});
    }
  }

  /** Records an fsync failure: from now on every write and flush rethrows it. */
  #fail(e: unknown, path: string): MlstoreError {
    const base = fromFsError(e, path, 'fsync');
    this.#fatal ??= new MlstoreError(base.code, `${base.message} — fsync failures are fatal; data written since the last successful flush may be lost`, {
      cause: e,
      details: { ...base.details, fatal: true },
      hint: 'Check the disk (dmesg), then re-run the command in a new process; do not retry in this one.',
    });
    return this.#fatal;
  }

  async #read(key: string, options: GetOptions, versioned: boolean): Promise<Versioned | undefined> {
    const path = this.#path(key);
    throwIfAborted(options.signal);
    let fh: nodeFs.FileHandle;
    try {
      fh = await this.#fs.open(path, 'r');
    } catch (e) {
      if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return undefined;
      throw unreadable(e, key, path);
    }
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) return undefined;
      const size = Number(st.size);
      if (options.maxBytes !== undefined && size > options.maxBytes) {
        throw new MlstoreError('LIMIT_EXCEEDED', `${key} is ${size} bytes, more than the limit of ${options.maxBytes}`, {
          details: { key, size, maxBytes: options.maxBytes, location: this.location },
        });
      }
      const bytes = new Uint8Array(size);
      let off = 0;
      while (off < size) {
        throwIfAborted(options.signal);
        const { bytesRead } = await fh.read(bytes, off, Math.min(size - off, 1 << 24), off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      if (off !== size) throw new MlstoreError('UNREADABLE_OBJECT', `${key} shrank while being read`, { details: { key, path } });
      return { bytes, version: versioned ? versionToken(st) : '' };
    } catch (e) {
      if (e instanceof MlstoreError) throw e;
      throw unreadable(e, key, path);
    } finally {
      await fh.close().catch(() => {});
    }
  }

  async #versionOf(path: string): Promise<string | null> {
    try {
      return versionToken(await this.#fs.stat(path, { bigint: true }));
    } catch (e) {
      if (errno(e) === 'ENOENT') return null;
      throw fromFsError(e, path, 'stat');
    }
  }

  async #withLock<T>(key: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    const dir = join(this.#root, TMP, 'locks');
    const lock = join(dir, `${createHash('sha256').update(key).digest('hex')}.lock`);
    const deadline = this.#now() + this.#lockTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal);
      try {
        const fh = await this.#fs.open(lock, 'wx', 0o644);
        await fh.close();
        break;
      } catch (e) {
        if (errno(e) === 'ENOENT') {
          await this.#ensureDir(dir);
          continue;
        }
        if (errno(e) !== 'EEXIST') throw fromFsError(e, lock, 'create lock');
      }
      await this.#breakIfStale(lock);
      if (this.#now() > deadline) {
        throw new MlstoreError('LOCKED', `${key} in ${this.location} is locked by another writer`, {
          details: { key, lock },
          hint: `If no other mlstore process is running, remove ${lock}.`,
        });
      }
      await this.#sleep(Math.min(50, 1 + attempt) * Math.random());
    }
    try {
      return await fn();
    } finally {
      await this.#fs.unlink(lock).catch(() => {});
    }
  }

  /** Moves an abandoned lock aside; restores it if it turned out to be a fresh one. */
  async #breakIfStale(lock: string): Promise<void> {
    const st = await this.#fs.stat(lock).catch(() => undefined);
    if (!st || this.#now() - st.mtimeMs < this.#lockStaleMs) return;
    const aside = `${lock}.${randomBytes(6).toString('hex')}.stale`;
    try {
      await this.#fs.rename(lock, aside);
    } catch {
      return; // someone else broke or released it
    }
    const moved = await this.#fs.stat(aside).catch(() => undefined);
    if (moved && moved.ino !== st.ino) await this.#fs.link(aside, lock).catch(() => {});
    await this.#fs.unlink(aside).catch(() => {});
  }
}

function versionToken(st: { ino: bigint; mtimeNs: bigint; ctimeNs: bigint; size: bigint }): string {
  return `${st.ino}:${st.mtimeNs}:${st.ctimeNs}:${st.size}`;
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function unreadable(e: unknown, key: string, path: string): MlstoreError {
  const code = errno(e);
  if (code === 'ENOSPC') return fromFsError(e, path, 'read');
  return new MlstoreError('UNREADABLE_OBJECT', `${key} exists but could not be read (${code ?? String(e)}): ${path}`, {
    cause: e,
    details: { key, path, errno: code },
    hint: code === 'EACCES' || code === 'EPERM' ? `Check the permissions of ${path}.` : undefined,
  });
}
