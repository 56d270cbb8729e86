/**
 * SHA-256 of a chunk on a chunk-pool thread, for reads that verify many large chunks (checkout):
 * hashing 2 GiB is 1.9 s of a 5.5 s checkout on the main thread, which also has every read and
 * write to do. The bytes must live in a SharedArrayBuffer (ReadOptions.hash asks the backend for
 * that), so the thread hashes them where they are; anything else is hashed inline.
 */
import { sha256Hex } from '../core/digest.js';
import { defaultChunkPool, type ChunkPool } from './chunk-file.js';

/** Below this, a round trip to a thread costs more than hashing inline. */
export const MIN_OFFLOAD_BYTES = 64 * 1024;

export function poolHasher(pool: ChunkPool = defaultChunkPool()): (bytes: Uint8Array) => Promise<string> {
  return async (bytes) => {
    const buffer = bytes.buffer;
    if (pool.inline || !(buffer instanceof SharedArrayBuffer) || bytes.length < MIN_OFFLOAD_BYTES) return sha256Hex(bytes);
    const [digest] = (await pool.run({ kind: 'hash', chunks: [[[buffer, bytes.byteOffset, bytes.length]]] })) as string[];
    return digest!;
  };
}

/**
 * Reusable shared read buffers for one checkout: fresh SharedArrayBuffers per chunk cost an
 * mmap, page faults and an munmap each (a 2 GiB checkout went from 5.5 s to 12.6 s with them),
 * so a handful are recycled. `take` returns a view of exactly `size` bytes; `give` returns it
 * once nothing reads the bytes any more.
 */
export class SharedReadBuffers {
  readonly #free: SharedArrayBuffer[] = [];

  constructor(private readonly slotBytes: number) {}

  take(size: number): Uint8Array {
    const i = this.#free.findIndex((b) => b.byteLength >= size);
    const buffer = i >= 0 ? this.#free.splice(i, 1)[0]! : new SharedArrayBuffer(Math.max(size, this.slotBytes));
    return new Uint8Array(buffer, 0, size);
  }

  give(view: Uint8Array): void {
    if (view.buffer instanceof SharedArrayBuffer && this.#free.length < 32) this.#free.push(view.buffer);
  }
}
