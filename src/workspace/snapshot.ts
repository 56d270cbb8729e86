/**
 * Snapshots the tracked part of a workspace: every tracked file becomes a tree FileEntry.
 * In 'store' mode (add, commit) new content is chunked into the store; in 'hash' mode (status)
 * files are only hashed. Unchanged files come from the stat cache without being read.
 * Cache entries are written only after the store is flushed, so the cache never claims an
 * object that is not durably stored.
 */
import { MlstoreError, throwIfAborted } from '../errors.js';
import { sha256Hex } from '../core/digest.js';
import { encodeFileManifest } from '../model/file-manifest.js';
import type { FileEntry, FileMode } from '../model/tree.js';
import type { Repository } from '../repository/repository.js';
import type { CachedFile } from '../repository/index-db.js';
import type { PutObjectOptions } from '../repository/object-store.js';
import { scanWorkspace, type ScanResult, type Skipped } from './scan.js';
import { cacheMatches, isCacheable, parseIdentity } from './stat-cache.js';
import { toFsPath, baseName } from './paths.js';
import { hashFile } from './hash-file.js';
import { readSmallFile } from './small-file.js';
import type { FileStat } from './file-identity.js';

export type SnapshotMode = 'store' | 'hash';

export interface SnapshotOptions {
  mode: SnapshotMode;
  /**
   * Ignore the stat cache and re-read every file; in 'store' mode also check the copies the
   * store already has of what is read, and replace damaged ones (ObjectStore heal).
   */
  verify?: boolean;
  signal?: AbortSignal;
}

export interface Snapshot {
  files: Map<string, FileEntry>;
  dirs: string[];
  skipped: Skipped[];
  missingRoots: string[];
  /** Files actually read (cache misses) and their bytes. */
  read: { files: number; bytes: number };
}

/** Small files read between two turns of the event loop. */
const YIELD_EVERY = 64;

export async function snapshotWorkspace(repo: Repository, roots: readonly string[], options: SnapshotOptions): Promise<Snapshot> {
  // Small and large files are read side by side; the first failure stops the other side too, so
  // nothing still writes into the store once this returns (the caller then releases the lock).
  const stop = new AbortController();
  const forward = () => stop.abort(options.signal?.reason);
  if (options.signal?.aborted) forward();
  options.signal?.addEventListener('abort', forward);
  try {
    return await snapshot(repo, roots, options, stop);
  } finally {
    options.signal?.removeEventListener('abort', forward);
  }
}

