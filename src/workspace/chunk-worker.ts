/**
 * The work a chunk-pool thread does: gear-scan a window for candidate cuts, or SHA-256 a batch
 * of chunks. Bytes arrive as SharedArrayBuffer views, so nothing is copied in either direction.
 *
 * The same `runChunkJob` also runs in the main thread when the pool is in inline mode (tests
 * running the TypeScript source, where plain Node cannot load this file as a worker; see
 * chunk-file.ts). When loaded as a worker it answers `{ id, job }` with `{ id, result }` or
 * `{ id, error }`.
 */
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { findCandidates, type Candidates, type CutMasks } from '../core/fastcdc.js';

/** [buffer, byteOffset, length]: a slice of a shared window. */
export type Piece = readonly [SharedArrayBuffer, number, number];

export interface ScanJob {
  readonly kind: 'scan';
  /** The window: up to 31 bytes of context, then the bytes to scan. */
  readonly piece: Piece;
  /** File offset of the piece's first byte. */
  readonly startOffset: number;
  /** Index in the piece of the first byte to report (after the context). */
  readonly from: number;
  readonly masks: CutMasks;
}

export interface HashJob {
  readonly kind: 'hash';
  /** One entry per chunk, each the pieces of the chunk in order. */
  readonly chunks: readonly (readonly Piece[])[];
}

export type ChunkJob = ScanJob | HashJob;
export type ChunkJobResult = Candidates | string[];

export function runChunkJob(job: ChunkJob): ChunkJobResult {
  if (job.kind === 'scan') {
    const [buf, off, len] = job.piece;
    return findCandidates(new Uint8Array(buf, off, len), job.startOffset, job.masks, job.from);
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
