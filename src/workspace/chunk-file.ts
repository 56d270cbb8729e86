/**
 * Parallel ingest of one file: the whole-file SHA-256, the content-defined cuts and the SHA-256
 * of every chunk, in one read of the file, with bounded memory (docs/chunking.md).
 *
 * The file is read into fixed windows of shared memory (blocks of core/shared-arena.ts). Each
 * window goes to two pool threads, in file order: one finds the cuts in it (cut-scanner.ts skips
 * the first min − 32 bytes of every chunk) and hashes each chunk as it ends, the other feeds it
 * to the whole-file digest; each finished chunk goes straight to the caller's onChunk. A window
 * is reused once every chunk touching it has been stored and the digest has passed it.
 *
 * Worker loading: the worker entry is `chunk-worker.js` next to this module (dist/ after
 * `npm run build`). When this module runs as TypeScript source (vitest), plain Node 20 cannot load
 * a `.ts` worker, so the pool runs the very same job function in the main thread instead
 * ("inline" mode): same windows, same scanner, same batching, only no threads. The threaded path
 * is tested by compiling these files with tsc into a temporary directory (chunk-file.test.ts).
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { GEAR_WINDOW, validateChunkParams, type ChunkParams } from '../core/fastcdc.js';
import { gearMemory } from '../core/gear-wasm.js';
import { sharedArena } from '../core/shared-arena.js';
import { MlstoreError, fromFsError, throwIfAborted } from '../errors.js';
import { OPEN_TO_READ, changed, identityOf, sameIdentity, type FileIdentity } from './file-identity.js';
import { CHUNK_WORKER_MARK, runChunkJob, type ChunkJob, type ChunkJobResult, type Piece, type SessionResult } from './chunk-worker.js';

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './chunk-worker.ts' : './chunk-worker.js', import.meta.url);

export interface ChunkPoolOptions {
  /** Number of threads; default os.availableParallelism(). */
  threads?: number;
  /** 'auto' (default): threads, unless running from .ts source; 'inline': no threads. */
  mode?: 'auto' | 'threads' | 'inline';
}

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (r: ChunkJobResult) => void; reject: (e: unknown) => void }>;
}

/**
 * A small, lazily started pool of chunking threads, reusable across files. Idle threads are
 * unref'd so they never keep the process alive; `close()` terminates them (jobs still running
 * are rejected). A closed pool restarts its threads if used again.
 */
export class ChunkPool {
  readonly threads: number;
  readonly inline: boolean;
  private slots: Slot[] = [];
  private nextId = 1;
  /** The thread that holds each open cut session's scanner. */
  private readonly pinned = new Map<number, Slot>();

  constructor(options: ChunkPoolOptions = {}) {
    this.threads = Math.max(1, Math.floor(options.threads ?? availableParallelism()));
    const mode = options.mode ?? 'auto';
    this.inline = mode === 'inline' || (mode === 'auto' && FROM_SOURCE);
  }

  run(job: ChunkJob): Promise<ChunkJobResult> {
    if (this.inline) {
      return new Promise((resolve, reject) => {
        setImmediate(() => {
          try {
            resolve(runChunkJob(job));
          } catch (e) {
            reject(e);
          }
        });
      });
    }
    let slot: Slot;
    if (job.kind === 'hash') {
      slot = this.pick();
    } else {
      // a session's jobs all go to the thread that got its first one
      const held = this.pinned.get(job.session);
      if (held && !this.slots.includes(held)) return Promise.reject(new MlstoreError('INTERNAL', 'A chunking thread failed'));
      slot = held ?? this.pick();
      if (job.kind === 'end' || job.last) this.pinned.delete(job.session);
      else this.pinned.set(job.session, slot);
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, job });
    });
  }

  async close(): Promise<void> {
    this.pinned.clear();
    const slots = this.slots;
    this.slots = [];
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private pick(): Slot {
    let best: Slot | undefined;
    for (const s of this.slots) if (!best || s.pending.size < best.pending.size) best = s;
    if (best && (best.pending.size === 0 || this.slots.length >= this.threads)) return best;
    return this.spawn();
  }

  private spawn(): Slot {
    // the arena's memory and gear table, so the thread can run the WebAssembly gear loop on the windows
    const worker = new Worker(WORKER_URL, { workerData: { [CHUNK_WORKER_MARK]: true, gear: gearMemory() } });
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    const fail = (e: unknown): void => {
      this.slots = this.slots.filter((s) => s !== slot);
      const err = new MlstoreError('INTERNAL', 'A chunking thread failed', { cause: e });
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
    };
    worker.on('message', (msg: { id: number; result?: ChunkJobResult; error?: string }) => {
      const p = slot.pending.get(msg.id);
      if (!p) return;
      slot.pending.delete(msg.id);
      if (slot.pending.size === 0) worker.unref();
      if (msg.error !== undefined) p.reject(new MlstoreError('INTERNAL', `Chunking thread: ${msg.error}`));
      else p.resolve(msg.result!);
    });
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }
}

