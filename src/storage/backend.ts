/**
 * The storage contract: a dumb key → bytes store. Backends move opaque bytes; they know nothing
 * of hashes, object kinds or layout (that is src/repository's job, which re-hashes every read).
 *
 * Keys are relative paths of segments made of [A-Za-z0-9._-] joined by '/', never '.' or '..'
 * (see `assertValidKey`). Two kinds of key live in a backend:
 *  - immutable objects (`put`/`get`): once a key exists its bytes never change; a second `put`
 *    of the same key is a no-op success (content addressing makes the bytes the same).
 *  - mutable documents such as refs (`getVersioned`/`putIfVersion`/`delete`): updated only by
 *    compare-and-swap so two writers can never silently overwrite each other.
 *
 * Errors (all MlstoreError):
 *  - MISSING_OBJECT    `get` of a key that does not exist (details.key)
 *  - UNREADABLE_OBJECT the key exists but could not be read (permissions, I/O)
 *  - LIMIT_EXCEEDED    the object is larger than `maxBytes`
 *  - NO_SPACE / IO_ERROR local write failures; REMOTE_* for network stores
 *  - INTERRUPTED       the AbortSignal fired
 */
import { MlstoreError } from '../errors.js';

export interface GetOptions {
  signal?: AbortSignal;
  /** Hard bound on the object's size; larger objects fail with LIMIT_EXCEEDED without being buffered. */
  maxBytes?: number;
  /**
   * Where to put the bytes, for backends that read into memory they allocate (local directories):
   * called with the object's size, returns a buffer of exactly that size — e.g. a slice of a
   * reused SharedArrayBuffer that a worker thread can hash without a copy. Other backends ignore
   * it and return their own buffer.
   */
  into?: (size: number) => Uint8Array;
}

export interface PutOptions {
  signal?: AbortSignal;
  /** Lowercase hex SHA-256 of the bytes, when the caller knows it: S3 sends it as ChecksumSHA256 so the server checks it. */
  sha256?: string;
}

export interface ObjectInfo {
  key: string;
  size: number;
  /** Hex SHA-256 the server stored with the object, when it keeps one (S3 checksums). */
  sha256?: string;
}

export interface Versioned {
  bytes: Uint8Array;
  /** Opaque token for compare-and-swap (an ETag, an mtime+inode …). */
  version: string;
}

export interface BackendCapabilities {
  /** putIfVersion is atomic on the server (S3 If-Match/If-None-Match, O_EXCL + rename locally). */
  atomicCompareAndSwap: boolean;
  /** stat() returns a server-stored SHA-256 (used by `fsck --fast`). */
  storedChecksums: boolean;
}

export interface Backend {
  /** Human-readable location for messages, e.g. "s3://bucket/prefix" or a directory path. */
  readonly location: string;
  capabilities(): Promise<BackendCapabilities>;

  get(key: string, options?: GetOptions): Promise<Uint8Array>;
  /** Writes an immutable object atomically: a reader sees all of it or nothing. */
  put(key: string, bytes: Uint8Array, options?: PutOptions): Promise<void>;
  /** Size (and stored checksum) of a key, or undefined when it does not exist. */
  stat(key: string, options?: { signal?: AbortSignal }): Promise<ObjectInfo | undefined>;
  /** Every key under a prefix (which ends in '/' or is ''), in no particular order. */
  list(prefix: string, options?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo>;
  delete(key: string, options?: { signal?: AbortSignal }): Promise<void>;

  getVersioned(key: string, options?: GetOptions): Promise<Versioned | undefined>;
  /**
   * Writes `bytes` only if the key's current version is `expected` (null: only if absent).
   * Returns false when another writer got there first; the caller re-reads and decides.
   * Two writers racing from the same version with byte-identical content may both be told true
   * on some servers (S3 resolves ambiguous 5xx answers by comparing ETags): the stored state is
   * what both asked for. A false after a retried request may hide a write that did land; the
   * re-read shows it.
   */
  putIfVersion(key: string, bytes: Uint8Array, expected: string | null, options?: PutOptions): Promise<boolean>;

  /**
   * Optional hint that many puts follow (add and commit give it once they know they will store
   * something): a backend may start now what its writes will need, while the process is still
   * small. Never required.
   */
  prepareWrites?(): void;
  /**
   * Makes every `put` that has resolved so far durable (fsync of files and directories for
   * local disk; a no-op for S3). The repository calls it before moving a ref, so a crash never
   * leaves a ref pointing at an object that was not on disk. An error here is fatal, never retried.
   */
  flush(options?: { signal?: AbortSignal }): Promise<void>;
  close(): Promise<void>;
}

const SEGMENT_RE = /^[A-Za-z0-9._-]{1,255}$/;

export function assertValidKey(key: string): void {
  const segments = key.split('/');
  const ok =
    key.length > 0 &&
    key.length <= 1024 &&
    segments.every((s) => SEGMENT_RE.test(s) && s !== '.' && s !== '..');
  if (!ok) throw new MlstoreError('BAD_PATH', `invalid storage key ${JSON.stringify(key)}`, { details: { key } });
}

export function missing(key: string, location: string): MlstoreError {
  return new MlstoreError('MISSING_OBJECT', `${key} is missing from ${location}`, { details: { key, location } });
}
