/**
 * Writes large new objects with O_DIRECT: the bytes go from an aligned buffer of ours straight to
 * the disk instead of through freshly allocated page-cache pages.
 *
 * Why (docs/performance.md, bench/direct-write.mjs): a large chunk is written once and not read
 * again soon, so caching it only costs. Every byte written through the page cache is first copied
 * into a new cache page, and on the benchmark VMs the first touch of a fresh page is a hypervisor
 * fault: writing 2 GiB buffered cost 1.5–5 s of system time against 0.45 s with O_DIRECT, and
 * `add` of a 2 GiB file spent 44 % of its CPU in that copy. On bare metal the copy is cheap but
 * still evicts the user's own cached data; O_DIRECT leaves the cache alone. It is opt-in
 * (MLSTORE_DIRECT_IO=1): on a machine where filling the cache is cheap it made `add` slower
 * (docs/storage.md).
 *
 * O_DIRECT needs the memory address, the file offset and the length aligned to the device's
 * block, and the address aligned to a whole page to be fast: from memory that is only 512-byte
 * aligned each 1 MiB write took 29 ms here instead of 1.3 ms. Node cannot ask for aligned memory,
 * but V8 maps WebAssembly memory on whole pages, so the writer's slots are blocks of the shared
 * arena (core/shared-arena.ts), which also copies chunks out of the read windows at memcpy speed
 * (Buffer.copy out of shared memory at an odd offset ran at 3.4 GB/s). The object's whole pages
 * are copied piece by piece into a slot and written directly; the last partial page, if any, is written through the
 * page cache on a second descriptor (never padded and truncated: see write). A probe write at
 * first use checks that the kernel accepts all this.
 *
 * Durability is unchanged: O_DIRECT puts the data on the device but not the file's size or
 * block map; the caller still fsyncs or syncfs'es before the rename, exactly as for buffered
 * writes. Where O_DIRECT is refused (some FUSE and network file systems, tmpfs before Linux 6.6),
 * or the probe write fails, `write` returns false and the caller writes through the page cache.
 */
import { closeSync, constants, openSync, unlinkSync, writeSync } from 'node:fs';
import { abandon, closeChecked, fsyncAsync, writeAt } from './local-files.js';
import { sharedArena } from '../core/shared-arena.js';

/** Objects at least this large are written directly: the chunks of large files (min 256 KiB by default), not metadata. */
export const DIRECT_MIN = 256 * 1024;
/** Bytes per slot, a multiple of BLOCK; larger objects are written in pieces. */
const SLOT = 4 * 1024 * 1024;
/** Slots, i.e. direct writes in flight at once. */
const SLOTS = 4;
/**
 * File offsets and lengths are kept to whole pages: that satisfies devices with 512-byte and
 * 4 KiB logical blocks alike. (A probe with 512-byte writes is not reliable: ext4 quietly falls
 * back to a buffered write for some sub-page writes, so a misaligned address can look accepted.)
 */
const BLOCK = 4096;

type Probe = { block: number } | undefined;

export class DirectWriter {
  #probe: Probe | 'unknown' = 'unknown';
  #free: Uint8Array[] = [];
  /** Set by close(): slots coming back go to the arena, not to #free. */
  #closed = false;
  readonly #waiting: Array<(slot: Uint8Array) => void> = [];

  /** @param probePath a path in the directory the temp files go to (created and removed by the probe) */
  constructor(private readonly probePath: () => string) {}

  /** Whether direct writes work here (probes on first use). */
  get enabled(): boolean {
    return this.#ensureProbed() !== undefined;
  }

