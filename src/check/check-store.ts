/**
 * One fsck pass over one store. It only reads: repairs are the explicit job of repair.ts.
 *
 *   1. roots     refs, HEAD, mlstore.lock, signed ref state (read before the listing; roots.ts)
 *   2. listing   every object and signature key (listing.ts)
 *   3. select    chunks this run verifies: shard ∩ sample, minus those verified within max-age
 *   4. bytes     hash the selected chunks on the pool threads (byte-scan.ts)
 *   5. walk      commits, trees, manifests, chunk edges, signatures, blast radius (walk.ts)
 *   6. dangling  strict parse of unreachable metadata; dangling objects as information
 *   7. index     remember verified objects (for --max-age), forget the bad ones
 * Every step records problems and carries on; only a store that cannot be listed or reached at
 * all throws (the CLI maps that to exit 3).
 */
import type { ProgressEvent } from '../env.js';
import { throwIfAborted } from '../errors.js';
import { objectKey, objectPrefix } from '../repository/layout.js';
import type { Head } from '../repository/head.js';
import type { IndexDb } from '../repository/index-db.js';
import type { Backend } from '../storage/backend.js';
import type { Policy, SeenRecord, TrustList } from '../trust/index.js';
import pLimit from 'p-limit';
import { scanBytes } from './byte-scan.js';
import { Findings, type NewProblem } from './findings.js';
import { HashPool } from './hash-pool.js';
import { listStore, type StoreListing } from './listing.js';
import { readMeta } from './meta-reader.js';
import { FLAG, type ObjectTable } from './object-table.js';
import type { Problem, Severity } from './problem.js';
import type { FsckCounts } from './report.js';
import { collectRoots } from './roots.js';
import { inSample, inShard, type Sample, type Shard } from './selection.js';
import { walkGraph } from './walk.js';

export type VerificationIndex = Pick<IndexDb, 'verifiedSince' | 'markVerified' | 'forgetVerified'>;

export interface CheckStoreOptions {
  backend: Backend;
  /** Set when the store is a directory on this machine: pool threads read its files directly. */
  localDir?: string;
  /** The local repository's HEAD and mlstore.lock (absent when checking a remote). */
  head?: () => Promise<Head>;
  lockFile?: () => Promise<{ commit: string } | undefined>;
  trustList: TrustList;
  policy: Policy;
  seen?: SeenRecord;
  signatureSeverity: Severity | 'off';
  full?: boolean;
  /** Compare server-stored checksums instead of downloading (S3). */
  fast?: boolean;
  sample?: Sample;
  shard?: Shard;
  maxAgeMs?: number;
  /** Where verification times are remembered, under `storeKey`. */
  index?: VerificationIndex;
  storeKey: string;
  /** Chunks not to re-read (already verified by an earlier pass of the same run). */
  exclude?: (id: string) => boolean;
  now: () => Date;
  signal?: AbortSignal;
  progress?: (e: ProgressEvent) => void;
  /** Pool threads (default: one per core; 0: inline). */
  threads?: number;
}

export interface CheckStoreResult {
  problems: Problem[];
  counts: FsckCounts;
  bytesChecked: number;
  refState?: { version: number; expires: string; trusted: boolean };
  /** Whether this pass verified a chunk's bytes (a later pass of the same run skips it). */
  verifiedChunk: (id: string) => boolean;
}

const MAX_DANGLING_LISTED = 1000;
/** Problems that mean an object's bytes (or what they say) are bad: its verification time is forgotten. */
const FORGET = new Set<string>([
  'HASH_MISMATCH', 'OBJECT_REPLACED', 'TRUNCATED', 'SIZE_MISMATCH', 'OBJECT_TOO_LARGE', 'UNREADABLE_OBJECT',
  'INVALID_OBJECT', 'MANIFEST_SIZE_MISMATCH', 'FILE_DIGEST_MISMATCH', 'WRONG_KIND', 'MISSING_OBJECT',
]);
const CHUNK_PREFIX = objectPrefix('chunks');
const META_PREFIX = objectPrefix('meta');
const ID_RE = /^[0-9a-f]{64}$/;

