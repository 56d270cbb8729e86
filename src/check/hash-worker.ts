/**
 * The work a fsck pool thread does. node:crypto hashes synchronously, so using both cores means
 * threads; for a store that is a directory on this machine, each thread also reads the object
 * files itself (synchronous reads into one reused buffer), so bytes never cross threads and the
 * main thread only hands out batches of keys.
 *
 * Jobs:
 *  - files:  read and SHA-256 each object file under `root` → hash and size, or why not
 *  - bytes:  SHA-256 a buffer that was read elsewhere (S3, memory backends) and transferred here
 *  - concat: the SHA-256 of several object files read in order (a file's digest from its chunks)
 *
 * The same `runHashJob` runs in the main thread in inline mode (TypeScript source under vitest,
 * where Node 20 cannot start a `.ts` worker). When loaded as a worker it answers `{ id, job }`
 * with `{ id, result }` or `{ id, error }`.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { parsePackedPlace } from '../storage/local-packs.js';

export type ReadFailure = 'missing' | 'unreadable' | 'too-large';

export type FileHash = { hash: string; size: number } | { failure: ReadFailure; message: string; size?: number };

export interface FilesJob {
  readonly kind: 'files';
  readonly root: string;
  readonly keys: readonly string[];
  readonly maxBytes: number;
}

export interface BytesJob {
  readonly kind: 'bytes';
  readonly buffer: ArrayBuffer;
}

export interface ConcatJob {
  readonly kind: 'concat';
  readonly root: string;
  readonly keys: readonly string[];
  readonly maxBytes: number;
}

export type HashJob = FilesJob | BytesJob | ConcatJob;
export type HashJobResult = FileHash[] | string | FileHash;

const READ_STEP = 8 << 20;
let scratch: Buffer = Buffer.allocUnsafe(1 << 20);

export function runHashJob(job: HashJob): HashJobResult {
  switch (job.kind) {
    case 'files':
      return job.keys.map((key) => hashFile(job.root, key, job.maxBytes));
    case 'bytes':
      return createHash('sha256').update(new Uint8Array(job.buffer)).digest('hex');
    case 'concat':
      return hashConcat(job);
  }
}

function hashFile(root: string, key: string, maxBytes: number): FileHash {
  const h = createHash('sha256');
  const r = readInto(root, key, maxBytes, (chunk) => h.update(chunk));
  return 'failure' in r ? r : { hash: h.digest('hex'), size: r.size };
}

function hashConcat(job: ConcatJob): FileHash {
  const h = createHash('sha256');
  let size = 0;
  for (const key of job.keys) {
    const r = readInto(job.root, key, job.maxBytes, (chunk) => h.update(chunk));
    if ('failure' in r) return r;
    size += r.size;
  }
  return { hash: h.digest('hex'), size };
}

/**
 * Reads one object in steps into the reused scratch buffer, feeding each step to `sink`: a loose
 * file (`key`), or a range of a pack (`packs/<name>.pack@<offset>+<length>`, from the backend).
 */
function readInto(root: string, key: string, maxBytes: number, sink: (b: Uint8Array) => void): { size: number } | Exclude<FileHash, { hash: string }> {
  const packed = parsePackedPlace(key);
  let fd: number;
  try {
    fd = openSync(join(root, ...(packed ? packed.file : key).split('/')), 'r');
  } catch (e) {
    return failure(e);
  }
  try {
    // a loose file is read to its end (it may have grown); a packed object is exactly its range,
    // and fewer bytes come back when the pack was cut short
    const start = packed?.offset ?? 0;
    const size = packed ? packed.length : fstatSync(fd).size;
    if (size > maxBytes) return { failure: 'too-large', message: `${size} bytes, more than the limit of ${maxBytes}`, size };
    const step = Math.min(Math.max(size, 1), READ_STEP);
    if (scratch.length < step) scratch = Buffer.allocUnsafe(step);
    let off = 0;
    for (;;) {
      const want = packed ? Math.min(step, packed.length - off) : step;
      if (want === 0) break;
      const n = readSync(fd, scratch, 0, want, start + off);
      if (n === 0) break;
      sink(scratch.subarray(0, n));
      off += n;
      if (off > maxBytes) return { failure: 'too-large', message: `grew past the limit of ${maxBytes} bytes while being read`, size: off };
    }
    return { size: off };
  } catch (e) {
    return failure(e);
  } finally {
    closeSync(fd);
  }
}

function failure(e: unknown): Exclude<FileHash, { hash: string }> {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return { failure: 'missing', message: 'the file disappeared' };
  return { failure: 'unreadable', message: `${code ?? 'error'}: ${(e as Error).message}` };
}

/** Set in workerData by HashPool, so importing this module anywhere else never grabs a port. */
export const HASH_WORKER_MARK = 'mlstoreFsckWorker';

if (parentPort && (workerData as Record<string, unknown> | null)?.[HASH_WORKER_MARK] === true) {
  const port = parentPort;
  port.on('message', (msg: { id: number; job: HashJob }) => {
    try {
      port.postMessage({ id: msg.id, result: runHashJob(msg.job) });
    } catch (e) {
      port.postMessage({ id: msg.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    }
  });
}