let defaultPool: ChunkPool | undefined;

/** The process-wide pool chunkFile uses when none is given (lazily created, never keeps Node alive). */
export function defaultChunkPool(): ChunkPool {
  return (defaultPool ??= new ChunkPool());
}

export interface ChunkFileOptions {
  /**
   * Called once per chunk, possibly several at once for different chunks (at most a few
   * windows' worth: ~30 MiB with the defaults) and in any order; awaited, which is what gives
   * backpressure. `bytes` is a view of a reused buffer: it is valid until the returned promise
   * settles, so copy it to keep it. A rejection stops the ingest and is rethrown by chunkFile
   * after every onChunk already started has settled. Called for every chunk, including the one
   * chunk of a small or empty file (the empty file is one empty chunk).
   */
  onChunk: (id: string, bytes: Uint8Array) => Promise<void>;
  signal?: AbortSignal;
  /** The identity the caller saw (e.g. from its stat cache); a mismatch at open is FILE_CHANGED. */
  expect?: FileIdentity;
  pool?: ChunkPool;
  /** Read window size (default 4 MiB); small values exist for tests that need many windows. */
  windowBytes?: number;
}

export interface ChunkFileResult {
  size: number;
  /** SHA-256 of the whole file, what `sha256sum` prints. */
  digest: string;
  /** [chunk id, size] in file order. */
  chunks: Array<[id: string, size: number]>;
  /** The file's identity as read, for a stat cache. */
  stat: FileIdentity;
}

/**
 * Chunks and hashes the file at `path`. Throws FILE_CHANGED if the file changed while being read
 * (chunks already passed to onChunk stay valid: they are content-addressed), INTERRUPTED when
 * `signal` aborts, IO_ERROR/NO_SPACE for fs failures, or whatever onChunk threw. On any error it
 * returns only after every onChunk call it started has settled.
 */