export async function checkStore(o: CheckStoreOptions): Promise<CheckStoreResult> {
  const findings = new Findings();
  const pool = new HashPool(o.threads === undefined ? {} : { threads: o.threads });
  const sig = o.signal ? { signal: o.signal } : {};
  const progress = (phase: string, done: number, extra: Partial<ProgressEvent> = {}): void => o.progress?.({ phase, done, ...extra });
  try {
    // A run that will read every chunk boots its threads while the roots and the listing are read.
    if (o.maxAgeMs === undefined && !o.fast && !o.sample) pool.warm();
    const now = o.now();
    const rootsResult = await collectRoots({
      backend: o.backend, findings, trustList: o.trustList, now, untrustedSeverity: o.signatureSeverity,
      ...(o.head ? { head: o.head } : {}), ...(o.lockFile ? { lockFile: o.lockFile } : {}), ...(o.seen ? { seen: o.seen } : {}), ...sig,
    });
    const listing = await listStore({
      backend: o.backend, findings, ...(o.localDir !== undefined ? { localDir: o.localDir } : {}), ...sig,
      onProgress: (n) => progress('listing', n),
    });
    const skipped = await select(o, listing, now);
    const selected = countSelected(listing.chunks);

    const metaVerifiedKeys: string[] = [];
    let metaBytes = 0;
    const scan = await scanBytes({
      backend: o.backend, pool, chunks: listing.chunks, meta: listing.meta, findings, fast: o.fast ?? false,
      ...(o.localDir !== undefined ? { localDir: o.localDir } : {}), ...sig,
      ...(o.index ? { onVerified: (keys: string[]) => o.index!.markVerified(o.storeKey, keys, now.getTime()) } : {}),
      onProgress: (done, bytes) => progress('verifying', done, { bytes, total: selected.count, ...(listing.sizesKnown ? { totalBytes: selected.bytes } : {}) }),
    });
    throwIfAborted(o.signal);

    const walk = await walkGraph({
      backend: o.backend, pool, chunks: listing.chunks, meta: listing.meta, findings, roots: rootsResult.roots, full: o.full ?? false,
      ...(o.localDir !== undefined ? { localDir: o.localDir } : {}), ...sig,
      signatures: {
        backend: o.backend, findings, signatures: listing.signatures, trustList: o.trustList, policy: o.policy, now,
        tipSeverity: o.signatureSeverity, ...sig,
      },
      onMetaVerified: (id, size) => {
        metaVerifiedKeys.push(objectKey('meta', id));
        metaBytes += size;
      },
      onProgress: (commits) => progress('walking', commits),
      recentMeta: (id) => (listing.meta.flags(id) & FLAG.RECENT) !== 0,
    });

    const incompleteWalk = findings.size > 0;
    const dangling = await checkDangling(o, listing, findings, incompleteWalk, (id, size) => {
      metaVerifiedKeys.push(objectKey('meta', id));
      metaBytes += size;
    });

    const problems = findings.finish((p) => owns(o.shard, p));
    if (o.index) {
      await o.index.markVerified(o.storeKey, metaVerifiedKeys, now.getTime());
      const bad = problems.filter((p) => p.id !== null && FORGET.has(p.code) && p.key?.startsWith('objects/')).map((p) => p.key!);
      await o.index.forgetVerified(o.storeKey, bad);
    }
    const counts: FsckCounts = {
      objects: { chunks: listing.chunks.size, meta: listing.meta.size, signatures: [...listing.signatures.values()].reduce((n, k) => n + k.length, 0) },
      storedBytes: storedBytes(listing),
      refs: rootsResult.refs,
      commits: walk.commits,
      verified: { chunks: scan.verified, meta: metaVerifiedKeys.length },
      skipped,
      dangling,
      problems: { error: 0, warning: 0, info: 0 },
    };
    for (const p of problems) counts.problems[p.severity]++;
    return {
      problems,
      counts,
      bytesChecked: scan.bytes + metaBytes + walk.fullBytes,
      verifiedChunk: (id) => (listing.chunks.flags(id) & FLAG.VERIFIED) !== 0,
      ...(rootsResult.refState ? { refState: rootsResult.refState } : {}),
    };
  } finally {
    await pool.close();
  }
}

