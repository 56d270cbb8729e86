/**
 * Writes one file of a version into the workspace: chunks are read from the store (each one
 * re-hashed against its id), written to a temp file, and the temp file is renamed over the
 * target only when complete. An interrupted checkout therefore leaves every file either in its
 * old or its new state, never half-written. Parent directories are created one component at a
 * time with lstat checks: a symlink that mlstore did not create is never followed. Small
 * one-chunk files (most of a many-file dataset) are written with synchronous calls.
 */
import { chmod, lstat, mkdir, open, rename, unlink } from 'node:fs/promises';
import { chmodSync, closeSync, lstatSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MlstoreError, fromFsError, throwIfAborted } from '../errors.js';
import type { FileEntry } from '../model/tree.js';
import type { Repository } from '../repository/repository.js';
import { toFsPath } from './paths.js';
import { MIN_OFFLOAD_BYTES, poolHasher, returnReadBuffer, takeReadBuffer } from './pool-hash.js';

/** Chunks read (and verified on the chunk pool's threads) ahead of the one being written. */
const PREFETCH = 8;
const hash = poolHasher();

/**
 * What one checkout learns once and reuses for every file: directories already checked (or
 * created) on the way, and which directories share a file system with the store's tmp/. Without
 * it, 20,000 files cost 20,000 × (one lstat per path component + two lstats for the temp path).
 */
export interface MaterializeContext {
  readonly dirs: Set<string>;
  readonly devOf: Map<string, number>;
  /** Temp names: one random prefix per checkout and a counter (random bytes per file cost ≈ 10 µs). */
  readonly tmpPrefix: string;
  tmpCount: number;
}

export function materializeContext(): MaterializeContext {
  return { dirs: new Set(), devOf: new Map(), tmpPrefix: randomBytes(8).toString('hex'), tmpCount: 0 };
}

/** Files of one chunk up to this size are written with synchronous calls (no libuv round trips). */
const SYNC_WRITE_MAX = 1024 * 1024;

export async function materializeFile(repo: Repository, path: string, entry: FileEntry, signal?: AbortSignal, ctx = materializeContext()): Promise<void> {
  const target = toFsPath(repo.root, path);
  await ensureParentDirs(repo.root, path, ctx.dirs);
  let chunks: readonly (readonly [string, number])[] = [[entry.digest, entry.size]];
  if (entry.manifest) {
    const m = await repo.objects.readManifest(entry.manifest, signal ? { signal } : {});
    if (m.size !== entry.size || m.digest !== entry.digest) {
      throw new MlstoreError('CORRUPT_OBJECT', `file manifest ${entry.manifest} does not describe ${path} (size or digest differ from its tree entry)`, {
        details: { id: entry.manifest, kind: 'file manifest', path },
      });
    }
    chunks = m.chunks;
  }
  const tmp = tempPathFor(repo, target, ctx);
  if (chunks.length === 1 && entry.size <= SYNC_WRITE_MAX) {
    const bytes = await repo.objects.getChunk(entry.digest, { expectedSize: entry.size, ...(signal ? { signal } : {}) });
    throwIfAborted(signal);
    return writeSmallFile(tmp, target, path, bytes, entry.mode);
  }
  let fh;
  try {
    fh = await open(tmp, 'wx', entry.mode);
  } catch (e) {
    throw fromFsError(e, tmp, 'create');
  }
  // Read buffers are shared-arena blocks, never reclaimed unless given back; the few this file
  // holds at once are tracked so that each goes back exactly once, whatever happens.
  const taken = new Set<Uint8Array>();
  const takeBuffer = (size: number): Uint8Array => {
    const b = takeReadBuffer(size);
    taken.add(b);
    return b;
  };
  const giveBuffer = (bytes: Uint8Array): void => {
    for (const b of taken) {
      if (b.buffer === bytes.buffer && b.byteOffset === bytes.byteOffset) {
        taken.delete(b);
        returnReadBuffer(b);
        return;
      }
    }
  };
  const giveAll = (): void => {
    for (const b of [...taken]) giveBuffer(b);
  };
  const pending: Promise<Uint8Array>[] = [];
  try {
    // Read ahead a few chunks while writing in order: the store read and the hash overlap the write.
    let next = 0;
    const fill = () => {
      while (pending.length < PREFETCH && next < chunks.length) {
        const [id, size] = chunks[next++]!;
        const offload = size >= MIN_OFFLOAD_BYTES ? { hash, into: takeBuffer } : {};
        const p = repo.objects.getChunk(id, { expectedSize: size, ...offload, ...(signal ? { signal } : {}) });
        p.catch(() => {}); // observed when awaited below
        pending.push(p);
      }
    };
    fill();
    while (pending.length > 0) {
      throwIfAborted(signal);
      const bytes = await pending.shift()!;
      fill();
      await fh.write(bytes);
      giveBuffer(bytes);
    }
    giveAll(); // any a read took but did not return (nothing reads into them any more)
    await fh.close();
    fh = undefined;
    await chmod(tmp, entry.mode);
    await rename(tmp, target);
  } catch (e) {
    await fh?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    await Promise.allSettled(pending); // no read may still be filling a buffer we give back
    giveAll();
    throw fromFsError(e, path, 'write');
  }
}