async function snapshot(repo: Repository, roots: readonly string[], options: SnapshotOptions, stop: AbortController): Promise<Snapshot> {
  const signal = stop.signal;
  // LevelDB opens and reads the cache on its own thread while the scan runs
  const opening = repo.index();
  const reading = options.verify ? undefined : opening.then((index) => index?.getFilesUnder(roots));
  reading?.catch(() => {}); // observed below; not an unhandled rejection if the scan fails first
  const scan: ScanResult = await scanWorkspace(repo.root, roots, signal);
  const index = await opening;
  const cached = await reading;

  const heal = { heal: options.mode === 'store' && options.verify === true };
  const files = new Map<string, FileEntry>();
  const toCache: [string, CachedFile][] = [];
  const read = { files: 0, bytes: 0 };
  const total = scan.files.length;
  /** Every small file (< chunking.min) is read into this one buffer, in turn. */
  const smallBuffer = new Uint8Array(repo.config.chunking.min);
  let done = 0;

  /** Reads one file not served by the cache; records its entry and (maybe) its cache line. */
  const ingest = async (file: ScanResult['files'][number], small: boolean): Promise<void> => {
    throwIfAborted(signal);
    const mode = fileMode(file.mode);
    const stat = parseIdentity(file.identity);
    const readStart = repo.env.now().getTime();
    const fsPath = toFsPath(repo.root, file.path);
    let cache: CachedFile;
    if (small) {
      // the buffer is reused for the next small file only after putChunk resolved (the store
      // has written or copied the bytes by then); small files are read one after another
      const { bytes } = readSmallFile(fsPath, stat, smallBuffer);
      const digest = sha256Hex(bytes);
      if (options.mode === 'store') await repo.objects.putChunk(bytes, digest, signal, heal);
      cache = { identity: file.identity, size: bytes.length, digest };
      if (options.mode === 'store') cache.stored = { manifest: null };
      files.set(file.path, entryFor(file.path, mode, bytes.length, digest, null));
    } else if (options.mode === 'hash') {
      const { size, digest } = await hashFile(fsPath, { expect: stat, ...(signal ? { signal } : {}) });
      cache = { identity: file.identity, size, digest };
      files.set(file.path, entryFor(file.path, mode, size, digest, null));
    } else {
      const manifest = await ingestFile(repo, fsPath, stat, heal, signal);
      cache = { identity: file.identity, size: manifest.size, digest: manifest.digest, stored: { manifest: manifest.manifestId } };
      files.set(file.path, entryFor(file.path, mode, manifest.size, manifest.digest, manifest.manifestId));
    }
    read.files++;
    read.bytes += cache.size;
    if (isCacheable(stat, readStart)) toCache.push([file.path, cache]);
    done++;
    repo.env.progress?.({ phase: options.mode === 'store' ? 'adding' : 'hashing', done, total, bytes: read.bytes });
  };

  const small: ScanResult['files'] = [];
  const large: ScanResult['files'] = [];
  scan.files.forEach((file) => {
    const hit = cached?.get(file.path);
    if (cacheMatches(hit, file.identity) && (options.mode === 'hash' || hit.stored)) {
      files.set(file.path, entryFor(file.path, fileMode(file.mode), hit.size, hit.digest, hit.stored?.manifest ?? null));
      done++;
    } else {
      (file.size < repo.config.chunking.min ? small : large).push(file);
    }
  });
  // Only when something will be written (starting the syncfs helper forks, and every page this
  // process writes afterwards faults once more), and before the chunker grows the process
  // (local-backend.ts, prepareWrites).
  if (options.mode === 'store' && small.length + large.length > 0) repo.backend.prepareWrites?.();
  // Small files one after another with synchronous reads (small-file.ts), yielding to the event
  // loop now and then so Ctrl-C and progress get through; large files one at a time beside them,
  // each already using every core through the chunk pool.
  let failure: { error: unknown } | undefined;
  const side = (run: () => Promise<void>) =>
    run().catch((error: unknown) => {
      failure ??= { error };
      stop.abort(error);
    });
  await Promise.all([
    side(async () => {
      for (let i = 0; i < small.length; i++) {
        if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise<void>((r) => setImmediate(r));
        await ingest(small[i]!, true);
      }
    }),
    side(async () => {
      for (const file of large) await ingest(file, false);
    }),
  ]);
  if (failure) throw failure.error;

  if (options.mode === 'store') await repo.backend.flush(signal ? { signal } : {});
  await index?.putFiles(toCache);
  return { files, dirs: scan.dirs, skipped: scan.skipped, missingRoots: scan.missingRoots, read };
}

interface Ingested {
  size: number;
  digest: string;
  manifestId: string | null;
}

/** Chunks one file into the store: chunks first, then its manifest (dependency order). */
async function ingestFile(repo: Repository, fsPath: string, expect: FileStat, heal: PutObjectOptions, signal?: AbortSignal): Promise<Ingested> {
  // loaded on first use: the chunker and its worker pool are not needed when nothing large changed
  const { chunkFile } = await import('./chunk-file.js');
  const result = await chunkFile(fsPath, repo.config.chunking, {
    expect,
    ...(signal ? { signal } : {}),
    onChunk: async (id: string, bytes: Uint8Array) => {
      await repo.objects.putChunk(bytes, id, signal, heal);
    },
  });
  if (result.chunks.length === 0) {
    // The empty file: its one (empty) chunk is stored so every file resolves to chunks uniformly.
    await repo.objects.putChunk(new Uint8Array(0), result.digest, signal, heal);
    return { size: 0, digest: result.digest, manifestId: null };
  }
  if (result.chunks.length === 1) {
    if (result.chunks[0]![0] !== result.digest) {
      throw new MlstoreError('INTERNAL', `one-chunk file ${fsPath}: chunk id differs from file digest`);
    }
    return { size: result.size, digest: result.digest, manifestId: null };
  }
  const manifestId = await repo.objects.putMeta(
    encodeFileManifest({ type: 'file', size: result.size, digest: result.digest, chunks: result.chunks }),
    signal,
    heal,
  );
  return { size: result.size, digest: result.digest, manifestId };
}

function fileMode(mode: number): FileMode {
  return (mode & 0o111) !== 0 ? 0o755 : 0o644;
}

function entryFor(path: string, mode: FileMode, size: number, digest: string, manifest: string | null): FileEntry {
  const entry: FileEntry = { type: 'file', name: baseName(path), mode, size, digest };
  if (manifest) entry.manifest = manifest;
  return entry;
}

export const EMPTY_DIGEST = sha256Hex(new Uint8Array(0));
