/**
 * Retries transient failures with exponential backoff and full jitter (sleep a random time in
 * [0, min(maxDelay, base·2^attempt)]), bounded by attempts and by total time.
 *
 * What is transient is decided by the backend that raised the error: an MlstoreError with
 * `details.retryable === true` (S3 throttling 503 SlowDown / 429, other 5xx, connection resets,
 * timeouts). Nothing else is retried — and never NO_SPACE, auth, forbidden, missing, corrupt,
 * limit or interrupted errors, whatever they claim. `flush` is never retried (an fsync error is
 * fatal). The final error gets `details.attempts`.
 *
 * A retried `putIfVersion` whose first attempt reached the server but lost its response returns
 * false (its own write moved the version); callers already re-read after false, and will find
 * their own bytes. A retried `list` restarts and skips keys it already yielded.
 */
import { MlstoreError, type ErrorCode, throwIfAborted } from '../errors.js';
import type { Backend, BackendCapabilities, GetOptions, ObjectInfo, PutOptions, Versioned } from './backend.js';

export interface RetryOptions {
  /** Total tries including the first. Default 6. */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** No new attempt starts once this much time has passed since the first. Default 60 s. */
  maxTotalMs?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  /** Uniform in [0, 1). */
  random?: () => number;
  onRetry?: (info: { op: string; attempt: number; delayMs: number; error: MlstoreError }) => void;
}

const NEVER_RETRY: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'NO_SPACE', 'REMOTE_AUTH', 'REMOTE_FORBIDDEN', 'REMOTE_NOT_FOUND', 'MISSING_OBJECT', 'CORRUPT_OBJECT',
  'LIMIT_EXCEEDED', 'INTERRUPTED', 'BAD_PATH', 'USAGE', 'BAD_CONFIG',
]);

export function isRetryable(e: unknown): e is MlstoreError {
  return e instanceof MlstoreError && e.details.retryable === true && !NEVER_RETRY.has(e.code);
}

export class RetryBackend implements Backend {
  readonly location: string;
  readonly inner: Backend;
  readonly #o: Required<Omit<RetryOptions, 'onRetry'>> & Pick<RetryOptions, 'onRetry'>;

  constructor(inner: Backend, options: RetryOptions = {}) {
    this.inner = inner;
    this.location = inner.location;
    this.#o = {
      maxAttempts: options.maxAttempts ?? 6,
      baseDelayMs: options.baseDelayMs ?? 100,
      maxDelayMs: options.maxDelayMs ?? 10_000,
      maxTotalMs: options.maxTotalMs ?? 60_000,
      sleep: options.sleep ?? defaultSleep,
      now: options.now ?? (() => Date.now()),
      random: options.random ?? Math.random,
      onRetry: options.onRetry,
    };
  }

  capabilities(): Promise<BackendCapabilities> {
    return this.#run('capabilities', undefined, () => this.inner.capabilities());
  }
  get(key: string, options?: GetOptions): Promise<Uint8Array> {
    return this.#run('get', options?.signal, () => this.inner.get(key, options));
  }
  put(key: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    return this.#run('put', options?.signal, () => this.inner.put(key, bytes, options));
  }
  stat(key: string, options?: { signal?: AbortSignal }): Promise<ObjectInfo | undefined> {
    return this.#run('stat', options?.signal, () => this.inner.stat(key, options));
  }
  delete(key: string, options?: { signal?: AbortSignal }): Promise<void> {
    return this.#run('delete', options?.signal, () => this.inner.delete(key, options));
  }
  getVersioned(key: string, options?: GetOptions): Promise<Versioned | undefined> {
    return this.#run('getVersioned', options?.signal, () => this.inner.getVersioned(key, options));
  }
  putIfVersion(key: string, bytes: Uint8Array, expected: string | null, options?: PutOptions): Promise<boolean> {
    return this.#run('putIfVersion', options?.signal, () => this.inner.putIfVersion(key, bytes, expected, options));
  }
  flush(options?: { signal?: AbortSignal }): Promise<void> {
    return this.inner.flush(options);
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  async *list(prefix: string, options: { signal?: AbortSignal } = {}): AsyncIterable<ObjectInfo> {
    const seen = new Set<string>();
    const start = this.#o.now();
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const info of this.inner.list(prefix, options)) {
          if (seen.has(info.key)) continue;
          seen.add(info.key);
          yield info;
        }
        return;
      } catch (e) {
        await this.#backoff('list', e, attempt, start, options.signal);
      }
    }
  }

  async #run<T>(op: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    const start = this.#o.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        await this.#backoff(op, e, attempt, start, signal);
      }
    }
  }

  /** Sleeps before the next attempt, or rethrows `e` when it must not or may no longer be retried. */
  async #backoff(op: string, e: unknown, attempt: number, start: number, signal: AbortSignal | undefined): Promise<void> {
    if (!isRetryable(e)) throw e;
    const cap = Math.min(this.#o.maxDelayMs, this.#o.baseDelayMs * 2 ** (attempt - 1));
    const delayMs = Math.floor(this.#o.random() * cap);
    if (attempt >= this.#o.maxAttempts || this.#o.now() + delayMs - start > this.#o.maxTotalMs) {
      e.details.attempts = attempt;
      throw e;
    }
    this.#o.onRetry?.({ op, attempt, delayMs, error: e });
    await this.#o.sleep(delayMs, signal);
    throwIfAborted(signal);
  }
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