export async function chunkFile(path: string, params: ChunkParams, options: ChunkFileOptions): Promise<ChunkFileResult> {
  const p = validateChunkParams(params);
  throwIfAborted(options.signal);
  let fh: FileHandle;
  try {
    fh = await open(path, OPEN_TO_READ);
  } catch (e) {
    throw fromFsError(e, path, 'open');
  }
  try {
    const before = await identity(fh, path);
    if (options.expect && !sameIdentity(options.expect, before)) throw changed(path, 'since it was last examined');
    const size = Number(before.size);
    const body =
      size < p.min
        ? await chunkSmall(fh, path, size, options)
        : await new Ingest(fh, path, size, p, options, options.pool ?? defaultChunkPool()).run();
    if (!sameIdentity(before, await identity(fh, path))) throw changed(path, 'while it was being read');
    throwIfAborted(options.signal);
    return { ...body, size, stat: before };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

type Body = Omit<ChunkFileResult, 'size' | 'stat'>;

/** Cut sessions are numbered process-wide: inline pools share the one table of scanners. */
let nextSession = 1;

/** Below `min` a file is one chunk: one read, one hash, no thread round-trip. */
async function chunkSmall(fh: FileHandle, path: string, size: number, options: ChunkFileOptions): Promise<Body> {
  const bytes = new Uint8Array(size);
  await readExactly(fh, path, bytes, 0);
  const id = createHash('sha256').update(bytes).digest('hex');
  throwIfAborted(options.signal);
  await options.onChunk(id, bytes);
  return { digest: id, chunks: [[id, size]] };
}

/**
 * Read window. 4 MiB rather than 8: a 2 GiB add took 7.54–7.56 CPU-s against 7.87–8.11 (6,000
 * fewer page faults, and the two passes over each window hit the cache more); 2 MiB windows cost
 * more in messages than they saved (docs/performance.md).
 */
const WINDOW = 4 * 1024 * 1024;

interface Window {
  /** A block of the shared arena (reused across files: fresh memory page-faults). */
  block: Uint8Array;
  start: number;
  end: number;
  /** 1 until the cuts have passed the window, plus one per chunk not yet stored. */
  refs: number;
  open: boolean;
}

/** A window sent to the cut and digest threads. */
interface Scan {
  win: Window;
  cuts: Promise<ChunkJobResult>;
  digest: Promise<ChunkJobResult>;
}

interface PendingChunk {
  index: number;
  size: number;
  pieces: Piece[];
  windows: Window[];
}

/** One file's pipeline (the big-file path of chunkFile). */
class Ingest {
  /** This file's cut and digest sessions (chunk-worker.ts). */
  private readonly cutSession = nextSession++;
  private readonly digestSession = nextSession++;
  /** The last cut so far: every window before it is done with cutting. */
  private cutPosition = 0;
  /** The whole-file digest, from the session's last window. */
  private digest: string | undefined;
  private readonly windowSize: number;
  private readonly maxWindows: number;
  private readonly live: Window[] = [];
  private readonly free: Uint8Array[] = [];
  /** Set when the windows have gone back to the arena. */
  private finished = false;
  private allocated = 0;
  private readonly chunks: Array<[string, number]> = [];
  private readonly tasks = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly fh: FileHandle,
    private readonly path: string,
    private readonly size: number,
    private readonly params: ChunkParams,
    private readonly options: ChunkFileOptions,
    private readonly pool: ChunkPool,
  ) {
    this.windowSize = Math.max(GEAR_WINDOW, Math.min(options.windowBytes ?? WINDOW, size));
    // The open chunk can span ceil(max/W)+1 windows; the rest keep the threads and onChunk busy.
    this.maxWindows = Math.ceil(params.max / this.windowSize) + 2 + 2 * pool.threads;
  }

  async run(): Promise<Body> {
    const scans: Scan[] = [];
    const wake = (): void => this.wake();
    this.options.signal?.addEventListener('abort', wake);
    let ended = false;
    try {
      for (let pos = 0; pos < this.size; ) {
        this.check();
        while (scans.length > this.pool.threads || !this.canAllocate()) {
          // shifted once resolved: after a failure the catch below still waits for its jobs
          if (scans.length > 0) await this.resolveScan(scans[0]!).then(() => scans.shift());
          else await this.waitRelease();
          this.check();
        }
        const win = this.allocate(pos, Math.min(this.size, pos + this.windowSize));
        const data = win.block.subarray(0, win.end - win.start);
        await readExactly(this.fh, this.path, data, pos);
        const last = win.end === this.size;
        const flags = last ? { last } : {};
        // the digest thread holds a reference to the window until resolveScan has its answer
        win.refs++;
        const digest = this.pool.run({ kind: 'digest', session: this.digestSession, piece: piece(data), ...(pos === 0 ? { first: true } : {}), ...flags });
        digest.catch(() => undefined); // awaited in order below
        const inArena = sharedArena().owns(data) ? { inArena: true } : {};
        const cuts = this.pool.run({ kind: 'cut', session: this.cutSession, piece: piece(data), ...(pos === 0 ? { params: this.params } : {}), ...flags, ...inArena });
        ended = last;
        cuts.catch(() => undefined); // awaited in order below; avoid an unhandled rejection meanwhile
        scans.push({ win, cuts, digest });
        pos = win.end;
      }
      while (scans.length > 0) await this.resolveScan(scans[0]!).then(() => scans.shift());
      if (this.cutPosition !== this.size) throw new Error(`the cuts end at ${this.cutPosition}, not at the size ${this.size}`);
      while (this.tasks.size > 0) {
        await Promise.race(this.tasks);
        this.check();
      }
      this.check();
      this.giveBack(); // nothing reads or writes the windows any more
      if (this.digest === undefined) throw new Error('no digest from the last window');
      return { digest: this.digest, chunks: this.chunks };
    } catch (e) {
      // Nothing may still be writing when we report the failure.
      await Promise.allSettled([...this.tasks, ...scans.flatMap((s) => [s.cuts, s.digest])]);
      if (!ended) {
        for (const session of [this.cutSession, this.digestSession]) this.pool.run({ kind: 'end', session }).catch(() => undefined);
      }
      this.giveBack(); // every job that could touch a window has settled
      throw e;
    } finally {
      this.options.signal?.removeEventListener('abort', wake);
    }
  }

  private check(): void {
    if (this.failure) throw this.failure.error;
    throwIfAborted(this.options.signal);
  }

  private canAllocate(): boolean {
    return this.free.length > 0 || this.allocated < this.maxWindows;
  }

  private allocate(start: number, end: number): Window {
    let block = this.free.pop();
    if (!block) {
      block = sharedArena().take(this.windowSize);
      this.allocated++;
    }
    const win: Window = { block, start, end, refs: 1, open: true };
    this.live.push(win);
    return win;
  }

  private release(win: Window): void {
    if (this.finished || --win.refs > 0) return;
    this.live.splice(this.live.indexOf(win), 1);
    this.free.push(win.block);
    this.wake();
  }

  /**
   * Returns every window to the arena, free or not: only once no job and no onChunk can touch
   * them any more (success, or a failure after everything settled). Later releases are ignored,
   * so no block is ever given back twice (two users of one block would corrupt chunks).
   */
  private giveBack(): void {
    this.finished = true;
    for (const win of this.live.splice(0)) sharedArena().give(win.block);
    for (const b of this.free.splice(0)) sharedArena().give(b);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private waitRelease(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async resolveScan(scan: Scan): Promise<void> {
    const { cuts = [], ids = [] } = (await scan.cuts) as SessionResult;
    if (ids.length !== cuts.length) throw new Error(`${cuts.length} cuts but ${ids.length} chunk ids`);
    cuts.forEach((cut, k) => this.emit(cut, ids[k]!));
    const { digest } = (await scan.digest) as SessionResult;
    this.release(scan.win); // the digest thread's reference
    if (digest !== undefined) this.digest = digest;
    this.releasePassed();
  }

  /** Drops the "open" reference of every window the cuts have passed. */
  private releasePassed(): void {
    const position = this.cutPosition;
    for (const win of [...this.live]) {
      if (win.open && win.end <= position) {
        win.open = false;
        this.release(win);
      }
    }
  }

  /** A chunk ends at `cut`: its id came with the cut, so it goes straight to onChunk. */
  private emit(cut: number, id: string): void {
    const a = this.cutPosition;
    if (!(cut > a && cut <= this.size)) throw new Error(`bad cut ${cut} after ${a}`);
    this.cutPosition = cut;
    const chunk: PendingChunk = { index: this.chunks.length, size: cut - a, pieces: [], windows: [] };
    this.chunks.push(['', cut - a]);
    for (const win of this.live) {
      const s = Math.max(a, win.start);
      const e = Math.min(cut, win.end);
      if (s >= e) continue;
      chunk.pieces.push(piece(win.block.subarray(s - win.start, e - win.start)));
      chunk.windows.push(win);
      win.refs++;
    }
    const task = this.store(chunk, id)
      .catch((error: unknown) => {
        this.failure ??= { error };
        this.wake();
      })
      .finally(() => this.tasks.delete(task));
    this.tasks.add(task);
  }

  private async store(c: PendingChunk, id: string): Promise<void> {
    try {
      this.chunks[c.index] = [id, c.size];
      if (this.failure || this.options.signal?.aborted) return;
      // a chunk that spans windows is copied into a block of the arena (memory.copy: shared-arena.ts),
      // of its own size class: fresh memory costs a page fault per 4 KiB, so blocks are reused
      const copy = c.pieces.length > 1 ? sharedArena().take(c.size) : undefined;
      try {
        await this.options.onChunk(id, contiguous(c, copy));
      } finally {
        if (copy) sharedArena().give(copy); // onChunk's bytes are only valid until it settles
      }
    } finally {
      for (const w of c.windows.splice(0)) this.release(w);
    }
  }

}

/** A piece (for posting to a pool thread) of a view of shared memory. */
function piece(view: Uint8Array): Piece {
  return [view.buffer as SharedArrayBuffer, view.byteOffset, view.length];
}

/** The chunk's bytes: a view when it lies in one window, else a copy of its pieces into `copy`. */
function contiguous(c: PendingChunk, copy: Uint8Array | undefined): Uint8Array {
  if (c.pieces.length === 1) {
    const [buf, off, len] = c.pieces[0]!;
    return new Uint8Array(buf, off, len);
  }
  // the buffer is not zero-filled: every byte of the returned view is written here
  const out = (copy ?? new Uint8Array(c.size)).subarray(0, c.size);
  let at = 0;
  for (const [buf, off, len] of c.pieces) at += sharedArena().copy(out.subarray(at), new Uint8Array(buf, off, len));
  if (at !== c.size) throw new Error(`chunk pieces hold ${at} bytes, not ${c.size}`);
  return out;
}

async function readExactly(fh: FileHandle, path: string, into: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < into.length) {
    let n: number;
    try {
      ({ bytesRead: n } = await fh.read(into, done, into.length - done, position + done));
    } catch (e) {
      throw fromFsError(e, path, 'read');
    }
    if (n === 0) throw changed(path, 'while it was being read (it got shorter)');
    done += n;
  }
}

async function identity(fh: FileHandle, path: string): Promise<FileIdentity> {
  try {
    return identityOf(await fh.stat({ bigint: true }));
  } catch (e) {
    throw fromFsError(e, path, 'stat');
  }
}

