/**
 * The work a chunk-pool thread does: find the cuts in the next window of a file, or SHA-256 a
 * batch of chunks. Bytes arrive as SharedArrayBuffer views, so nothing is copied in either
 * direction.
 *
 * Cut finding is sequential per file (cut-scanner.ts: it skips the first min − 32 bytes of each
 * chunk), so a file's scanner lives in the thread that receives its first window, keyed by a
 * session number; ChunkPool sends all of that file's cut jobs to the same thread, and messages
 * to one thread arrive in order.
 *
 * The same `runChunkJob` also runs in the main thread when the pool is in inline mode (tests
 * running the TypeScript source, where plain Node cannot load this file as a worker; see
 * chunk-file.ts). When loaded as a worker it answers `{ id, job }` with `{ id, result }` or
 * `{ id, error }`.
 */
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { CutScanner } from '../core/cut-scanner.js';
import type { ChunkParams } from '../core/fastcdc.js';

/** [buffer, byteOffset, length]: a slice of a shared window. */
export type Piece = readonly [SharedArrayBuffer, number, number];

export interface CutJob {
  readonly kind: 'cuts';
  /** Identifies the file: one scanner per session in the thread that runs it. */
  readonly session: number;
  /** The next bytes of the file, right after the previous job's. */
  readonly piece: Piece;
  /** Set on the session's first job: starts a scanner with these parameters. */
  readonly params?: ChunkParams;
  /** Set on the last job: the file ends after this piece (its last cut is then the size). */
  readonly last?: boolean;
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

export type ChunkJob = CutJob | EndJob | HashJob;
/** Cut offsets (cut and end jobs) or chunk ids (hash jobs). */
export type ChunkJobResult = number[] | string[];

/** The scanners of the files this thread is cutting. */
const sessions = new Map<number, CutScanner>();

export function runChunkJob(job: ChunkJob): ChunkJobResult {
  if (job.kind === 'cuts') {
    if (job.params) sessions.set(job.session, new CutScanner(job.params));
    const scanner = sessions.get(job.session);
    if (!scanner) throw new Error(`no cut scanner for session ${job.session}`);
    const [buf, off, len] = job.piece;
    const cuts = scanner.push(new Uint8Array(buf, off, len));
    if (!job.last) return cuts;
    sessions.delete(job.session);
    return [...cuts, ...scanner.finish()];
  }
  if (job.kind === 'end') {
    sessions.delete(job.session);
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
  const port = parentPort;
  port.on('message', (msg: { id: number; job: ChunkJob }) => {
    try {
      port.postMessage({ id: msg.id, result: runChunkJob(msg.job) });
    } catch (e) {
      port.postMessage({ id: msg.id, error: e instanceof Error ? e.stack ?? e.message : String(e) });
    }
  });
}
