/**
 * An in-memory Backend for tests. Beyond the contract it offers fault hooks that a real store can
 * suffer from: `corrupt`, `remove`, `replace` change stored bytes behind the caller's back, and
 * `failWith` makes the next operations throw (e.g. a retryable error for decorator tests).
 */
import { MlstoreError, throwIfAborted } from '../errors.js';
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

export type MemoryOp = 'get' | 'put' | 'stat' | 'list' | 'delete' | 'getVersioned' | 'putIfVersion' | 'flush';

export interface MemoryBackendOptions {
  location?: string;
  capabilities?: Partial<BackendCapabilities>;
}

interface Entry {
  bytes: Uint8Array;
  version: number;
}

export class MemoryBackend implements Backend {
  readonly location: string;
  readonly #objects = new Map<string, Entry>();
  readonly #caps: BackendCapabilities;
  #nextVersion = 1;
  #faults: { op: MemoryOp | '*'; error: () => Error; remaining: number }[] = [];
  /** Operations performed, in order (op and key), for tests that assert what was called. */
  readonly calls: { op: MemoryOp; key: string }[] = [];

  constructor(options: MemoryBackendOptions = {}) {
    this.location = options.location ?? 'memory:';
    this.#caps = { atomicCompareAndSwap: true, storedChecksums: false, ...options.capabilities };
  }

  async capabilities(): Promise<BackendCapabilities> {
    return { ...this.#caps };
  }

  async get(key: string, options: GetOptions = {}): Promise<Uint8Array> {
    const v = await this.getVersioned(key, options, 'get');
    if (!v) throw missing(key, this.location);
    return v.bytes;
  }

  async put(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    this.#enter('put', key, options.signal);
    if (this.#objects.has(key)) return;
    this.#objects.set(key, { bytes: bytes.slice(), version: this.#nextVersion++ });
  }

  async stat(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectInfo | undefined> {
    this.#enter('stat', key, options.signal);
    const e = this.#objects.get(key);
    return e && { key, size: e.bytes.length };
  }

  async *list(prefix: string, options: { signal?: AbortSignal } = {}): AsyncIterable<ObjectInfo> {
    if (prefix !== '') {
      if (!prefix.endsWith('/')) throw new MlstoreError('BAD_PATH', `list prefix must end in '/': ${prefix}`);
      assertValidKey(prefix.slice(0, -1));
    }
    this.#enter('list', prefix, options.signal, false);
    for (const [key, e] of [...this.#objects]) {
      throwIfAborted(options.signal);
      if (key.startsWith(prefix)) yield { key, size: e.bytes.length };
    }
  }

  async delete(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#enter('delete', key, options.signal);
    this.#objects.delete(key);
  }

  async getVersioned(key: string, options: GetOptions = {}, op: MemoryOp = 'getVersioned'): Promise<Versioned | undefined> {
    this.#enter(op, key, options.signal);
    const e = this.#objects.get(key);
    if (!e) return undefined;
    if (options.maxBytes !== undefined && e.bytes.length > options.maxBytes) {
      throw new MlstoreError('LIMIT_EXCEEDED', `${key} is ${e.bytes.length} bytes, more than the limit of ${options.maxBytes}`, {
        details: { key, size: e.bytes.length, maxBytes: options.maxBytes },
      });
    }
    return { bytes: e.bytes.slice(), version: String(e.version) };
  }

  async putIfVersion(key: string, bytes: Uint8Array, expected: string | null, options: PutOptions = {}): Promise<boolean> {
    this.#enter('putIfVersion', key, options.signal);
    const current = this.#objects.get(key);
    if ((current ? String(current.version) : null) !== expected) return false;
    this.#objects.set(key, { bytes: bytes.slice(), version: this.#nextVersion++ });
    return true;
  }

  async flush(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#enter('flush', '', options.signal, false);
  }

  async close(): Promise<void> {}

  // ---- fault hooks (tests only) ----

  /** Flips bits of a stored object in place (default: the first byte). */
  corrupt(key: string, mutate: (bytes: Uint8Array) => void = (b) => void (b[0] = (b[0] ?? 0) ^ 0xff)): void {
    const e = this.#objects.get(key);
    if (!e) throw missing(key, this.location);
    mutate(e.bytes);
  }

  /** Deletes a key bypassing everything (a lossy remote). */
  remove(key: string): void {
    this.#objects.delete(key);
  }

  /** Puts arbitrary bytes at a key, existing or not (a swapping or rolling-back remote). */
  replace(key: string, bytes: Uint8Array): void {
    this.#objects.set(key, { bytes: bytes.slice(), version: this.#nextVersion++ });
  }

  /** Raw stored bytes (no copy), or undefined. */
  peek(key: string): Uint8Array | undefined {
    return this.#objects.get(key)?.bytes;
  }

  keys(): string[] {
    return [...this.#objects.keys()];
  }

  /** The next `times` operations of kind `op` ('*' for any) throw `error()` before doing anything. */
  failWith(op: MemoryOp | '*', error: () => Error, times = 1): void {
    this.#faults.push({ op, error, remaining: times });
  }

  #enter(op: MemoryOp, key: string, signal: AbortSignal | undefined, validate = true): void {
    if (validate) assertValidKey(key);
    throwIfAborted(signal);
    this.calls.push({ op, key });
    const fault = this.#faults.find((f) => f.op === '*' || f.op === op);
    if (fault) {
      if (--fault.remaining <= 0) this.#faults.splice(this.#faults.indexOf(fault), 1);
      throw fault.error();
    }
  }
}
