/**
 * SHA-256 of a chunk on a chunk-pool thread, for reads that verify many large chunks (checkout):
 * hashing 2 GiB is 1.9 s of a 5.5 s checkout on the main thread, which also has every read and
 * write to do. The bytes must live in a SharedArrayBuffer (ReadOptions.hash asks the backend for
 * that), so the thread hashes them where they are; anything else is hashed inline.
 */
import { sha256Hex } from '../core/digest.js';
import { sharedArena } from '../core/shared-arena.js';
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

/** Read buffers are taken in blocks of at least this size, so any chunk up to it reuses one. */
const READ_SLOT_BYTES = 4 * 1024 * 1024;

/**
 * A shared buffer of exactly `size` bytes to read a chunk into, from the recycled blocks of the
 * shared arena: a fresh SharedArrayBuffer per chunk costs an mmap, page faults and an munmap
 * (a 2 GiB checkout went from 5.5 s to 12.6 s with them). Give it back with returnReadBuffer once
 * nothing reads the bytes any more.
 */
export function takeReadBuffer(size: number): Uint8Array {
  return sharedArena().take(Math.max(size, READ_SLOT_BYTES)).subarray(0, size);
}

export function returnReadBuffer(view: Uint8Array): void {
  sharedArena().give(view);
}
