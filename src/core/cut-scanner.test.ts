/**
 * The fast sequential scanner add uses (cut-scanner.ts) is held to the reference Chunker, which
 * fastcdc.test.ts holds to the cut rule transcribed literally: same cuts for any input, any
 * parameters (every level, normal size at both ends), any way of splitting the bytes into
 * pieces, and any alignment of the pieces in memory (the JavaScript loop reads 32-bit words, the
 * WebAssembly one of gear-wasm.ts eight bytes per turn) — for both loops.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CutScanner } from './cut-scanner.js';
import { gearMemory, gearSeeker } from './gear-wasm.js';
import { sharedArena } from './shared-arena.js';
import { DEFAULT_CHUNK_PARAMS, chunkBytes, legacyCutRule, validateChunkParams, type ChunkParams } from './fastcdc.js';
import { testBytes } from '../../test/helpers/test-bytes.js';

const TINY: ChunkParams = validateChunkParams({ min: 64, avg: 256, max: 1024 });
const legacy = (p: ChunkParams): ChunkParams => ({ ...p, ...legacyCutRule(p.avg) });

const seeker = gearSeeker(gearMemory());

/**
 * Scans `bytes` in the given pieces, each copied to `shift` bytes into its own buffer: ordinary
 * memory for the JavaScript loop, a block of the shared arena for the WebAssembly one.
 */
function scan(bytes: Uint8Array, p: ChunkParams, bounds: number[], shift = 0, wasm = false): number[] {
  const s = new CutScanner(p, wasm ? seeker : undefined);
  const cuts: number[] = [];
  let a = 0;
  for (const b of [...bounds, bytes.length]) {
    const block = wasm ? sharedArena().take(b - a + shift) : new Uint8Array(b - a + shift);
    const piece = block.subarray(shift, shift + b - a);
    piece.set(bytes.subarray(a, b));
    cuts.push(...s.push(piece, wasm ? piece.byteOffset : undefined));
    if (wasm) sharedArena().give(block);
    a = b;
  }
  return [...cuts, ...s.finish()];
}

it('the WebAssembly gear loop builds here (Node 20 has shared WebAssembly memory)', () => {
  expect(seeker).toBeDefined();
});

describe.each([
  ['JavaScript', false],
  ['WebAssembly', true],
])('CutScanner, %s loop', (_, wasm) => {
  const params = fc.constantFrom<ChunkParams>(
    TINY,
    legacy(TINY),
    validateChunkParams({ min: 100, avg: 512, max: 700 }),
    validateChunkParams({ min: 64, avg: 128, max: 129 }),
    { ...TINY, normalization: 0, normalSize: TINY.min },
    { ...TINY, normalization: 3, normalSize: TINY.max },
    { ...TINY, normalSize: TINY.min },
    { ...TINY, normalSize: TINY.max },
  );
  // some inputs with long runs of zeros, which force cuts at max
  const input = fc.tuple(fc.uint8Array({ minLength: 0, maxLength: 20000, size: 'max' }), fc.nat({ max: 3 })).map(([b, k]) => {
    if (k === 0) b.fill(0, b.length >> 2, b.length >> 1);
    return b;
  });

  it('cuts exactly where the reference chunker does, for any pieces and alignment', () => {
    fc.assert(
      fc.property(input, params, fc.array(fc.nat(), { maxLength: 12 }), fc.nat({ max: 7 }), (bytes, p, splits, shift) => {
        const bounds = [...new Set(splits.map((s) => s % (bytes.length + 1)))].sort((x, y) => x - y);
        expect(scan(bytes, p, bounds, shift, wasm)).toEqual(chunkBytes(bytes, p));
      }),
      { numRuns: 300 },
    );
  });

  it('matches on the golden input with the default sizes, in windows of every awkward size', () => {
    const bytes = testBytes('default', 8 * 1024 * 1024);
    for (const p of [DEFAULT_CHUNK_PARAMS, legacy(DEFAULT_CHUNK_PARAMS)]) {
      const want = chunkBytes(bytes, p);
      expect(want.length).toBeGreaterThan(4);
      for (const w of [1, 31, 4093, 65536, 1 << 20, 3 << 20]) {
        const bounds: number[] = [];
        for (let b = w; b < bytes.length; b += w) bounds.push(b);
        if (w === 1) bounds.splice(4096); // one byte at a time only at the start: it is slow
        expect(scan(bytes, p, bounds, w % 4, wasm), `window ${w}`).toEqual(want);
      }
    }
  });
});

describe('CutScanner', () => {
  it('reports the open chunk start, and no last cut for no bytes or bytes that end on a cut', () => {
    const s = new CutScanner(TINY);
    expect(s.finish()).toEqual([]);
    const zeros = new CutScanner(TINY);
    expect(zeros.push(new Uint8Array(2 * TINY.max))).toEqual([TINY.max, 2 * TINY.max]); // forced cuts
    expect(zeros.position).toBe(2 * TINY.max);
    expect(zeros.finish()).toEqual([]);
    const tail = new CutScanner(TINY);
    tail.push(new Uint8Array(TINY.max + 10));
    expect(tail.position).toBe(TINY.max);
    expect(tail.finish()).toEqual([TINY.max + 10]);
  });
});