/** Marks the chunks this run verifies (SELECTED) and counts those it leaves out, by reason. */
async function select(o: CheckStoreOptions, listing: StoreListing, now: Date): Promise<FsckCounts['skipped']> {
  const skipped = { recent: 0, notSampled: 0, otherShards: 0 };
  if (o.index && o.maxAgeMs !== undefined) {
    // One sequential scan of this store's verification times marks what is recent.
    for await (const keys of o.index.verifiedSince(o.storeKey, now.getTime() - o.maxAgeMs)) {
      for (const key of keys) {
        // objects/chunks/ab/<62 hex>: cheaper than a regex per key on large stores
        // objects/<ns>/ab/<62 hex>, without a regex over every key of a large store
        const prefix = key.startsWith(CHUNK_PREFIX) ? CHUNK_PREFIX : key.startsWith(META_PREFIX) ? META_PREFIX : undefined;
        if (!prefix || key.length !== prefix.length + 65) continue;
        const id = key.slice(prefix.length, prefix.length + 2) + key.slice(prefix.length + 3);
        if (ID_RE.test(id)) (prefix === CHUNK_PREFIX ? listing.chunks : listing.meta).mark(id, FLAG.RECENT);
      }
    }
  }
  for (const id of listing.chunks.ids(FLAG.PRESENT)) {
    if (!inShard(id, o.shard)) skipped.otherShards++;
    else if (!inSample(id, o.sample)) skipped.notSampled++;
    else if (listing.chunks.flags(id) & FLAG.RECENT || o.exclude?.(id)) skipped.recent++;
    else listing.chunks.mark(id, FLAG.SELECTED);
  }
  return skipped;
}

function countSelected(chunks: ObjectTable): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  for (const id of chunks.ids(FLAG.PRESENT | FLAG.SELECTED)) {
    count++;
    bytes += chunks.sizeOf(id) ?? 0;
  }
  return { count, bytes };
}

/**
 * Bytes stored per namespace: from the listing when it carries sizes, else (a directory) from
 * the objects read in this run — null when some object's size was not learnt.
 */
function storedBytes(listing: StoreListing): FsckCounts['storedBytes'] {
  if (listing.sizesKnown) return listing.bytes;
  const sum = (t: ObjectTable): number | null => {
    let n = 0;
    for (const id of t.ids(FLAG.PRESENT)) {
      const size = t.sizeOf(id);
      if (size === undefined) return null;
      n += size;
    }
    return n;
  };
  return { chunks: sum(listing.chunks), meta: sum(listing.meta) };
}

/** Unreachable objects: metadata is still read and strictly parsed; all are reported as info. */
async function checkDangling(
  o: CheckStoreOptions,
  listing: StoreListing,
  findings: Findings,
  walkHadProblems: boolean,
  onMetaVerified: (id: string, size: number) => void,
): Promise<number> {
  const because = walkHadProblems ? ' (it may be referenced from a missing or damaged object reported above)' : '';
  let count = 0;
  let moreBytes = 0;
  let more = 0;
  const report = (p: NewProblem, size: number): void => {
    count++;
    if (count <= MAX_DANGLING_LISTED) findings.add(p);
    else {
      more++;
      moreBytes += size;
    }
  };
  const ctx = {
    backend: o.backend, chunks: listing.chunks, meta: listing.meta, findings, limit: pLimit(16), onVerified: onMetaVerified,
    ...(o.signal ? { signal: o.signal } : {}),
  };
  const loose = [...listing.meta.ids(FLAG.PRESENT, FLAG.REFERENCED)];
  await Promise.all(
    loose.map(async (id) => {
      const r = await readMeta(ctx, id, undefined, 'nothing (dangling)');
      const kind = r.ok ? (r.type === 'file' ? 'file manifest' : r.type) : 'metadata';
      const size = listing.meta.sizeOf(id) ?? 0;
      report({ code: 'DANGLING_OBJECT', id, kind, key: objectKey('meta', id), detail: `${kind} ${id} is not reachable from any root${because}`, facts: { size } }, size);
    }),
  );
  for (const id of listing.chunks.ids(FLAG.PRESENT, FLAG.REFERENCED)) {
    const size = listing.chunks.sizeOf(id) ?? 0;
    report({ code: 'DANGLING_OBJECT', id, kind: 'chunk', key: objectKey('chunks', id), detail: `chunk ${id} is not referenced by any reachable file${because}`, facts: { size } }, size);
  }
  for (const [commit, keys] of listing.signatures) {
    if (listing.meta.flags(commit) & FLAG.PRESENT) continue;
    report({ code: 'DANGLING_OBJECT', id: commit, kind: 'signature', key: `objects/signatures/${commit}/`, detail: `${keys.length} signature(s) for commit ${commit}, which is not in the store` }, 0);
  }
  if (more > 0) {
    findings.add({ code: 'DANGLING_OBJECT', id: null, kind: 'store', detail: `${more} more dangling object(s), ${moreBytes} bytes, not listed one by one`, facts: { objects: more, bytes: moreBytes } });
  }
  return count;
}

/** With --shard, each problem is reported by the shard owning its object (shard 0: no object). */
function owns(shard: Shard | undefined, p: NewProblem): boolean {
  if (!shard || shard.count === 1) return true;
  return p.id === null ? shard.index === 0 : inShard(p.id, shard);
}
