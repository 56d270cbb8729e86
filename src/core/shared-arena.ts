/**
 * Shared memory that is page-aligned and copies fast at any offset: one process-wide shared
 * WebAssembly.Memory, handed out in blocks, plus a six-instruction WebAssembly function that
 * runs `memory.copy` inside it.
 *
 * Why (docs/performance.md): V8 copies out of a SharedArrayBuffer with a "relaxed" memmove that
 * goes byte by byte whenever source and destination differ in alignment mod 8, which is the
 * rule for chunks (they start anywhere). Measured here: 3.4 GB/s against 17.6 GB/s for the same
 * copy from ordinary memory, and 24 GB/s for `memory.copy` in shared WebAssembly memory at any
 * offset. A 2 GiB `add` copied most of its bytes once that way (0.75 s of its main thread with
 * MLSTORE_DIRECT_IO=1). WebAssembly memory also starts on a page boundary, which O_DIRECT needs
 * (storage/direct-writer.ts), and a block of it can be posted to worker threads like any
 * SharedArrayBuffer.
 *
 * Blocks come in powers of two from 64 KiB (one WebAssembly page) and are kept for reuse by
 * size once given back, so the memory stays at the high-water mark of what was in use at once
 * (a few read windows, direct-write slots and copies of chunks that span windows: ≈ 100 MiB
 * with the default chunk sizes). Reuse matters: fresh memory costs a page fault per 4 KiB on
 * first touch, and WebAssembly memory never shrinks. A block not given back is lost for good, so
 * every user gives each of its blocks back exactly once (docs/chunking.md lists them). Where
 * the memory cannot be made (a `ulimit -v` under ≈ 10 GB: V8 reserves the address space of a
 * whole 32-bit memory plus guards; or a runtime without shared WebAssembly memory)
 * `take` returns plain SharedArrayBuffer views and `copy` falls back to Buffer.copy: slower,
 * never wrong.
 */

const WASM_PAGE = 64 * 1024;
/** Address space reserved for the arena: far more than the few windows and slots in flight. */
const MAX_PAGES = 16384; // 1 GiB

/** The module: (import "e" "m" (memory 0 65536 shared)) (func (export "c") (param i32 i32 i32) memory.copy). */
const COPY_MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00, // type: (i32, i32, i32) -> ()
  0x02, 0x0b, 0x01, 0x01, 0x65, 0x01, 0x6d, 0x02, 0x03, 0x00, 0x80, 0x80, 0x04, // import e.m: shared memory, 0…65536 pages
  0x03, 0x02, 0x01, 0x00, // one function of type 0
  0x07, 0x05, 0x01, 0x01, 0x63, 0x00, 0x00, // export it as "c"
  0x0a, 0x0e, 0x01, 0x0c, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfc, 0x0a, 0x00, 0x00, 0x0b, // memory.copy(dst, src, n)
]);

interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}
/** The slice of the WebAssembly API used here (the project's TypeScript lib has no WebAssembly types). */
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: true }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: { c: (dst: number, src: number, n: number) => void } };
}

export class SharedArena {
  readonly #memory: WasmMemory | undefined;
  readonly #copy: ((dst: number, src: number, n: number) => void) | undefined;
  /** Every buffer object the memory has had: each covers the memory from address 0. */
  readonly #buffers = new WeakSet<SharedArrayBuffer>();
  /** Given-back blocks by byte length. */
  readonly #spare = new Map<number, Uint8Array[]>();
  /** Size of each block cut from the WebAssembly memory, by offset. */
  readonly #sizes = new Map<number, number>();
  #top = 0;

  /** @param options.wasm false: plain SharedArrayBuffer blocks, as where WebAssembly memory cannot be made (tests) */
  constructor(options: { wasm?: boolean } = {}) {
    try {
      if (options.wasm === false) throw new Error('WebAssembly memory not wanted');
      const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
      const memory = new wasm.Memory({ initial: 0, maximum: MAX_PAGES, shared: true });
      this.#copy = new wasm.Instance(new wasm.Module(COPY_MODULE), { e: { m: memory } }).exports.c;
      this.#memory = memory;
    } catch {
      this.#memory = undefined;
      this.#copy = undefined;
    }
  }

  /** The WebAssembly.Memory itself, to post to worker threads (gear-wasm.ts runs code on it). */
  get wasmMemory(): object | undefined {
    return this.#memory;
  }

  /** Bytes of WebAssembly memory handed out as blocks so far (the high-water mark). */
  get reserved(): number {
    return this.#top;
  }

  /** Whether blocks come from WebAssembly memory (page-aligned, fast copies). */
  get native(): boolean {
    return this.#memory !== undefined;
  }

  /**
   * A block of at least `bytes` bytes (the next power of two from 64 KiB), page-aligned when
   * `native`. Its contents are whatever the last user left. Give it back with `give` when done.
   */
  take(bytes: number): Uint8Array {
    let size = WASM_PAGE;
    while (size < bytes) size *= 2;
    const spare = this.#spare.get(size)?.pop();
    if (spare) return spare;
    const memory = this.#memory;
    if (memory && this.#top + size <= MAX_PAGES * WASM_PAGE) {
      const have = memory.buffer.byteLength;
      if (this.#top + size > have) {
        try {
          memory.grow((this.#top + size - have) / WASM_PAGE);
        } catch {
          return new Uint8Array(new SharedArrayBuffer(size)); // no memory for it: a plain block
        }
      }
      const buffer = memory.buffer;
      this.#buffers.add(buffer);
      const block = new Uint8Array(buffer, this.#top, size);
      this.#sizes.set(this.#top, size);
      this.#top += size;
      return block;
    }
    return new Uint8Array(new SharedArrayBuffer(size));
  }

  /**
   * Takes a block back for reuse; `view` may be any view that starts where the block starts.
   * Anything else is ignored. Every WebAssembly block is kept (dropping one would lose it for
   * good: the memory cannot shrink); of plain blocks at most 16 per size, the rest left to GC.
   */
  give(view: Uint8Array): void {
    let block: Uint8Array;
    if (this.owns(view)) {
      const size = this.#sizes.get(view.byteOffset);
      if (size === undefined) return;
      block = new Uint8Array(view.buffer, view.byteOffset, size);
    } else {
      if (!(view.buffer instanceof SharedArrayBuffer) || view.byteOffset !== 0) return;
      block = new Uint8Array(view.buffer);
    }
    const list = this.#spare.get(block.length) ?? [];
    if (this.owns(block) || list.length < 16) list.push(block);
    this.#spare.set(block.length, list);
  }

  /** Whether `view` lies in the arena's WebAssembly memory. */
  owns(view: Uint8Array): boolean {
    return this.#buffers.has(view.buffer as SharedArrayBuffer);
  }

  /**
   * Copies `src` to the start of `dst` (which must be at least as long): memory.copy when both
   * lie in the arena, else Buffer.copy. Returns the number of bytes copied.
   */
  copy(dst: Uint8Array, src: Uint8Array): number {
    if (src.length > dst.length) throw new RangeError(`copy of ${src.length} bytes into ${dst.length}`);
    if (this.#copy && this.owns(dst) && this.owns(src)) {
      this.#copy(dst.byteOffset, src.byteOffset, src.length);
      return src.length;
    }
    return Buffer.from(src.buffer, src.byteOffset, src.length).copy(dst);
  }
}

let shared: SharedArena | undefined;

/** The process-wide arena (per thread: workers that import this get their own, unused ones). */
export function sharedArena(): SharedArena {
  return (shared ??= new SharedArena());
}
