/** The LevelDB index: stat cache entries grouped by directory, the tree listing and its digest. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { afterAll, describe, expect, it } from 'vitest';
import type { FileEntry } from '../model/tree.js';
import { IndexDb, listingDigest, type CachedFile } from './index-db.js';
import { cacheMatches, statIdentity } from '../workspace/stat-cache.js';

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
const silent = { debug: () => {}, info: () => {}, warn: () => {} };
async function indexPath(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'mlstore-index-'));
  dirs.push(d);
  return join(d, 'index');
}
async function openDb(path?: string): Promise<IndexDb> {
  const db = await IndexDb.open(path ?? (await indexPath()), silent);
  if (!db) throw new Error('index did not open');
  return db;
}
/** Runs `fn` on the raw LevelDB of a closed index. */
async function raw<T>(path: string, fn: (db: Level<string, string>) => Promise<T>): Promise<T> {
  const db = new Level<string, string>(path, { valueEncoding: 'utf8' });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}
const D1 = '1'.repeat(64);
const D2 = '2'.repeat(64);
const entry = (n: number, stored?: { manifest: string | null }): CachedFile => ({
  identity: `${n}:1795665385595325276:1795665385595325276:${n}:1:33188`,
  size: n,
  digest: String(n % 10).repeat(64),
  ...(stored ? { stored } : {}),
});

describe('stat cache', () => {
  it('a write larger than one LevelDB batch (≈ 96 KiB) keeps every entry, and a large delete removes exactly its own', async () => {
    const db = await openDb();
    try {
      // 40 directories × 100 files ≈ 600 KiB of values: several batches
      const files: [string, CachedFile][] = [];
      for (let d = 0; d < 40; d++) for (let f = 0; f < 100; f++) files.push([`d${d}/f${f}.bin`, entry(d * 1000 + f, { manifest: null })]);
      await db.putFiles(files);
      expect(await db.getFiles(files.map(([p]) => p))).toEqual(files.map(([, e]) => e));
      const gone = files.filter((_, i) => i % 2 === 0).map(([p]) => p);
      await db.deleteFiles(gone);
      const after = await db.getFiles(files.map(([p]) => p));
      expect(after).toEqual(files.map(([, e], i) => (i % 2 === 0 ? undefined : e)));
    } finally {
      await db.close();
    }
  });

  it('entries round-trip across directories, the top level included; writing one keeps its neighbours', async () => {
    const db = await openDb();
    try {
      const files: [string, CachedFile][] = [
        ['top.bin', entry(1)],
        ['data/a', entry(2, { manifest: null })],
        ['data/b', entry(3, { manifest: 'f'.repeat(64) })],
        ['data/sub/c', entry(4)],
      ];
      await db.putFiles(files);
      expect(await db.getFiles([...files.map(([p]) => p), 'data/missing', 'other/x'])).toEqual([...files.map(([, e]) => e), undefined, undefined]);
      await db.putFiles([['data/a', entry(5)]]);
      expect(await db.getFiles(['data/a', 'data/b'])).toEqual([entry(5), entry(3, { manifest: 'f'.repeat(64) })]);
      await db.deleteFiles(['data/a', 'top.bin']);
      expect(await db.getFiles(['data/a', 'data/b', 'top.bin'])).toEqual([undefined, entry(3, { manifest: 'f'.repeat(64) }), undefined]);
      await db.clearFiles();
      expect(await db.getFiles(['data/b', 'data/sub/c'])).toEqual([undefined, undefined]);
    } finally {
      await db.close();
    }
  });

  it('getFilesUnder reads every directory at or below the roots, a root that is a file included, and nothing beside them', async () => {
    const db = await openDb();
    try {
      const files: [string, CachedFile][] = [
        ['top.bin', entry(1)],
        ['data/a', entry(2)],
        ['data/sub/deeper/b', entry(3, { manifest: null })],
        ['data-old/c', entry(4)],
        ['m/model.bin', entry(5)],
        ['m/other.bin', entry(6)],
      ];
      await db.putFiles(files);
      const under = await db.getFilesUnder(['data', 'top.bin', 'm/model.bin']);
      expect(['top.bin', 'data/a', 'data/sub/deeper/b', 'm/model.bin', 'data/missing'].map((p) => under.get(p))).toEqual([entry(1), entry(2), entry(3, { manifest: null }), entry(5), undefined]);
      expect(under.get('data-old/c')).toBeUndefined(); // a sibling whose name starts like a root: not read
      expect((await db.getFilesUnder([''])).get('data-old/c')).toEqual(entry(4)); // '' is everything
    } finally {
      await db.close();
    }
  });

  it('getFilesUnder on an index closed meanwhile fails as one rejection, none left unhandled', async () => {
    const db = await openDb();
    await db.putFiles([['a/x', entry(1)], ['b/y', entry(2)]]);
    await db.getFiles(['a/x']); // the conversion check has run
    const closing = db.close();
    await expect(db.getFilesUnder(['a', 'b', 'c'])).rejects.toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' });
    await closing;
  });

  it('updates in one process do not drop each other (read-modify-write of a directory is serialized)', async () => {
    const db = await openDb();
    try {
      await Promise.all([db.putFiles([['d/a', entry(1)]]), db.putFiles([['d/b', entry(2)]]), db.putFiles([['d/c', entry(3)]])]);
      expect(await db.getFiles(['d/a', 'd/b', 'd/c'])).toEqual([entry(1), entry(2), entry(3)]);
    } finally {
      await db.close();
    }
  });

  it('a damaged directory value is a miss, not an error', async () => {
    const path = await indexPath();
    let db = await openDb(path);
    await db.putFiles([['d/a', entry(1)], ['e/b', entry(2)]]);
    await db.close();
    await raw(path, async (l) => {
      await l.put('stat-dir:d', '[["a", "broken"');
      await l.put('stat-dir:e', `[["b", 1, 2, 3], 7, ["c", "${entry(3).identity}", 3, "${entry(3).digest}"]]`);
    });
    db = await openDb(path);
    try {
      expect(await db.getFiles(['d/a', 'e/b', 'e/c'])).toEqual([undefined, undefined, entry(3)]);
      await db.putFiles([['d/a', entry(4)]]);
      expect(await db.getFiles(['d/a'])).toEqual([entry(4)]);
    } finally {
      await db.close();
    }
  });

  it('entries of an older index (one key per file) are converted on first use, and still match the same stat data', async () => {
    const path = await indexPath();
    const st = { size: 1024n, mtimeNs: 1_795_665_385_595_325_276n, ctimeNs: 1_795_665_385_595_325_277n, ino: 15n, dev: 1794n, mode: 0o100644n };
    const legacy = (extra: object) =>
      JSON.stringify({ size: 1024, mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs), ino: '15', dev: '1794', mode: 33188, digest: D1, ...extra });
    await raw(path, async (l) => {
      await l.put('stat:data/a', legacy({}));
      await l.put('stat:data/b', legacy({ stored: { manifest: null } }));
      await l.put('stat:top', legacy({ stored: { manifest: D2 } }));
      await l.put('stat:data/broken', '{"size":1}');
    });
    const db = await openDb(path);
    try {
      const under = await db.getFilesUnder(['data', 'top']);
      expect(under.get('data/a')).toEqual({ identity: statIdentity(st), size: 1024, digest: D1 });
      expect(cacheMatches(under.get('data/b'), statIdentity(st))).toBe(true);
      expect(under.get('data/b')!.stored).toEqual({ manifest: null });
      expect(under.get('top')!.stored).toEqual({ manifest: D2 });
      expect(under.get('data/broken')).toBeUndefined();
    } finally {
      await db.close();
    }
    expect(await raw(path, (l) => l.keys({ gte: 'stat:', lt: 'stat;' }).all())).toEqual([]);
  });
});

