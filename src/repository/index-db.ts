/**
 * The LevelDB index in `.mlstore/index`: a rebuildable cache, never the source of truth.
 *  - stat cache: workspace path → {size, mtimeNs, ctimeNs, ino, dev, mode} → digest (+ manifest),
 *    so an unchanged file is not re-read. ctime is in the key because a user cannot set it back
 *    (`touch -r` restores mtime, not ctime); see docs/concepts.md for exactly what is trusted.
 *  - remote presence: which objects a remote is known to have (push skips them).
 *  - verification times: when fsck last verified an object (for --max-age).
 *  - the file listing of the last tree status or commit flattened, so `status` does not re-read
 *    and re-decode a whole tree (101 objects for 20,000 files) on every run; `status --verify`
 *    ignores it. Like the stat cache it is trusted by status only, never by checkout or fsck.
 *    Beside it a digest of the listing's (path, mode, digest) triples, so a status that finds
 *    the workspace unchanged need not even read the listing (≈ 2 MB for 20,000 files).
 * If the database cannot be opened (held by another process, or damaged), callers get
 * `undefined` and run without a cache; a damaged index is moved aside and rebuilt.
 */
import { Level } from 'level';
import { rename } from 'node:fs/promises';
import type { Logger } from '../env.js';
import { sha256Stream } from '../core/digest.js';
import type { FileEntry, FileMode } from '../model/tree.js';

export interface StatKey {
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  dev: string;
  mode: number;
}

export interface CachedFile extends StatKey {
  digest: string;
  /** Set once the file has been chunked into the store: the manifest id, or null for a one-chunk file. */
  stored?: { manifest: string | null };
}

type Db = Level<string, string>;

const TREE_LISTING = 'tree-listing';
const TREE_LISTING_DIGEST = 'tree-listing-digest';
/** [path, mode, size, digest, manifest]. */
type ListedFile = [string, FileMode, number, string, string | null];

export class IndexDb {
  private constructor(private readonly db: Db) {}

  static async open(path: string, log: Logger): Promise<IndexDb | undefined> {
    const tryOpen = async () => {
      const db: Db = new Level(path, { valueEncoding: 'utf8' });
      await db.open();
      return new IndexDb(db);
    };
    try {
      return await tryOpen();
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause;
      if ((e as { code?: string }).code === 'LEVEL_DATABASE_NOT_OPEN' && cause?.code === 'LEVEL_LOCKED') {
        log.debug('index is in use by another process; running without the stat cache');
        return undefined;
      }
      log.warn(`the index at ${path} is damaged (${(e as Error).message}); rebuilding it`);
      await rename(path, `${path}.damaged-${Date.now()}`).catch(() => {});
      try {
        return await tryOpen();
      } catch {
        return undefined;
      }
    }
  }

  async getFiles(paths: readonly string[]): Promise<(CachedFile | undefined)[]> {
    if (paths.length === 0) return [];
    const values = await this.db.getMany(paths.map((p) => `stat:${p}`));
    return values.map((v) => (v === undefined ? undefined : safeParse<CachedFile>(v)));
  }

  async putFiles(entries: readonly [path: string, value: CachedFile][]): Promise<void> {
    if (entries.length === 0) return;
    await this.db.batch(entries.map(([p, v]) => ({ type: 'put' as const, key: `stat:${p}`, value: JSON.stringify(v) })));
  }

  async deleteFiles(paths: readonly string[]): Promise<void> {
    if (paths.length === 0) return;
    await this.db.batch(paths.map((p) => ({ type: 'del' as const, key: `stat:${p}` })));
  }

  async clearFiles(): Promise<void> {
    await this.db.clear({ gte: 'stat:', lt: 'stat;' });
  }

  /** The files of tree `treeId` as last saved, or undefined (another tree, or an unreadable entry). */
  async getTreeListing(treeId: string): Promise<Map<string, FileEntry> | undefined> {
    const raw = await this.db.get(TREE_LISTING);
    const parsed = raw === undefined ? undefined : safeParse<{ tree: string; files: ListedFile[] }>(raw);
    if (!parsed || parsed.tree !== treeId || !Array.isArray(parsed.files)) return undefined;
    const files = new Map<string, FileEntry>();
    for (const f of parsed.files) {
      if (!Array.isArray(f) || typeof f[0] !== 'string' || (f[1] !== 0o644 && f[1] !== 0o755) || typeof f[2] !== 'number' || typeof f[3] !== 'string') return undefined;
      const entry: FileEntry = { type: 'file', name: f[0].slice(f[0].lastIndexOf('/') + 1), mode: f[1], size: f[2], digest: f[3] };
      if (typeof f[4] === 'string') entry.manifest = f[4];
      files.set(f[0], entry);
    }
    return files;
  }

