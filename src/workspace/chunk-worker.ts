/**
 * The work a chunk-pool thread does: find the cuts in the next window of a file and hash the
 * chunks they end, feed the next window to the whole-file SHA-256, or SHA-256 a batch of buffers
 * (pool-hash.ts: what checkout reads). Bytes arrive as SharedArrayBuffer views, so nothing is
 * copied in either direction.
 *
 * The first two are sequential per file (cut-scanner.ts skips the first min − 32 bytes of each
 * chunk, so the cuts are one chain; a hash is one chain anyway), so each is a session: its state
 * lives in the thread that receives its first window, and ChunkPool sends all of the session's
 * jobs to that thread, where messages arrive in order. A file has one session of each kind, and
 * the pool puts them on different threads when it has two. Why not hash the whole file in the
 * main thread, as before: there it made the reads, writes and bookkeeping wait up to one window's
 * hash (5 ms) each time, and with both sequential passes in one thread that thread was the
 * bottleneck of a 2 GiB add (docs/performance.md).
 *
 * The same `runChunkJob` also runs in the main thread when the pool is in inline mode (tests
 * running the TypeScript source, where plain Node cannot load this file as a worker; see
 * chunk-file.ts). When loaded as a worker it answers `{ id, job }` with `{ id, result }` or
 * `{ id, error }`.
 */
import { createHash, type Hash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { CutScanner } from '../core/cut-scanner.js';
import { gearMemory, gearSeeker, type GearMemory, type GearSeeker } from '../core/gear-wasm.js';
import type { ChunkParams } from '../core/fastcdc.js';

/** [buffer, byteOffset, length]: a slice of a shared window. */
export type Piece = readonly [SharedArrayBuffer, number, number];

/** The cuts in the next window of a file. */
export interface CutJob {
  readonly kind: 'cut';
  readonly session: number;
  /** The next bytes of the file, right after the previous job's. */
  readonly piece: Piece;
  /** Set on the session's first job: starts a scanner with these chunking parameters. */
  readonly params?: ChunkParams;
  /** Set on the last job: the file ends after this piece (its last cut is then the size). */
  readonly last?: boolean;
  /** Set when the piece lies in the shared arena: its offset is then its address there (gear-wasm.ts). */
  readonly inArena?: boolean;
}

/** The next window of a file into its whole-file SHA-256. */
export interface DigestJob {
  readonly kind: 'digest';
  readonly session: number;
  readonly piece: Piece;
  /** Set on the session's first job: starts the hash. */
  readonly first?: boolean;
  /** Set on the last job: answers the digest. */
  readonly last?: boolean;
}

/** A cut job's cuts and the ids of the chunks they end, or (after a digest job's last window) the digest. */
export interface SessionResult {
  cuts?: number[];
  /** SHA-256 of each chunk that `cuts` ends, in the same order. */
  ids?: string[];
  digest?: string;
}

/** Drops a session whose file was abandoned (error or abort) before its last piece. */
export interface EndJob {
  readonly kind: 'end';
  readonly session: number;
}

export interface HashJob {
  readonly kind: 'hash';
  /** One entry per chunk, each the pieces of the chunk in order. */
  readonly chunks: readonly (readonly Piece[])[];
}

export type ChunkJob = CutJob | DigestJob | EndJob | HashJob;
export type ChunkJobResult = SessionResult | string[];

/**
 * The WebAssembly gear loop on the shared arena: built from workerData in a pool thread, on the
 * main thread's arena in inline mode. Undefined where it cannot be built (the JavaScript loop runs).
 */
let seeker: GearSeeker | undefined | null = null;
/** The arena's memory and gear table, from workerData in a pool thread. */
let workerGear: GearMemory | undefined;
function theSeeker(): GearSeeker | undefined {
  if (seeker === null) seeker = gearSeeker(workerGear ?? (parentPort ? undefined : gearMemory()));
  return seeker;
}

/** A cut session: the scanner and the SHA-256 of the chunk it has not yet cut. */
interface CutSession {
  scanner: CutScanner;
  open: Hash;
}

/** The sessions this thread holds. */
const scanners = new Map<number, CutSession>();
const digests = new Map<number, Hash>();

/** Sessions still held by this thread (tests: every file, finished or abandoned, drops its own). */
export function openSessions(): number {
  return scanners.size + digests.size;
}

export function runChunkJob(job: ChunkJob): ChunkJobResult {
  if (job.kind === 'cut') {
    if (job.params) scanners.set(job.session, { scanner: new CutScanner(job.params, theSeeker()), open: createHash('sha256') });
    const session = scanners.get(job.session);
    if (!session) throw new Error(`no cut session ${job.session} in this thread`);
    const [buf, off, len] = job.piece;
    const bytes = new Uint8Array(buf, off, len);
    const start = session.scanner.offset; // the file offset of bytes[0]
    const cuts = session.scanner.push(bytes, job.inArena ? off : undefined);
    if (job.last) {
      scanners.delete(job.session);
      cuts.push(...session.scanner.finish());
    }
    // Each chunk is hashed here, right after the gear loop passed its bytes (still in this
    // core's cache), instead of in a batch job on another thread: one hand-off less per chunk.
    const ids: string[] = [];
    let from = 0;
    for (const cut of cuts) {
      session.open.update(bytes.subarray(from, cut - start));
      ids.push(session.open.digest('hex'));
      session.open = createHash('sha256');
      from = cut - start;
    }
    if (from < len) session.open.update(bytes.subarray(from));
    return { cuts, ids };
  }
  if (job.kind === 'digest') {
    if (job.first) digests.set(job.session, createHash('sha256'));
    const hash = digests.get(job.session);
    if (!hash) throw new Error(`no digest session ${job.session} in this thread`);
    const [buf, off, len] = job.piece;
    hash.update(new Uint8Array(buf, off, len));
    if (!job.last) return {};
    digests.delete(job.session);
    return { digest: hash.digest('hex') };
  }
  if (job.kind === 'end') {
    scanners.delete(job.session);
    digests.delete(job.session);
    return [];
  }
  return job.chunks.map((pieces) => {
    const h = createHash('sha256');
    for (const [buf, off, len] of pieces) h.update(new Uint8Array(buf, off, len));
    return h.digest('hex');
  });
}

/** Set in workerData by ChunkPool, so importing this module anywhere else never grabs a port. */
export const CHUNK_WORKER_MARK = 'mlstoreChunkWorker';

if (parentPort && (workerData as Record<string, unknown> | null)?.[CHUNK_WORKER_MARK] === true) {
  workerGear = (workerData as { gear?: GearMemory }).gear;
  const port = parentPort;
  port.on('message', (msg: { id: number; job: ChunkJob }) => {
    try {
      port.postMessage({ id: msg.id, result: runChunkJob(msg.job) });
    } catch (e) {
      port.postMessage({ id: msg.id, error: e instanceof Error ? e.stack ?? e.message : String(e) });
    }
  });
}