/** The same temp-then-rename, with synchronous calls: verified bytes already in memory. */
function writeSmallFile(tmp: string, target: string, path: string, bytes: Uint8Array, mode: number): void {
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', mode);
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
    closeSync(fd);
    fd = undefined;
    chmodSync(tmp, mode); // the umask may have masked the mode at creation
    renameSync(tmp, target);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already renamed
    }
    throw fromFsError(e, path, 'write');
  }
}

/** Temp files go to `.mlstore/tmp` (same file system as the workspace in the usual case). */
function tempPathFor(repo: Repository, target: string, ctx: MaterializeContext): string {
  const name = `checkout-${ctx.tmpPrefix}-${(ctx.tmpCount++).toString(36)}`;
  const storeTmp = join(repo.dir, 'tmp');
  const dev = (dir: string): number => {
    let d = ctx.devOf.get(dir);
    if (d === undefined) {
      d = lstatSync(dir, { throwIfNoEntry: false })?.dev ?? -1;
      ctx.devOf.set(dir, d);
    }
    return d;
  };
  const a = dev(storeTmp);
  // rename(2) cannot cross file systems: when the target lives elsewhere, write beside it.
  return a !== -1 && a === dev(dirname(target)) ? join(storeTmp, name) : join(dirname(target), `.mlstore-${name}`);
}

/**
 * Creates the parent directories of `path`, refusing to traverse a symlink or a non-directory.
 * `known`: directories this checkout already checked or created (skipped, then remembered).
 */
export async function ensureParentDirs(root: string, path: string, known?: Set<string>): Promise<void> {
  const parts = path.split('/').slice(0, -1);
  let current = '';
  for (const part of parts) {
    current = current === '' ? part : `${current}/${part}`;
    if (known?.has(current)) continue;
    const fsPath = toFsPath(root, current);
    const st = await lstat(fsPath).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw fromFsError(e, current, 'inspect');
    });
    if (!st) {
      await mkdir(fsPath).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw fromFsError(e, current, 'create');
      });
      known?.add(current);
      continue;
    }
    if (st.isSymbolicLink()) {
      throw new MlstoreError('BAD_PATH', `${current} is a symlink; mlstore will not write through it`, {
        details: { path: current },
        hint: 'Remove the symlink (or check out into another directory).',
      });
    }
    if (!st.isDirectory()) {
      throw new MlstoreError('LOCAL_CHANGES', `${current} is a file where the version has a directory`, {
        details: { path: current },
        hint: 'Move the file away, or use --force.',
      });
    }
    known?.add(current);
  }
}
