/**
 * The fast sequential FastCDC scanner that `add` uses (docs/chunking.md): the same cuts as the
 * reference `Chunker` in fastcdc.ts, which stays the simple oracle the tests compare it with.
 *
 * Why sequential: after a cut at p no cut can fall before p + min, and the gear hash only
 * depends on the 32 bytes it covers, so the first min − 32 bytes of every chunk need no hashing
 * at all. With the default sizes that skips ≈ 25 % of the file, which the window-parallel
 * candidate scan (findCandidates + CutResolver) cannot do: it must test every byte because it
 * does not know the cuts yet. One thread scanning at 1.9–4.2 GB/s of file (JavaScript or
 * WebAssembly loop, bench/chunk-file.mjs) stays ahead of the hashing, which needs two passes.
 *
 * The inner loop tests one mask per region: strict lengths [min, normalSize), loose
 * [normalSize, max), forced at max. It is the WebAssembly loop of gear-wasm.ts when the bytes lie
 * in the shared arena (push's `at`), else JavaScript that reads two little-endian 32-bit words
 * per turn, like findCandidates.
 */
import { GEAR, GEAR_WINDOW, cutMasks, validateChunkParams, type ChunkParams } from './fastcdc.js';
import type { GearSeeker } from './gear-wasm.js';

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Push bytes in file order, in any pieces; get the cut offsets as soon as they are known. */
export class CutScanner {
  private readonly params: ChunkParams;
  private readonly strict: number;
  private readonly loose: number;
  /** File offset of the next byte pushed. */
  private pos = 0;
  /** The last cut (start of the open chunk). */
  private p = 0;
  /** Gear hash after the last byte hashed. */
  private h = 0;

  /** @param seeker the WebAssembly gear loop, for bytes pushed with their address in its memory */
  constructor(
    params: ChunkParams,
    private readonly seeker?: GearSeeker,
  ) {
    this.params = validateChunkParams(params);
    const m = cutMasks(this.params);
    this.strict = m.strict;
    this.loose = m.loose;
  }

  /** The start of the chunk not yet cut. */
  get position(): number {
    return this.p;
  }

  /** The file offset of the next byte to push. */
  get offset(): number {
    return this.pos;
  }

  /**
   * @param at where bytes[0] lies in the seeker's memory, when it does (then the WebAssembly loop
   *   runs over it in place)
   */
  push(bytes: Uint8Array, at?: number): number[] {
    const wasm = at !== undefined ? this.seeker : undefined;
    const { min, normalSize, max } = this.params;
    const g = GEAR;
    const cuts: number[] = [];
    const start = this.pos;
    const n = bytes.length;
    let h = this.h;
    let p = this.p;
    let i = 0;
    while (i < n) {
      const x = start + i; // file offset of bytes[i]; testing it gives the cut x + 1
      const warm = p + min - GEAR_WINDOW;
      if (x < warm) {
        i = Math.min(n, warm - start); // bytes no test can see
        h = 0;
        continue;
      }
      const firstTest = p + min - 1;
      if (x < firstTest) {
        const e = Math.min(n, firstTest - start); // the 31 bytes that warm the hash up
        for (; i < e; i++) h = ((h << 1) + g[bytes[i]!]!) | 0;
        continue;
      }
      let regionEnd: number;
      let mask: number;
      if (x < p + normalSize - 1) {
        regionEnd = p + normalSize - 1;
        mask = this.strict;
      } else if (x < p + max - 1) {
        regionEnd = p + max - 1;
        mask = this.loose;
      } else {
        p = x + 1; // length max: forced
        cuts.push(p);
        i++;
        continue;
      }
      const e = Math.min(n, regionEnd - start);
      let hit: number;
      if (wasm) {
        hit = wasm.seek(at! + i, at! + e, h, mask) - at!;
        h = wasm.hash();
      } else {
        hit = seek(bytes, i, e, h, mask);
        h = seekHash;
      }
      if (hit < e) {
        p = start + hit + 1;
        cuts.push(p);
        i = hit + 1;
      } else {
        i = e;
      }
    }
    this.pos = start + n;
    this.h = h;
    this.p = p;
    return cuts;
  }

  /** The file ended: the last cut (the size), unless the bytes end on a cut. */
  finish(): number[] {
    if (this.pos <= this.p) return [];
    this.p = this.pos;
    return [this.pos];
  }
}

/** seek's second result: the hash after the last byte it hashed. */
let seekHash = 0;

/**
 * Hashes bytes[i..end) onto `h` and returns the index of the first byte after which the hash
 * has every `mask` bit zero, or `end` if none; `seekHash` is the hash after that byte.
 */
function seek(bytes: Uint8Array, i: number, end: number, h: number, mask: number): number {
  const g = GEAR;
  // byte by byte up to a 4-byte boundary (all the way where words would be big-endian)
  const aligned = LITTLE_ENDIAN ? Math.min(end, i + ((4 - ((bytes.byteOffset + i) & 3)) & 3)) : end;
  const head = seekBytes(bytes, i, aligned, h, mask);
  if (head < aligned) return head;
  h = seekHash;
  i = aligned;
  const nw = ((end - i) >> 2) & ~1;
  if (nw > 0) {
    const words = new Int32Array(bytes.buffer, bytes.byteOffset + i, nw);
    for (let j = 0; j < nw; j += 2) {
      const x = words[j]!;
      const y = words[j + 1]!;
      const at = i + j * 4;
      h = ((h << 1) + g[x & 255]!) | 0;
      if ((h & mask) === 0) return found(h, at);
      h = ((h << 1) + g[(x >> 8) & 255]!) | 0;
      if ((h & mask) === 0) return found(h, at + 1);
      h = ((h << 1) + g[(x >> 16) & 255]!) | 0;
      if ((h & mask) === 0) return found(h, at + 2);
      h = ((h << 1) + g[x >>> 24]!) | 0;
      if ((h & mask) === 0) return found(h, at + 3);
      h = ((h << 1) + g[y & 255]!) | 0;
      if ((h & mask) === 0) return found(h, at + 4);
      h = ((h << 1) + g[(y >> 8) & 255]!) | 0;
      if ((h & mask) === 0) return found(h, at + 5);
      h = ((h << 1) + g[(y >> 16) & 255]!) | 0;
      if ((h & mask) === 0) return found(h, at + 6);
      h = ((h << 1) + g[y >>> 24]!) | 0;
      if ((h & mask) === 0) return found(h, at + 7);
    }
    i += nw * 4;
  }
  return seekBytes(bytes, i, end, h, mask);
}

/** seek one byte at a time (the head before the first word, and the tail after the last). */
function seekBytes(bytes: Uint8Array, i: number, end: number, h: number, mask: number): number {
  const g = GEAR;
  for (; i < end; i++) {
    h = ((h << 1) + g[bytes[i]!]!) | 0;
    if ((h & mask) === 0) return found(h, i);
  }
  seekHash = h;
  return end;
}

function found(h: number, at: number): number {
  seekHash = h;
  return at;
}
