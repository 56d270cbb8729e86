/**
 * What the stat cache trusts (docs/concepts.md "The stat cache"): a file whose size, mtime (ns),
 * ctime (ns), inode, device and mode are all unchanged is assumed unchanged, and its digest is
 * taken from the cache instead of re-reading it. ctime is in the key because no user call can
 * set it back (`touch -r` restores mtime only). A file changed within the same clock tick as it
 * was read ("racily clean" in Git's terms) could keep all of these; so an entry is cached only
 * when the file's ctime is comfortably older than the moment its bytes were read.
 * `--verify` ignores the cache and re-reads everything.
 */
import type { FileStat } from './file-identity.js';
import type { CachedFile } from '../repository/index-db.js';

/** Racy window: a file changed less than this before it was read is not cached. */
const RACY_WINDOW_MS = 100;

/**
 * What the cache compares, as one string: size, mtime (ns), ctime (ns), inode, device and mode,
 * each in full (decimal BigInts, no rounding). One string compare per file instead of six
 * fields keeps an unchanged scan of 20,000 files cheap.
 */
export function statIdentity(st: FileStat): string {
  // join builds one flat string; a template literal would keep a tree of ten cons strings per file
  return [st.size, st.mtimeNs, st.ctimeNs, st.ino, st.dev, st.mode].join(':');
}

/** The stat data statIdentity() encoded. */
export function parseIdentity(identity: string): FileStat {
  const [size, mtimeNs, ctimeNs, ino, dev, mode] = identity.split(':').map(BigInt);
  return { size: size!, mtimeNs: mtimeNs!, ctimeNs: ctimeNs!, ino: ino!, dev: dev!, mode: mode! };
}

/** Whether a cache entry was made for exactly the stat data whose statIdentity() is `identity`. */
export function cacheMatches(cached: CachedFile | undefined, identity: string): cached is CachedFile {
  return cached !== undefined && cached.identity === identity;
}

/**
 * File systems with whole-second timestamps (ext3, some NFS servers; FAT has 2 s): a file
 * stamped T may have been written as late as T + 2 s, so the racy window must cover that.
 */
const COARSE_RACY_WINDOW_MS = 2_100;

/** Whether an entry for a file read at `readStartMs` may be cached (not racily clean). */
export function isCacheable(st: Pick<FileStat, 'ctimeNs' | 'mtimeNs'>, readStartMs: number): boolean {
  const ctimeMs = Number(st.ctimeNs / 1_000_000n);
  const mtimeMs = Number(st.mtimeNs / 1_000_000n);
  const coarse = st.ctimeNs % 1_000_000_000n === 0n && st.mtimeNs % 1_000_000_000n === 0n;
  return Math.max(ctimeMs, mtimeMs) < readStartMs - (coarse ? COARSE_RACY_WINDOW_MS : RACY_WINDOW_MS);
}