  /**
   * The listingDigest() of the saved listing of `treeId`, or undefined (another tree's, or none:
   * listings saved before the digest existed have none).
   */
  async getTreeListingDigest(treeId: string): Promise<string | undefined> {
    const raw = await this.db.get(TREE_LISTING_DIGEST);
    const saved = raw === undefined ? undefined : safeParse<{ tree: string; digest: string }>(raw);
    return saved?.tree === treeId && typeof saved.digest === 'string' ? saved.digest : undefined;
  }

  /** Saves the files of `treeId` and the digest of its listing (only the latest tree is kept). */
  async putTreeListing(treeId: string, files: ReadonlyMap<string, FileEntry>): Promise<void> {
    const list: ListedFile[] = [];
    for (const [path, e] of files) list.push([path, e.mode, e.size, e.digest, e.manifest ?? null]);
    await this.db.batch([
      { type: 'put', key: TREE_LISTING, value: JSON.stringify({ tree: treeId, files: list }) },
      { type: 'put', key: TREE_LISTING_DIGEST, value: JSON.stringify({ tree: treeId, digest: listingDigest(files) }) },
    ]);
  }

  async remoteHas(remote: string, keys: readonly string[]): Promise<boolean[]> {
    if (keys.length === 0) return [];
    const values = await this.db.getMany(keys.map((k) => `remote:${remote}:${k}`));
    return values.map((v) => v !== undefined);
  }

  async markRemoteHas(remote: string, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.db.batch(keys.map((k) => ({ type: 'put' as const, key: `remote:${remote}:${k}`, value: '1' })));
  }

  async forgetRemote(remote: string): Promise<void> {
    await this.db.clear({ gte: `remote:${remote}:`, lt: `remote:${remote};` });
  }

  /** Milliseconds since epoch when `key` of `store` was last verified, per key. */
  async verifiedAt(store: string, keys: readonly string[]): Promise<(number | undefined)[]> {
    if (keys.length === 0) return [];
    const values = await this.db.getMany(keys.map((k) => `verified:${store}:${k}`));
    return values.map((v) => (v === undefined ? undefined : Number(v)));
  }

  async markVerified(store: string, keys: readonly string[], at: number): Promise<void> {
    if (keys.length === 0) return;
    await this.db.batch(keys.map((k) => ({ type: 'put' as const, key: `verified:${store}:${k}`, value: String(at) })));
  }

  async forgetVerified(store: string, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.db.batch(keys.map((k) => ({ type: 'del' as const, key: `verified:${store}:${k}` })));
  }

  /**
   * Keys of `store` last verified at or after `since` (ms), in batches: one sequential scan of
   * the store's range, cheaper than looking every object up (fsck --max-age).
   */
  async *verifiedSince(store: string, since: number): AsyncGenerator<string[]> {
    const prefix = `verified:${store}:`;
    const it = this.db.iterator({ gte: prefix, lt: `verified:${store};` });
    try {
      for (;;) {
        const batch = await it.nextv(1024);
        if (batch.length === 0) return;
        yield batch.filter(([, v]) => Number(v) >= since).map(([k]) => k.slice(prefix.length));
      }
    } finally {
      await it.close();
    }
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/**
 * SHA-256 of the (path, mode, digest) of every file, in sorted path order: what `status`
 * compares, so two listings with the same digest have no new, modified or deleted file between
 * them. Paths cannot contain NUL, which ends each field. A cryptographic digest over a canonical
 * order, not a sum of per-file hashes: sums of many hashes are easy to make collide.
 */
export function listingDigest(files: ReadonlyMap<string, Pick<FileEntry, 'mode' | 'digest'>>): string {
  const hash = sha256Stream();
  const paths = [...files.keys()].sort();
  const BATCH = 1024; // one update per batch: fewer calls into crypto than one per file
  for (let i = 0; i < paths.length; i += BATCH) {
    let text = '';
    for (const path of paths.slice(i, i + BATCH)) {
      const f = files.get(path)!;
      text += `${path}\0${f.mode}\0${f.digest}\n`;
    }
    hash.update(text);
  }
  return hash.digest('hex');
}

function safeParse<T>(s: string): T | undefined {
  try {
    return JSON.parse(s) as T;
  } catch {
    return undefined;
  }
}
