/**
 * The LevelDB index in `.mlstore/index`: a rebuildable cache, never the source of truth.
 *  - stat cache: workspace path → stat identity (size, mtime ns, ctime ns, inode, device, mode,
 *    as one string the workspace layer builds) → digest (+ manifest), so an unchanged file is not
 *    re-read. ctime is in the identity because a user cannot set it back (`touch -r` restores
 *    mtime, not ctime); see docs/concepts.md for exactly what is trusted. One LevelDB value per
 *    directory holds the entries of all its files: 20,000 files in 100 directories are 100 reads,
 *    not 20,000 (about half the CPU here, and no seek-triggered compaction at close); the price is
 *    that writing one entry rewrites its directory's value.
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

export interface CachedFile {
  /** The file's stat data when it was read, as the workspace encodes it (stat-cache.ts); compared whole. */
  identity: string;
  size: number;
  digest: string;
  /** Set once the file has been chunked into the store: the manifest id, or null for a one-chunk file. */
  stored?: { manifest: string | null };
}

/** Cached entries by repo path, as getFilesUnder() read them. */
export interface CachedFiles {
  get(path: string): CachedFile | undefined;
}

type Db = Level<string, string>;

/** Key of the stat cache entries of the files directly in a directory ('' = the workspace root). */
const STAT_DIR = 'stat-dir:';
/** One entry per key, before entries were grouped by directory: converted on first use. */
const LEGACY_STAT = { gte: 'stat:', lt: 'stat;' };
/** [name, identity, size, digest] — plus the manifest (string, or null for one chunk) once stored. */
type GroupedFile = [string, string, number, string] | [string, string, number, string, string | null];

/** Stat-cache writes are split into LevelDB batches of about this many bytes (updateGroups). */
const BATCH_BYTES = 96 * 1024;
const TREE_LISTING = 'tree-listing';
const TREE_LISTING_DIGEST = 'tree-listing-digest';
/** [path, mode, size, digest, manifest]. */
type ListedFile = [string, FileMode, number, string, string | null];

export class IndexDb {
  private updating: Promise<void> = Promise.resolve();
  private conversion: Promise<void> | undefined;

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

  /** The cached entry of each path (undefined: none, or unreadable), in the order given. */
  async getFiles(paths: readonly string[]): Promise<(CachedFile | undefined)[]> {
    if (paths.length === 0) return [];
    await this.converted();
    const split = paths.map(splitPath);
    const groups = await this.readGroups(new Set(split.map(([dir]) => dir)));
    return split.map(([dir, name]) => groups.get(dir)!.get(name));
  }

  /**
   * The cached entries of every file at or under the repo paths `roots` (each a file or a
   * directory), read in one pass that needs no file list: a caller starts it before scanning the
   * workspace and LevelDB reads on its own thread meanwhile. A directory's entries are decoded
   * when asked for, and only the last directory's are kept: ask for a directory's files together.
   */
  async getFilesUnder(roots: readonly string[]): Promise<CachedFiles> {
    const exact = new Set<string>();
    const ranges: { gte: string; lt: string }[] = [];
    for (const root of roots) {
      if (root === '') {
        ranges.push({ gte: STAT_DIR, lt: nextKey(STAT_DIR) }); // everything
        continue;
      }
      exact.add(root); // root as a directory
      exact.add(splitPath(root)[0]); // root as a file: the entries of the directory it is in
      ranges.push({ gte: `${STAT_DIR}${root}/`, lt: nextKey(`${STAT_DIR}${root}/`) }); // its subdirectories
    }
    await this.converted();
    const keys = [...exact].map((dir) => STAT_DIR + dir);
    // Each read starts inside an async function: one that throws at once (the database was
    // closed meanwhile, say after a failed scan) must not leave the others' rejections unhandled.
    const [values, found] = await Promise.all([
      (async () => this.db.getMany(keys))(),
      Promise.all(ranges.map(async (r) => this.db.iterator(r).all())),
    ]);
    const raw = new Map<string, string>();
    keys.forEach((key, i) => values[i] !== undefined && raw.set(key.slice(STAT_DIR.length), values[i]!));
    for (const entries of found) for (const [key, value] of entries) raw.set(key.slice(STAT_DIR.length), value);
    // One directory decoded at a time: a caller asks for a directory's files together (the scan
    // lists them so), and the entries it does not keep die young instead of burdening the GC.
    let current: { dir: string; group: Map<string, CachedFile> } | undefined;
    return {
      get(path: string): CachedFile | undefined {
        const [dir, name] = splitPath(path);
        if (current?.dir !== dir) current = { dir, group: decodeGroup(raw.get(dir)) };
        return current.group.get(name);
      },
    };
  }

  /** Sets the entries of `entries`' paths; the other entries of their directories are kept. */
  putFiles(entries: readonly [path: string, value: CachedFile][]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    return this.updateGroups(entries.map(([path]) => path), (group, name, i) => void group.set(name, entries[i]![1]));
  }

  deleteFiles(paths: readonly string[]): Promise<void> {
    if (paths.length === 0) return Promise.resolve();
    return this.updateGroups(paths, (group, name) => void group.delete(name));
  }

  async clearFiles(): Promise<void> {
    await this.db.clear({ gte: STAT_DIR, lt: nextKey(STAT_DIR) });
    await this.db.clear(LEGACY_STAT);
  }

  private async readGroups(dirs: Set<string>): Promise<Map<string, Map<string, CachedFile>>> {
    const list = [...dirs];
    const values = await this.db.getMany(list.map((dir) => STAT_DIR + dir));
    return new Map(list.map((dir, i) => [dir, decodeGroup(values[i])]));
  }

