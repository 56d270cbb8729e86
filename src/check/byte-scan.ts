/**
 * Verifies the bytes of the selected chunks against their ids, spread over the pool threads:
 *  - local directory: threads read and hash batches of object files themselves;
 *  - any other backend: the main thread downloads (bounded by count and bytes in flight) and
 *    transfers each buffer to a thread to be hashed;
 *  - `fast` (S3): no download; the SHA-256 the server stored with the object (HEAD) is compared
 *    with the key. A server that keeps none is reported (NO_STORED_CHECKSUM), never assumed fine.
 * Problems are recorded under `object:chunks:<id>` so the graph walk finds them at each edge and
 * adds the files and commits they affect. Metadata objects are verified by the walk itself.
 */
import { MlstoreError, isMlstoreError, throwIfAborted } from '../errors.js';
import { sha256Hex } from '../core/digest.js';
import type { Backend } from '../storage/backend.js';
import { packedPlaces } from '../storage/local-packs.js';
import { LIMITS } from '../model/limits.js';
import { objectKey } from '../repository/layout.js';
import type { Findings } from './findings.js';
import type { HashPool } from './hash-pool.js';
import type { FileHash } from './hash-worker.js';
import { FLAG, type ObjectTable } from './object-table.js';

/** The store under check and the shared state every fsck pass works on. */
export interface CheckTarget {
  backend: Backend;
  localDir?: string;
  pool: HashPool;
  chunks: ObjectTable;
  meta: ObjectTable;
  findings: Findings;
}

export interface ByteScanOptions extends CheckTarget {
  fast?: boolean;
  signal?: AbortSignal;
  /** Called with the keys of objects whose bytes were verified, in batches (for the index). */
  onVerified?: (keys: string[]) => Promise<void>;
  onProgress?: (done: number, bytes: number) => void;
  /** Downloads in flight for remote backends (default 16) and their byte budget (default 64 MiB). */
  concurrency?: number;
  bytesInFlight?: number;
}

export interface ByteScanResult {
  verified: number;
  bytes: number;
  /** --fast: objects the server keeps no checksum for (not verified). */
  noChecksum: number;
}

const BATCH_OBJECTS = 64;
const BATCH_BYTES = 16 << 20;
const INLINE_HASH_BYTES = 64 << 10;

export function objectProblemKey(ns: 'chunks' | 'meta', id: string): string {
  return `object:${ns}:${id}`;
}

export async function scanBytes(o: ByteScanOptions): Promise<ByteScanResult> {
  const result: ByteScanResult = { verified: 0, bytes: 0, noChecksum: 0 };
  let pendingKeys: string[] = [];
  const flushVerified = async (force: boolean): Promise<void> => {
    if (pendingKeys.length === 0 || (!force && pendingKeys.length < 1024)) return;
    const keys = pendingKeys;
    pendingKeys = [];
    await o.onVerified?.(keys);
  };
  const done = (id: string, outcome: FileHash, fast = false): void => {
    if (outcome.size !== undefined) o.chunks.add(id, 0, outcome.size); // a directory listing carries no sizes
    if ('failure' in outcome) {
      if (outcome.failure === 'missing') o.chunks.unmark(id, FLAG.PRESENT); // deleted since the listing
      else recordFailure(o, id, outcome);
      return;
    }
    if (outcome.hash === id) {
      o.chunks.mark(id, FLAG.VERIFIED);
      result.verified++;
      if (!fast) result.bytes += outcome.size; // --fast hashed nothing itself
      if (!fast) pendingKeys.push(objectKey('chunks', id));
    } else {
      recordMismatch(o, id, outcome.hash, outcome.size, fast);
    }
    o.onProgress?.(result.verified, result.bytes);
  };

  const ids = o.chunks.ids(FLAG.PRESENT | FLAG.SELECTED);
  const tick = () => flushVerified(false);
  if (o.fast) await scanFast(o, ids, done, tick, result);
  else if (o.localDir !== undefined) await scanLocal(o, ids, done, tick);
  else await scanRemote(o, ids, done, tick);
  await flushVerified(true);
  if (result.noChecksum > 0) {
    o.findings.add({
      code: 'NO_STORED_CHECKSUM',
      id: null,
      kind: 'store',
      detail: `${o.backend.location} keeps no SHA-256 checksum for ${result.noChecksum} object(s); --fast could not verify them (run without --fast to download and hash them)`,
      facts: { objects: result.noChecksum },
    });
  }
  return result;
}

