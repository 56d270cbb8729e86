/** The LevelDB index: the tree listing and its digest. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FileEntry } from '../model/tree.js';
import { IndexDb, listingDigest } from './index-db.js';

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
const silent = { debug: () => {}, info: () => {}, warn: () => {} };
async function openDb(): Promise<IndexDb> {
  const d = await mkdtemp(join(tmpdir(), 'mlstore-index-'));
  dirs.push(d);
  const db = await IndexDb.open(join(d, 'index'), silent);
  if (!db) throw new Error('index did not open');
  return db;
}

const D1 = '1'.repeat(64);
const D2 = '2'.repeat(64);
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
