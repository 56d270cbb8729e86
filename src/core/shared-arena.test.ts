/**
 * The shared arena (shared-arena.ts): page-aligned blocks of one shared WebAssembly memory that
 * worker threads can see, reused by size, and copies at any offset that give exactly the bytes
 * Buffer.copy would, inside the arena and out of it.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SharedArena } from './shared-arena.js';

describe('SharedArena', () => {
  it('hands out 64 KiB-aligned shared blocks in powers of two and reuses given-back ones', () => {
    const a = new SharedArena();
    expect(a.native).toBe(true); // Node 20 has shared WebAssembly memory
    const b1 = a.take(100);
    const b2 = a.take(3 * 65536 + 1);
    expect([b1.length, b2.length]).toEqual([65536, 4 * 65536]);
    expect(b1.buffer).toBeInstanceOf(SharedArrayBuffer);
    for (const b of [b1, b2]) {
      expect(b.byteOffset % 65536).toBe(0);
      expect(a.owns(b)).toBe(true);
    }
    a.give(b2.subarray(0, 10)); // a view that starts where the block starts gives the whole block back
    const again = a.take(4 * 65536);
    expect([again.byteOffset, again.length]).toEqual([b2.byteOffset, b2.length]);
    a.give(b1.subarray(1)); // not a block start: ignored
    expect(a.take(100).byteOffset).not.toBe(b1.byteOffset);
  });

  it('keeps every given-back block: twenty of one size come back as the same twenty', () => {
    const a = new SharedArena();
    const blocks = Array.from({ length: 20 }, () => a.take(65536));
    const high = a.reserved;
    for (const b of blocks) a.give(b);
    const again = Array.from({ length: 20 }, () => a.take(65536));
    expect(a.reserved).toBe(high); // none lost: WebAssembly memory cannot take a block back
    expect(new Set(again.map((b) => b.byteOffset))).toEqual(new Set(blocks.map((b) => b.byteOffset)));
  });

  it('keeps handing out blocks across growth; old blocks stay valid', () => {
    const a = new SharedArena();
    const first = a.take(65536);
    first.fill(7);
    const blocks = Array.from({ length: 8 }, () => a.take(1 << 20));
    blocks.forEach((b, i) => b.fill(i));
    expect(first.every((x) => x === 7)).toBe(true);
    blocks.forEach((b, i) => expect(b[0] === i && b[b.length - 1] === i).toBe(true));
    expect(new Set(blocks.map((b) => b.byteOffset)).size).toBe(8);
  });

  it('copies exactly, at every alignment, inside the arena and to and from ordinary memory', () => {
    const a = new SharedArena();
    const src = a.take(1 << 20);
    const dst = a.take(1 << 20);
    src.set(randomBytes(src.length));
    const plain = new Uint8Array(1 << 20);
    for (const [from, to, n] of [[0, 0, 4096], [3, 0, 100_001], [1, 7, 65_535], [5, 4099, 300_000], [0, 1, 1], [9, 9, 0]] as const) {
      dst.fill(0);
      expect(a.copy(dst.subarray(to), src.subarray(from, from + n))).toBe(n);
      expect(Buffer.compare(dst.subarray(to, to + n), src.subarray(from, from + n))).toBe(0);
      expect(dst.subarray(0, to).every((x) => x === 0)).toBe(true); // nothing before the target
      expect(dst[to + n]).toBe(0); // nothing after it
      plain.fill(0);
      expect(a.copy(plain.subarray(to), src.subarray(from, from + n))).toBe(n); // out of the arena
      expect(Buffer.compare(plain.subarray(to, to + n), src.subarray(from, from + n))).toBe(0);
      expect(a.copy(dst.subarray(to), plain.subarray(to, to + n))).toBe(n); // into it
      expect(Buffer.compare(dst.subarray(to, to + n), plain.subarray(to, to + n))).toBe(0);
    }
    expect(() => a.copy(dst.subarray(0, 10), src.subarray(0, 11))).toThrow(RangeError);
  });

  it('without WebAssembly memory: plain shared blocks, reused, and exact (slower) copies', () => {
    const a = new SharedArena({ wasm: false });
    expect(a.native).toBe(false);
    expect(a.wasmMemory).toBeUndefined();
    const b = a.take(70_000);
    expect([b.length, b.byteOffset, b.buffer instanceof SharedArrayBuffer, a.owns(b)]).toEqual([131072, 0, true, false]);
    a.give(b);
    expect(a.take(100_000).buffer).toBe(b.buffer); // the same block again
    const src = a.take(65536);
    src.set(randomBytes(65536));
    expect(a.copy(b.subarray(3), src.subarray(5, 60_005))).toBe(60_000);
    expect(Buffer.compare(b.subarray(3, 60_003), src.subarray(5, 60_005))).toBe(0);
  });
});
