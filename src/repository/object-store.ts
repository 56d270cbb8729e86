/**
 * Content-addressed objects on top of a dumb Backend. Ids are computed on write and every read
 * is re-hashed before anything uses the bytes: the backend (a bucket, a shared directory, even
 * the local disk) is untrusted storage. A missing object is MISSING_OBJECT; bytes that do not
 * match their name are CORRUPT_OBJECT; an object that could not be read is UNREADABLE_OBJECT.
 */
import { MlstoreError, isMlstoreError } from '../errors.js';
import { sha256Hex } from '../core/digest.js';
import { decodeCanonical } from '../core/canonical-json.js';
import type { Backend } from '../storage/backend.js';
import { LIMITS } from '../model/limits.js';
import type { Namespace } from '../model/object-kind.js';
import { decodeCommit, type Commit } from '../model/commit.js';
import { decodeTree, type Tree } from '../model/tree.js';
import { decodeFileManifest, type FileManifest } from '../model/file-manifest.js';
import { objectKey } from './layout.js';

export interface ReadOptions {
  signal?: AbortSignal;
  /** The size the referencing edge promised; a different size is CORRUPT_OBJECT. */
  expectedSize?: number;
  /** Computes the SHA-256 (hex) that verifies the bytes, e.g. on a worker thread; default: inline node:crypto. */
  hash?: (bytes: Uint8Array) => Promise<string>;
  /** Where the backend should put the bytes (GetOptions.into). */
  into?: (size: number) => Uint8Array;
}

type MetaKind = 'tree' | 'file manifest' | 'commit';

export interface PutObjectOptions {
  /**
   * Check a copy the store already has, and replace it if damaged (`add --verify`): a store
   * keeps an object of the right size without reading it, so a bit-rotted or overwritten copy
   * would otherwise stay, however often its file is added again. The bad bytes are kept under
   * `quarantine/<ns>/<id>.<time>`, as `fsck --repair-from` does.
   */
  heal?: boolean;
}

/** A damaged stored copy that a heal replaced with the caller's good bytes. */
export interface Healed {
  kind: 'chunk' | 'metadata';
  id: string;
  /** Where the bad bytes went: a key of the store. */
  quarantined: string;
}

export class ObjectStore {
  /** Ids known to be present in this store, so repeated puts skip the backend round-trip. */
  private readonly present = new Set<string>();
  /** Heals in progress by key: a chunk that occurs twice in a file is checked once. */
  private readonly healing = new Map<string, Promise<void>>();
  /** Damaged copies that puts with `heal` replaced, in this process. */
  readonly healed: Healed[] = [];

  constructor(readonly backend: Backend) {}

  async putChunk(bytes: Uint8Array, id = sha256Hex(bytes), signal?: AbortSignal, options: PutObjectOptions = {}): Promise<string> {
    await this.put('chunks', id, bytes, signal, options);
    return id;
  }

  async putMeta(bytes: Uint8Array, signal?: AbortSignal, options: PutObjectOptions = {}): Promise<string> {
    const id = sha256Hex(bytes);
    await this.put('meta', id, bytes, signal, options);
    return id;
  }

  private async put(ns: Namespace, id: string, bytes: Uint8Array, signal?: AbortSignal, options: PutObjectOptions = {}): Promise<void> {
    const key = objectKey(ns, id);
    if (this.present.has(key)) return;
    if (options.heal) {
      let healing = this.healing.get(key);
      if (!healing) {
        healing = this.heal(ns, id, key, bytes, signal);
        this.healing.set(key, healing);
      }
      try {
        await healing;
      } finally {
        this.healing.delete(key);
      }
      if (this.present.has(key)) return;
    }
    await this.backend.put(key, bytes, { sha256: id, ...(signal ? { signal } : {}) });
    this.present.add(key);
  }

