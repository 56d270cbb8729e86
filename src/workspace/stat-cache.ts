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
import type { CachedFile, StatKey } from '../repository/index-db.js';

/** Racy window: a file changed less than this before it was read is not cached. */
const RACY_WINDOW_MS = 100;

export function statKey(st: FileStat): StatKey {
  return {
    size: Number(st.size),
    mtimeNs: st.mtimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
    ino: st.ino.toString(),
    dev: st.dev.toString(),
    mode: Number(st.mode),
  };
}

export function cacheMatches(cached: CachedFile | undefined, st: FileStat): cached is CachedFile {
  if (!cached) return false;
  const k = statKey(st);
  return (
    cached.size === k.size &&
    cached.mtimeNs === k.mtimeNs &&
    cached.ctimeNs === k.ctimeNs &&
    cached.ino === k.ino &&
    cached.dev === k.dev &&
    cached.mode === k.mode &&
    typeof cached.digest === 'string'
  );
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
