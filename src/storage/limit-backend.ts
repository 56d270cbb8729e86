/**
 * Bounds how many operations run at once against the inner backend (p-limit). Wrap it outside
 * RetryBackend (`new LimitBackend(new RetryBackend(s3))`) so an operation backing off after
 * throttling keeps its slot and the pressure on the server really drops. `list` pages and
 * `flush`/`close` are not counted.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import { throwIfAborted } from '../errors.js';
import type { Backend, BackendCapabilities, GetOptions, ObjectInfo, PutOptions, Versioned } from './backend.js';

export interface LimitOptions {
  /** Operations in flight at most. Default 32. */
  concurrency?: number;
}

export class LimitBackend implements Backend {
  readonly location: string;
  readonly inner: Backend;
  readonly #limit: LimitFunction;

  constructor(inner: Backend, options: LimitOptions = {}) {
    this.inner = inner;
    this.location = inner.location;
    this.#limit = pLimit(options.concurrency ?? 32);
  }

  /** Operations running now / waiting for a slot (for tests and progress). */
  get activeCount(): number {
    return this.#limit.activeCount;
  }
  get pendingCount(): number {
    return this.#limit.pendingCount;
  }

  capabilities(): Promise<BackendCapabilities> {
    return this.inner.capabilities();
  }
  get(key: string, options?: GetOptions): Promise<Uint8Array> {
    return this.#run(options?.signal, () => this.inner.get(key, options));
  }
  put(key: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    return this.#run(options?.signal, () => this.inner.put(key, bytes, options));
  }
  stat(key: string, options?: { signal?: AbortSignal }): Promise<ObjectInfo | undefined> {
    return this.#run(options?.signal, () => this.inner.stat(key, options));
  }
  list(prefix: string, options?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, options);
  }
  delete(key: string, options?: { signal?: AbortSignal }): Promise<void> {
    return this.#run(options?.signal, () => this.inner.delete(key, options));
  }
  getVersioned(key: string, options?: GetOptions): Promise<Versioned | undefined> {
    return this.#run(options?.signal, () => this.inner.getVersioned(key, options));
  }
  putIfVersion(key: string, bytes: Uint8Array, expected: string | null, options?: PutOptions): Promise<boolean> {
    return this.#run(options?.signal, () => this.inner.putIfVersion(key, bytes, expected, options));
  }
  flush(options?: { signal?: AbortSignal }): Promise<void> {
    return this.inner.flush(options);
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  async #run<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    throwIfAborted(signal);
    return this.#limit(() => {
      throwIfAborted(signal); // aborted while queued: do not start
      return fn();
    });
  }
}