const file = (name: string, digest: string, mode: 0o644 | 0o755 = 0o644): FileEntry => ({ type: 'file', name, mode, size: 1, digest });

describe('tree listing digest', () => {
  const base = () =>
    new Map([
      ['data/a', file('a', D1)],
      ['data/b', file('b', D2)],
    ]);

  it('depends on paths, modes and digests, not on the order the files were listed in', () => {
    const d = listingDigest(base());
    expect(listingDigest(new Map([...base()].reverse()))).toBe(d);
    expect(listingDigest(new Map([...base(), ['data/c', file('c', D1)]]))).not.toBe(d); // new
    expect(listingDigest(new Map([['data/a', file('a', D1)]]))).not.toBe(d); // deleted
    expect(listingDigest(new Map([['data/a', file('a', D1)], ['data/b', file('b', D1)]]))).not.toBe(d); // modified
    expect(listingDigest(new Map([['data/a', file('a', D1)], ['data/b', file('b', D2, 0o755)]]))).not.toBe(d); // mode
    expect(listingDigest(new Map([['data/a', file('a', D1)], ['data/bb', file('bb', D2)]]))).not.toBe(d); // renamed
    expect(listingDigest(new Map())).not.toBe(d);
  });

  it('is saved with the listing and answered only for that tree', async () => {
    const db = await openDb();
    try {
      const tree = 'a'.repeat(64);
      expect(await db.getTreeListingDigest(tree)).toBeUndefined();
      await db.putTreeListing(tree, base());
      expect(await db.getTreeListingDigest(tree)).toBe(listingDigest(base()));
      expect(await db.getTreeListingDigest('b'.repeat(64))).toBeUndefined();
      expect([...(await db.getTreeListing(tree))!.keys()]).toEqual(['data/a', 'data/b']);
    } finally {
      await db.close();
    }
  });
});
