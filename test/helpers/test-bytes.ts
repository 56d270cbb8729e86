import { createHash } from 'node:crypto';

/**
 * Deterministic test input, easy to reproduce elsewhere: the concatenation of
 * SHA-256("mlstore-test-vector:<seed>:<i>") for i = 0, 1, 2 …, cut to `size` bytes.
 */
export function testBytes(seed: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0, off = 0; off < size; i++, off += 32) {
    const block = createHash('sha256').update(`mlstore-test-vector:${seed}:${i}`).digest();
    out.set(block.subarray(0, Math.min(32, size - off)), off);
  }
  return out;
}