type Done = (id: string, r: FileHash, fast?: boolean) => void;

/**
 * Work in flight with a bound. If one task fails the others are let finish (their results
 * ignored) before the error propagates, so nothing rejects later with no one listening.
 */
class InFlight {
  readonly #tasks = new Set<Promise<void>>();

  get size(): number {
    return this.#tasks.size;
  }

  add(task: Promise<void>): void {
    const p: Promise<void> = task.finally(() => this.#tasks.delete(p));
    this.#tasks.add(p);
  }

  async one(): Promise<void> {
    await Promise.race(this.#tasks);
  }

  async all(): Promise<void> {
    await Promise.all(this.#tasks);
  }

  async settle(): Promise<void> {
    await Promise.allSettled(this.#tasks);
  }
}

async function bounded(work: (inFlight: InFlight) => Promise<void>): Promise<void> {
  const inFlight = new InFlight();
  try {
    await work(inFlight);
    await inFlight.all();
  } catch (e) {
    await inFlight.settle();
    throw e;
  }
}

function scanLocal(o: ByteScanOptions, ids: Iterator<string>, done: Done, tick: () => Promise<void>): Promise<void> {
  const nextBatch = (): string[] => {
    const batch: string[] = [];
    let bytes = 0;
    while (batch.length < BATCH_OBJECTS && bytes < BATCH_BYTES) {
      const n = ids.next();
      if (n.done) break;
      batch.push(n.value);
      bytes += o.chunks.sizeOf(n.value) ?? 0;
    }
    return batch;
  };
  return bounded(async (inFlight) => {
    for (;;) {
      throwIfAborted(o.signal);
      while (inFlight.size < o.pool.threads * 2) {
        const batch = nextBatch();
        if (batch.length === 0) break;
        const keys = batch.map((id) => localPlace(o.backend, objectKey('chunks', id)));
        inFlight.add(o.pool.run<FileHash[]>({ kind: 'files', root: o.localDir!, keys, maxBytes: LIMITS.maxChunkBytes }).then((rs) => rs.forEach((r, i) => done(batch[i]!, r))));
      }
      if (inFlight.size === 0) return;
      await inFlight.one();
      await tick();
    }
  });
}

/** Where a worker reads a key of a local store: its loose file, or its range in a pack. */
export function localPlace(backend: Backend, key: string): string {
  return packedPlaces(backend)?.packedPlace(key) ?? key;
}

function scanRemote(o: ByteScanOptions, ids: Iterator<string>, done: Done, tick: () => Promise<void>): Promise<void> {
  const maxCount = o.concurrency ?? 16;
  const maxBytes = o.bytesInFlight ?? 64 << 20;
  let bytesInFlight = 0;
  return bounded(async (inFlight) => {
    for (let n = ids.next(); !n.done; n = ids.next()) {
      const id = n.value;
      const size = o.chunks.sizeOf(id) ?? 4 << 20;
      while (inFlight.size > 0 && (inFlight.size >= maxCount || bytesInFlight + size > maxBytes)) {
        await inFlight.one();
        await tick();
      }
      throwIfAborted(o.signal);
      bytesInFlight += size;
      inFlight.add(fetchAndHash(o, id).then((r) => done(id, r)).finally(() => (bytesInFlight -= size)));
    }
  });
}

async function fetchAndHash(o: ByteScanOptions, id: string): Promise<FileHash> {
  let bytes: Uint8Array;
  try {
    bytes = await o.backend.get(objectKey('chunks', id), { maxBytes: LIMITS.maxChunkBytes, ...(o.signal ? { signal: o.signal } : {}) });
  } catch (e) {
    return readFailure(e);
  }
  if (bytes.length <= INLINE_HASH_BYTES) return { hash: sha256Hex(bytes), size: bytes.length };
  const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer ? bytes.buffer : bytes.slice().buffer;
  const hash = await o.pool.run<string>({ kind: 'bytes', buffer: own }, [own]);
  return { hash, size: bytes.length };
}

function scanFast(o: ByteScanOptions, ids: Iterator<string>, done: Done, tick: () => Promise<void>, result: ByteScanResult): Promise<void> {
  const check = async (id: string): Promise<void> => {
    let r: FileHash | undefined;
    try {
      const info = await o.backend.stat(objectKey('chunks', id), o.signal ? { signal: o.signal } : {});
      if (!info) r = { failure: 'missing', message: 'deleted since the listing' };
      else if (info.sha256 === undefined) result.noChecksum++;
      else r = { hash: info.sha256, size: info.size };
    } catch (e) {
      r = readFailure(e);
    }
    if (r) done(id, r, true);
  };
  return bounded(async (inFlight) => {
    for (let n = ids.next(); !n.done; n = ids.next()) {
      while (inFlight.size >= (o.concurrency ?? 32)) {
        await inFlight.one();
        await tick();
      }
      throwIfAborted(o.signal);
      inFlight.add(check(n.value));
    }
  });
}

function readFailure(e: unknown): FileHash {
  if (isMlstoreError(e, 'MISSING_OBJECT')) return { failure: 'missing', message: e.message };
  if (isMlstoreError(e, 'LIMIT_EXCEEDED')) return { failure: 'too-large', message: e.message };
  if (isMlstoreError(e, 'INTERRUPTED')) throw e;
  if (isMlstoreError(e) && (e.code === 'REMOTE_UNREACHABLE' || e.code === 'REMOTE_AUTH' || e.code === 'REMOTE_FORBIDDEN' || e.code === 'REMOTE_NOT_FOUND')) {
    throw e; // the whole store is out of reach: the check cannot run (exit 3), not one bad object
  }
  const err = e instanceof MlstoreError ? e : undefined;
  return { failure: 'unreadable', message: err ? `${err.code}: ${err.message}` : String((e as Error)?.message ?? e) };
}

function recordFailure(o: ByteScanOptions, id: string, f: Extract<FileHash, { failure: string }>): void {
  const key = objectKey('chunks', id);
  o.chunks.mark(id, FLAG.BAD);
  if (f.failure === 'too-large') {
    o.findings.add(
      { code: 'OBJECT_TOO_LARGE', id, kind: 'chunk', key, detail: `chunk ${id} is ${f.message}`, facts: { size: f.size, limit: LIMITS.maxChunkBytes } },
      objectProblemKey('chunks', id),
    );
  } else {
    o.findings.add({ code: 'UNREADABLE_OBJECT', id, kind: 'chunk', key, detail: `chunk ${id} could not be read: ${f.message}` }, objectProblemKey('chunks', id));
  }
}

function recordMismatch(o: ByteScanOptions, id: string, actual: string, size: number, fast: boolean): void {
  const key = objectKey('chunks', id);
  o.chunks.mark(id, FLAG.BAD);
  const how = fast ? 'the server-stored SHA-256 is' : 'its bytes hash to';
  const holds = o.chunks.flags(actual) & FLAG.PRESENT ? 'chunk' : o.meta.flags(actual) & FLAG.PRESENT ? 'metadata object' : undefined;
  const facts = { actual, size, ...(fast ? { storedChecksum: true } : {}) };
  if (holds) {
    o.findings.add(
      { code: 'OBJECT_REPLACED', id, kind: 'chunk', key, detail: `chunk ${id} holds the bytes of ${holds} ${actual} (${how} ${actual})`, facts: { ...facts, holds: actual, holdsKind: holds } },
      objectProblemKey('chunks', id),
    );
  } else {
    o.findings.add({ code: 'HASH_MISMATCH', id, kind: 'chunk', key, detail: `chunk ${id} is corrupt: ${how} ${actual} (${size} bytes)`, facts }, objectProblemKey('chunks', id));
  }
}