  /**
   * Writes `bytes` to the new file `path` (O_EXCL) with O_DIRECT, fsyncing it when `sync`.
   * Returns false, having written nothing, when direct I/O is not available here. On an error
   * the file is removed and the error thrown (as a Node errno error).
   */
  async write(path: string, bytes: Uint8Array, sync: boolean): Promise<boolean> {
    const probe = this.#ensureProbed();
    if (!probe) return false;
    // Only the O_DIRECT data write goes to the libuv pool (it waits for the device); the open,
    // the tail and the closes are synchronous: each is a metadata call or a sub-page copy, and
    // as libuv requests they were five more pool round trips per chunk, with a thread wake-up
    // each. Measured on 2 GiB (bench/w1-floor.mjs's loose-file variant): 2.89–3.09 s of ingest
    // against 3.27–3.36 s.
    let fd: number;
    try {
      fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o644);
    } catch (e) {
      if (errno(e) === 'EINVAL') return this.#disable();
      throw e;
    }
    const closed = { done: false };
    const slot = await this.#takeSlot();
    try {
      const whole = bytes.length - (bytes.length % probe.block);
      for (let done = 0; done < whole; ) {
        const n = Math.min(SLOT, whole - done);
        sharedArena().copy(slot, bytes.subarray(done, done + n));
        for (let off = 0; off < n; ) {
          const written = await writeAt(fd, slot, off, n - off, done + off);
          if (written <= 0 || written % probe.block !== 0) throw Object.assign(new Error('short direct write'), { code: 'EIO' });
          off += written;
        }
        done += n;
      }
      if (whole < bytes.length) {
        // The ragged tail goes through the page cache on a second descriptor. Padding it and
        // truncating the file back (as before) made ftruncate wait for any journal commit that
        // held the file: 0.47 s stalls of every writer while a batch's syncfs ran.
        const tail = openSync(path, constants.O_WRONLY);
        try {
          for (let off = whole; off < bytes.length; ) {
            const written = writeSync(tail, bytes, off, bytes.length - off, off);
            if (written <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
            off += written;
          }
          if (sync) await fsyncAsync(tail); // one inode: either descriptor syncs all of its data
        } finally {
          closeSync(tail);
        }
      } else if (sync) {
        await fsyncAsync(fd);
      }
      closeChecked(fd, closed);
      return true;
    } catch (e) {
      abandon(fd, closed, path);
      // a file system that accepted the probe but refuses this write: write through the cache
      if (errno(e) === 'EINVAL') return this.#disable();
      throw e;
    } finally {
      this.#giveSlot(slot);
    }
  }

  #disable(): false {
    this.#probe = undefined;
    return false;
  }

  #ensureProbed(): Probe {
    if (this.#probe === 'unknown') this.#probe = this.#runProbe();
    return this.#probe;
  }

  /** Takes the slots and checks that O_DIRECT writes from them work here. */
  #runProbe(): Probe {
    const arena = sharedArena();
    // only page-aligned memory will do (none e.g. under a ulimit -v): else write through the page cache
    const slots = arena.native ? Array.from({ length: SLOTS }, () => arena.take(SLOT)) : [];
    const probe = slots.length > 0 && slots.every((slot) => arena.owns(slot)) ? this.#probeWrite(slots[0]!) : undefined;
    if (probe) {
      this.#free = slots;
      this.#closed = false;
    } else {
      for (const slot of slots) arena.give(slot);
    }
    return probe;
  }

  /** One whole slot written with O_DIRECT to a new file, as every real write will be. */
  #probeWrite(slot: Uint8Array): Probe {
    const path = this.probePath();
    let fd: number;
    try {
      fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o600);
    } catch {
      return undefined; // no O_DIRECT on this file system
    }
    try {
      return writeSync(fd, slot, 0, SLOT, 0) === SLOT ? { block: BLOCK } : undefined;
    } catch {
      return undefined;
    } finally {
      closeSync(fd);
      try {
        unlinkSync(path);
      } catch {
        // gone already
      }
    }
  }

  #takeSlot(): Promise<Uint8Array> {
    const slot = this.#free.pop();
    if (slot) return Promise.resolve(slot);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #giveSlot(slot: Uint8Array): void {
    const next = this.#waiting.shift();
    if (next) next(slot);
    else if (this.#closed) sharedArena().give(slot);
    else this.#free.push(slot);
  }

  /**
   * Gives the slots back to the shared arena (which reclaims nothing by itself): the free ones
   * now, the busy ones as their writes finish. A write after close probes and takes slots again.
   */
  close(): void {
    if (this.#probe === 'unknown' || this.#probe === undefined) return;
    this.#closed = true;
    this.#probe = 'unknown';
    for (const slot of this.#free.splice(0)) sharedArena().give(slot);
  }
}


function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}
