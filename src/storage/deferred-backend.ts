/**
 * A Backend whose implementation is loaded on first use. The S3 backend pulls in the AWS SDK
 * (≈ 0.25 s of start-up); wrapping it here means commands on local stores never pay for it.
 */
import type { Backend, BackendCapabilities, GetOptions, ObjectInfo, PutOptions, Versioned } from './backend.js';

export class DeferredBackend implements Backend {
  #inner: Promise<Backend> | undefined;

  constructor(
    readonly location: string,
    private readonly load: () => Promise<Backend>,
  ) {}

  private inner(): Promise<Backend> {
    return (this.#inner ??= this.load());
  }

  async capabilities(): Promise<BackendCapabilities> {
    return (await this.inner()).capabilities();
  }
  async get(key: string, options?: GetOptions): Promise<Uint8Array> {
    return (await this.inner()).get(key, options);
  }
  async put(key: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    return (await this.inner()).put(key, bytes, options);
  }
  async stat(key: string, options?: { signal?: AbortSignal }): Promise<ObjectInfo | undefined> {
    return (await this.inner()).stat(key, options);
  }
  async *list(prefix: string, options?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo> {
    yield* (await this.inner()).list(prefix, options);
  }
  async delete(key: string, options?: { signal?: AbortSignal }): Promise<void> {
    return (await this.inner()).delete(key, options);
  }
  async getVersioned(key: string, options?: GetOptions): Promise<Versioned | undefined> {
    return (await this.inner()).getVersioned(key, options);
  }
  async putIfVersion(key: string, bytes: Uint8Array, expected: string | null, options?: PutOptions): Promise<boolean> {
    return (await this.inner()).putIfVersion(key, bytes, expected, options);
  }
  async flush(options?: { signal?: AbortSignal }): Promise<void> {
    return (await this.inner()).flush(options);
  }
  async close(): Promise<void> {
    if (this.#inner) await (await this.#inner).close();
  }
}
