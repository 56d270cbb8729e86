/**
 * File-level reads and writes of LocalBackend's loose objects, apart from the backend's
 * bookkeeping (staging, batches, packs): reading one object file whole, checked against its
 * size and the caller's limit, and writing one temp file with as few pool round trips as it can.
 */
import type * as nodeFs from 'node:fs/promises';
import { closeSync, constants, fstatSync, fsync, openSync, read, unlinkSync, write, writeSync, type BigIntStats } from 'node:fs';
import { dirname } from 'node:path';
import { MlstoreError, fromFsError, throwIfAborted } from '../errors.js';
import type { GetOptions, Versioned } from './backend.js';

type OpenFs = Pick<typeof nodeFs, 'open'>;

/**
 * Reads the object file at `path` (or first at `staged`, its temp file while its batch has not
 * been renamed into place). Undefined when there is no such file; UNREADABLE_OBJECT when it
 * exists but cannot be read or shrinks meanwhile; LIMIT_EXCEEDED above `options.maxBytes`.
 * With `fs` undefined (Node's own file system) the open, fstat and close are synchronous and
 * only the reads go to the libuv pool: as pool requests they were three more round trips per
 * object, each with a thread wake-up (docs/performance.md); an injected `fs` (tests) is used
 * through its promises.
 */
export async function readLooseFile(
  fs: OpenFs | undefined,
  key: string,
  path: string,
  staged: string | undefined,
  options: GetOptions,
  versioned: boolean,
  location: string,
): Promise<Versioned | undefined> {
  let file: ObjectFile;
  for (let real = staged ?? path; ; real = path) {
    try {
      // O_NONBLOCK: a FIFO planted at an object's path (a shared directory remote) must not block
      // the synchronous open; it then reads as no object, as a directory does.
      file = fs ? handleFile(await fs.open(real, 'r')) : fdFile(openSync(real, constants.O_RDONLY | constants.O_NONBLOCK));
      break;
    } catch (e) {
      if (real !== path && errno(e) === 'ENOENT') continue; // its batch renamed it meanwhile
      if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return undefined;
      throw unreadable(e, key, path);
    }
  }
  try {
    const st = await file.stat();
    if (!st.isFile()) return undefined;
    const size = Number(st.size);
    if (options.maxBytes !== undefined && size > options.maxBytes) {
      throw new MlstoreError('LIMIT_EXCEEDED', `${key} is ${size} bytes, more than the limit of ${options.maxBytes}`, {
        details: { key, size, maxBytes: options.maxBytes, location },
      });
    }
    const bytes = options.into ? options.into(size) : new Uint8Array(size);
    if (bytes.length !== size) throw new MlstoreError('INTERNAL', `read buffer for ${key} has ${bytes.length} bytes, not ${size}`);
    let off = 0;
    while (off < size) {
      throwIfAborted(options.signal);
      const n = await file.read(bytes, off, Math.min(size - off, 1 << 24), off);
      if (n === 0) break;
      off += n;
    }
    if (off !== size) throw new MlstoreError('UNREADABLE_OBJECT', `${key} shrank while being read`, { details: { key, path } });
    return { bytes, version: versioned ? versionToken(st) : '' };
  } catch (e) {
    if (e instanceof MlstoreError) throw e;
    throw unreadable(e, key, path);
  } finally {
    await file.close();
  }
}