  /**
   * With the object's good `bytes` in hand: if the store has a copy that differs, move it to
   * quarantine and delete it, so the put that follows writes the good one. `bytes` are known to
   * be good: the caller computed `id` from them.
   */
  private async heal(ns: Namespace, id: string, key: string, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    const sig = signal ? { signal } : {};
    let stored: Uint8Array;
    try {
      // bounded like any read: a stored copy over the namespace's limit fails with LIMIT_EXCEEDED
      stored = await this.backend.get(key, { maxBytes: Math.max(bytes.length, ns === 'chunks' ? LIMITS.maxChunkBytes : LIMITS.maxMetaBytes), ...sig });
    } catch (e) {
      if (isMlstoreError(e, 'MISSING_OBJECT')) return; // missing: the put writes it
      throw e; // unreadable (permissions, I/O): nothing safe to do with it here
    }
    if (Buffer.from(stored.buffer, stored.byteOffset, stored.length).equals(bytes)) {
      this.present.add(key);
      return;
    }
    const quarantined = `quarantine/${ns}/${id}.${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await this.backend.put(quarantined, stored, sig);
    await this.backend.flush(sig); // the bad bytes are safe before the only copy of them goes
    await this.backend.delete(key, sig);
    this.healed.push({ kind: ns === 'chunks' ? 'chunk' : 'metadata', id, quarantined });
  }

  async has(ns: Namespace, id: string, signal?: AbortSignal): Promise<boolean> {
    const key = objectKey(ns, id);
    if (this.present.has(key)) return true;
    const info = await this.backend.stat(key, signal ? { signal } : {});
    if (info) this.present.add(key);
    return info !== undefined;
  }

  /** Reads and verifies one object's bytes. `kind` names it in errors ("chunk", "tree" …). */
  async getVerified(ns: Namespace, id: string, kind: string, options: ReadOptions = {}): Promise<Uint8Array> {
    const maxBytes = ns === 'chunks' ? LIMITS.maxChunkBytes : LIMITS.maxMetaBytes;
    let bytes: Uint8Array;
    try {
      bytes = await this.backend.get(objectKey(ns, id), {
        maxBytes,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.into ? { into: options.into } : {}),
      });
    } catch (e) {
      if (isMlstoreError(e)) {
        e.details['id'] ??= id;
        e.details['kind'] ??= kind;
        if (e.code === 'MISSING_OBJECT') {
          throw new MlstoreError('MISSING_OBJECT', `${kind} ${id} is missing from ${this.backend.location}`, {
            details: { id, kind, location: this.backend.location },
            cause: e,
          });
        }
      }
      throw e;
    }
    const actual = options.hash ? await options.hash(bytes) : sha256Hex(bytes);
    if (actual !== id) {
      throw new MlstoreError('CORRUPT_OBJECT', `${kind} ${id} in ${this.backend.location} is corrupt: its bytes hash to ${actual}`, {
        details: { id, kind, actual, location: this.backend.location },
        hint: 'Run `mlstore fsck` to see what it affects; `fsck --repair-from REMOTE` restores a good copy, or `mlstore add --verify PATH` from the workspace.',
      });
    }
    if (options.expectedSize !== undefined && bytes.length !== options.expectedSize) {
      throw new MlstoreError('CORRUPT_OBJECT', `${kind} ${id} has ${bytes.length} bytes where ${options.expectedSize} were recorded`, {
        details: { id, kind, size: bytes.length, expectedSize: options.expectedSize },
      });
    }
    this.present.add(objectKey(ns, id));
    return bytes;
  }

  getChunk(id: string, options: ReadOptions = {}): Promise<Uint8Array> {
    return this.getVerified('chunks', id, 'chunk', options);
  }

  readTree(id: string, options: ReadOptions = {}): Promise<Tree> {
    return this.readMeta(id, 'tree', decodeTree, options);
  }

  readManifest(id: string, options: ReadOptions = {}): Promise<FileManifest> {
    return this.readMeta(id, 'file manifest', decodeFileManifest, options);
  }

  readCommit(id: string, options: ReadOptions = {}): Promise<Commit> {
    return this.readMeta(id, 'commit', decodeCommit, options);
  }

  /** The raw, verified bytes of a commit (what signatures cover). */
  async readCommitBytes(id: string, options: ReadOptions = {}): Promise<Uint8Array> {
    const bytes = await this.getVerified('meta', id, 'commit', options);
    this.decode(id, 'commit', bytes, decodeCommit);
    return bytes;
  }

  private async readMeta<T>(id: string, kind: MetaKind, decode: (b: Uint8Array) => T, options: ReadOptions): Promise<T> {
    const bytes = await this.getVerified('meta', id, kind, options);
    return this.decode(id, kind, bytes, decode);
  }

  private decode<T>(id: string, kind: MetaKind, bytes: Uint8Array, decode: (b: Uint8Array) => T): T {
    try {
      return decode(bytes);
    } catch (e) {
      if (!isMlstoreError(e, 'CORRUPT_OBJECT')) throw e;
      // The hash matched, so these are the stored bytes — but not a valid <kind>. Tell an edge
      // pointing at another kind of object apart from a crafted or broken object.
      const found = typeOf(bytes);
      const expected = kind === 'file manifest' ? 'file' : kind;
      if (found && found !== expected) {
        throw new MlstoreError('WRONG_OBJECT_KIND', `object ${id} is a ${found} object where a ${kind} was expected`, {
          details: { id, kind, found },
          cause: e,
        });
      }
      throw new MlstoreError('CORRUPT_OBJECT', `${kind} ${id} is invalid: ${e.message}`, { details: { id, kind }, cause: e });
    }
  }
}

function typeOf(bytes: Uint8Array): string | undefined {
  try {
    const v = decodeCanonical(bytes) as Record<string, unknown> | null;
    const t = v && typeof v === 'object' ? v['type'] : undefined;
    return typeof t === 'string' ? t : undefined;
  } catch {
    return undefined;
  }
}