  /**
   * Read-modify-write of the directories of `paths`, one at a time per index (a second update
   * waits for the first), so concurrent callers in one process cannot drop each other's entries.
   */
  private updateGroups(paths: readonly string[], change: (group: Map<string, CachedFile>, name: string, i: number) => void): Promise<void> {
    const run = async () => {
      await this.converted();
      const split = paths.map(splitPath);
      const groups = await this.readGroups(new Set(split.map(([dir]) => dir)));
      split.forEach(([dir, name], i) => change(groups.get(dir)!, name, i));
      // Written in batches of about BATCH_BYTES: LevelDB builds each batch as one string that
      // grows by doubling, and a 2 MB one (20,000 files) cost ≈ 2,000 page faults in fresh
      // memory (docs/performance.md). Each directory's value is whole on its own, and the cache
      // is never evidence, so splitting the write loses nothing.
      let ops: Array<{ type: 'del'; key: string } | { type: 'put'; key: string; value: string }> = [];
      let bytes = 0;
      for (const [dir, group] of groups) {
        const value = group.size === 0 ? undefined : encodeGroup(group);
        ops.push(value === undefined ? { type: 'del', key: STAT_DIR + dir } : { type: 'put', key: STAT_DIR + dir, value });
        bytes += dir.length + (value?.length ?? 0);
        if (bytes >= BATCH_BYTES) {
          await this.db.batch(ops);
          ops = [];
          bytes = 0;
        }
      }
      if (ops.length > 0) await this.db.batch(ops);
    };
    const done = this.updating.then(run);
    this.updating = done.catch(() => {});
    return done;
  }

  /** Converts the entries of an index written before entries were grouped by directory, once. */
  private converted(): Promise<void> {
    this.conversion ??= (async () => {
      const legacy = await this.db.iterator(LEGACY_STAT).all();
      if (legacy.length === 0) return;
      const byDir = new Map<string, [string, CachedFile][]>();
      for (const [key, value] of legacy) {
        const file = fromLegacy(value);
        if (!file) continue;
        const [dir, name] = splitPath(key.slice('stat:'.length));
        let list = byDir.get(dir);
        if (!list) byDir.set(dir, (list = []));
        list.push([name, file]);
      }
      const groups = await this.readGroups(new Set(byDir.keys()));
      for (const [dir, files] of byDir) for (const [name, file] of files) if (!groups.get(dir)!.has(name)) groups.get(dir)!.set(name, file);
      await this.db.batch([
        ...[...groups].map(([dir, group]) => ({ type: 'put' as const, key: STAT_DIR + dir, value: encodeGroup(group) })),
        ...legacy.map(([key]) => ({ type: 'del' as const, key })),
      ]);
    })();
    return this.conversion;
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

/** [directory, name] of a repo path; the directory of a top-level file is ''. */
function splitPath(path: string): [string, string] {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? ['', path] : [path.slice(0, slash), path.slice(slash + 1)];
}

/** The entries of one directory; entries that do not decode are left out (read again, then rewritten). */
function decodeGroup(raw: string | undefined): Map<string, CachedFile> {
  const group = new Map<string, CachedFile>();
  const parsed = raw === undefined ? undefined : safeParse<unknown>(raw);
  if (!Array.isArray(parsed)) return group;
  for (const e of parsed as unknown[][]) {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'string' || typeof e[2] !== 'number' || typeof e[3] !== 'string') continue;
    const file: CachedFile = { identity: e[1], size: e[2], digest: e[3] };
    if (e.length > 4) {
      if (e[4] !== null && typeof e[4] !== 'string') continue;
      file.stored = { manifest: e[4] };
    }
    group.set(e[0], file);
  }
  return group;
}

/**
 * A one-key-per-file entry ({size, mtimeNs, ctimeNs, ino, dev, mode, digest, stored?}, all in
 * decimal) as a grouped one. Its identity is spelled exactly as statIdentity() in
 * workspace/stat-cache.ts spells it for the same stat data, so converted entries still match.
 */
function fromLegacy(raw: string): CachedFile | undefined {
  const e = safeParse<Record<string, unknown>>(raw);
  if (!e || typeof e['digest'] !== 'string' || typeof e['size'] !== 'number' || typeof e['mode'] !== 'number') return undefined;
  const fields = [e['mtimeNs'], e['ctimeNs'], e['ino'], e['dev']];
  if (!fields.every((f) => typeof f === 'string' && /^\d+$/.test(f))) return undefined;
  const file: CachedFile = { identity: `${e['size']}:${fields.join(':')}:${e['mode']}`, size: e['size'], digest: e['digest'] };
  const stored = e['stored'] as { manifest?: unknown } | undefined;
  if (stored && (stored.manifest === null || typeof stored.manifest === 'string')) file.stored = { manifest: stored.manifest };
  return file;
}

function encodeGroup(group: ReadonlyMap<string, CachedFile>): string {
  const list: GroupedFile[] = [];
  for (const [name, f] of group) list.push(f.stored ? [name, f.identity, f.size, f.digest, f.stored.manifest] : [name, f.identity, f.size, f.digest]);
  return JSON.stringify(list);
}

/** The first key after every key that starts with `prefix` (for range bounds). */
function nextKey(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

function safeParse<T>(s: string): T | undefined {
  try {
    return JSON.parse(s) as T;
  } catch {
    return undefined;
  }
}