/** An open object file, through a FileHandle or a plain descriptor. */
interface ObjectFile {
  stat(): Promise<BigIntStats>;
  read(into: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Never throws: a failed close of a file only read from loses nothing. */
  close(): Promise<void>;
}

function handleFile(fh: nodeFs.FileHandle): ObjectFile {
  return {
    stat: () => fh.stat({ bigint: true }),
    read: async (into, offset, length, position) => (await fh.read(into, offset, length, position)).bytesRead,
    close: () => fh.close().catch(() => {}),
  };
}

function fdFile(fd: number): ObjectFile {
  return {
    stat: async () => fstatSync(fd, { bigint: true }),
    read: (into, offset, length, position) => new Promise((resolve, reject) => read(fd, into, offset, length, position, (e, n) => (e ? reject(e) : resolve(n)))),
    close: async () => {
      try {
        closeSync(fd);
      } catch {
        // the descriptor is released all the same
      }
    },
  };
}

/**
 * A small unsynced temp file through synchronous calls: for many small objects the libuv round
 * trips of open/write/close cost more than the writing (docs/storage.md). Creates the directory
 * (through `ensureDirSync`) only when the first create says it is missing.
 */
export function writeSmallFileSync(tmp: string, bytes: Uint8Array, ensureDirSync: (dir: string) => void): void {
  const fd = createSync(tmp, ensureDirSync);
  const closed = { done: false };
  try {
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
    closeChecked(fd, closed);
  } catch (e) {
    abandon(fd, closed, tmp);
    throw fromFsError(e, tmp, 'write');
  }
}

/** Pieces of a large write: single writes of a whole 1–4 MiB chunk cost 0.8 s more system time per 2 GiB here (docs/performance.md). */
const WRITE_PIECE = 512 * 1024;

/**
 * A large unsynced temp file: the bytes are written on the libuv pool (copying them into the
 * page cache can take milliseconds), the create and the close synchronously (as pool requests
 * they were two more round trips per chunk, each with a thread wake-up).
 */
export async function writeLargeFile(tmp: string, bytes: Uint8Array, ensureDirSync: (dir: string) => void): Promise<void> {
  const fd = createSync(tmp, ensureDirSync);
  const closed = { done: false };
  try {
    for (let done = 0; done < bytes.length; ) {
      const n = Math.min(WRITE_PIECE, bytes.length - done);
      done += await writeAt(fd, bytes, done, n, done);
    }
    closeChecked(fd, closed);
  } catch (e) {
    abandon(fd, closed, tmp);
    throw fromFsError(e, tmp, 'write');
  }
}

/**
 * Closes a file just written; a failing close is a failed write (network file systems report
 * write errors there). `closed` is set first: the descriptor is released even when close fails,
 * and closing it again could close another file that reused the number meanwhile.
 */
export function closeChecked(fd: number, closed: { done: boolean }): void {
  closed.done = true;
  closeSync(fd);
}

/** After a failed write: closes the descriptor unless already done, removes the temp file. */
export function abandon(fd: number, closed: { done: boolean }, tmp: string): void {
  if (!closed.done) {
    closed.done = true;
    try {
      closeSync(fd);
    } catch {
      // released all the same
    }
  }
  try {
    unlinkSync(tmp);
  } catch {
    // already gone
  }
}

/** Creates a new file (O_EXCL), creating its directory only when the first try says it is missing. */
function createSync(tmp: string, ensureDirSync: (dir: string) => void): number {
  try {
    return openSync(tmp, 'wx', 0o644);
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw fromFsError(e, tmp, 'create');
    ensureDirSync(dirname(tmp));
    try {
      return openSync(tmp, 'wx', 0o644);
    } catch (e2) {
      throw fromFsError(e2, tmp, 'create');
    }
  }
}

/** A positional write on the libuv pool, for a descriptor opened synchronously (FileHandle needs an async open). */
export function writeAt(fd: number, bytes: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, bytes, offset, length, position, (e, n) => (e ? reject(e) : resolve(n))));
}

/** fsync on the libuv pool. */
export function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve())));
}

/** The compare-and-swap version of a file: every CAS write renames a new inode into place. */
export function versionToken(st: { ino: bigint; mtimeNs: bigint; ctimeNs: bigint; size: bigint }): string {
  return `${st.ino}:${st.mtimeNs}:${st.ctimeNs}:${st.size}`;
}

export function unreadable(e: unknown, key: string, path: string): MlstoreError {
  const code = errno(e);
  if (code === 'ENOSPC') return fromFsError(e, path, 'read');
  return new MlstoreError('UNREADABLE_OBJECT', `${key} exists but could not be read (${code ?? String(e)}): ${path}`, {
    cause: e,
    details: { key, path, errno: code },
    hint: code === 'EACCES' || code === 'EPERM' ? `Check the permissions of ${path}.` : undefined,
  });
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}
