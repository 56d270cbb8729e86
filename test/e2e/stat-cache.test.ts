/**
 * The stat cache (LevelDB index) seen from the CLI: unchanged files are not re-read by add,
 * status or commit; a same-size edit hidden with `touch -r` is still seen (ctime is in the key);
 * a replaced inode is seen; --verify re-reads everything; a damaged index is rebuilt, not fatal.
 */
import { execFileSync } from 'node:child_process';
import { readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { IndexDb } from '../../src/repository/index-db.js';
import { runJson } from '../helpers/cli.js';
import { newRepo, pseudoRandom, writeFiles } from '../helpers/repo.js';
import { assertStoreConsistent } from '../helpers/store.js';

/** Files changed less than ~100 ms before they are read are not cached ("racily clean"): wait that out. */
const settle = () => new Promise((r) => setTimeout(r, 250));

async function dataset(repo: string): Promise<number> {
  const files: Record<string, string | Buffer> = { 'data/big.bin': pseudoRandom('big', 80_000), 'data/a.txt': 'aaaa', 'data/empty': '' };
  for (let i = 0; i < 20; i++) files[`data/many/f${i}.txt`] = `file ${i}\n`;
  await writeFiles(repo, files);
  await settle();
  return Object.keys(files).length;
}

describe('e2e stat cache', () => {
  it('second add/status/commit read 0 files; --verify re-reads all', async () => {
    const repo = await newRepo();
    const n = await dataset(repo);
    const a1 = await runJson(['add', 'data'], { cwd: repo });
    expect(a1.json.read.files).toBe(n);
    const a2 = await runJson(['add', 'data'], { cwd: repo });
    expect(a2.json.read).toEqual({ files: 0, bytes: 0 });
    expect(a2.json.files).toBe(n);
    const s1 = await runJson(['status'], { cwd: repo });
    expect(s1.json.read).toEqual({ files: 0, bytes: 0 });
    const c = await runJson(['commit', '-m', 'v1'], { cwd: repo });
    expect(c.json.read.files).toBe(0);
    const s2 = await runJson(['status'], { cwd: repo });
    expect(s2.json).toMatchObject({ clean: true, read: { files: 0 } });

    const sv = await runJson(['status', '--verify'], { cwd: repo });
    expect(sv.json.read.files).toBe(n);
    expect(sv.json.clean).toBe(true);
    const av = await runJson(['add', '--verify', 'data'], { cwd: repo });
    expect(av.json.read.files).toBe(n);
    const cv = await runJson(['commit', '--verify', '-m', 'same', '--allow-empty'], { cwd: repo });
    expect(cv.json.read.files).toBe(n);

    // one changed file: exactly one read
    await writeFile(join(repo, 'data/many/f3.txt'), 'changed, longer\n');
    await settle();
    const s3 = await runJson(['status'], { cwd: repo });
    expect(s3.json.read.files).toBe(1);
    expect(s3.json.modified.map((f: { path: string }) => f.path)).toEqual(['data/many/f3.txt']);
  });

  it('writes the cache entries of files it read, and only those; the other directories keep their values', async () => {
    const repo = await newRepo();
    await dataset(repo);
    const put = vi.spyOn(IndexDb.prototype, 'putFiles');
    try {
      await runJson(['add', 'data'], { cwd: repo });
      const written = () => put.mock.calls.flatMap(([entries]) => entries.map(([path]) => path)).sort();
      expect(written()).toHaveLength(23);
      put.mockClear();
      const trackedFile = join(repo, '.mlstore/tracked.json');
      const trackedBefore = await stat(trackedFile, { bigint: true });
      expect((await runJson(['add', 'data'], { cwd: repo })).json.read.files).toBe(0);
      expect((await runJson(['status'], { cwd: repo })).json.read.files).toBe(0);
      expect(written()).toEqual([]);
      const trackedAfter = await stat(trackedFile, { bigint: true });
      expect([trackedAfter.ino, trackedAfter.mtimeNs]).toEqual([trackedBefore.ino, trackedBefore.mtimeNs]); // not rewritten either

      const index = join(repo, '.mlstore/index');
      const groups = async () => {
        const { Level } = await import('level');
        const db = new Level<string, string>(index, { valueEncoding: 'utf8' });
        try {
          return Object.fromEntries(await db.iterator({ gte: 'stat-dir:', lt: 'stat-dir;' }).all());
        } finally {
          await db.close();
        }
      };
      const before = await groups();
      expect(Object.keys(before).sort()).toEqual(['stat-dir:data', 'stat-dir:data/many']);
      await writeFile(join(repo, 'data/many/f7.txt'), 'file 7, changed\n');
      await settle();
      const a = await runJson(['add', 'data'], { cwd: repo });
      expect(a.json.read.files).toBe(1);
      expect(written()).toEqual(['data/many/f7.txt']);
      const after = await groups();
      expect(after['stat-dir:data']).toBe(before['stat-dir:data']);
      expect(after['stat-dir:data/many']).not.toBe(before['stat-dir:data/many']);
      expect((await runJson(['add', 'data'], { cwd: repo })).json.read.files).toBe(0);
    } finally {
      put.mockRestore();
    }
  });

  it('a same-size edit with the old mtime put back (touch -r) is still detected, and so is a replaced inode', async () => {
    const repo = await newRepo();
    await dataset(repo);
    await runJson(['add', 'data'], { cwd: repo });
    await runJson(['commit', '-m', 'v1'], { cwd: repo });
    const a = join(repo, 'data/a.txt');
    const ref = join(repo, 'mtime-ref');
    execFileSync('touch', ['-r', a, ref]);
    const before = await stat(a, { bigint: true });

    await writeFile(a, 'bbbb'); // same size
    execFileSync('touch', ['-r', ref, a]); // mtime back to what the cache saw
    const after = await stat(a, { bigint: true });
    expect(after.mtimeNs).toBe(before.mtimeNs);
    expect(after.size).toBe(before.size);
    expect(after.ctimeNs).not.toBe(before.ctimeNs);

    const st = await runJson(['status'], { cwd: repo });
    expect(st.json.modified.map((f: { path: string }) => f.path)).toEqual(['data/a.txt']);
    expect(st.json.read.files).toBe(1);
    const c = await runJson(['commit', '-m', 'v2'], { cwd: repo });
    expect(c.code, c.stderr).toBe(0);
    const show = await runJson(['show'], { cwd: repo });
    expect(show.json.files.find((f: { path: string }) => f.path === 'data/a.txt').digest).toBe(
      '81cc5b17018674b401b42f35ba07bb79e211239c23bffe658da1577e3e646877', // sha256("bbbb")
    );

    // a different file moved into place with the same size and mtime: the inode tells
    await settle();
    const b = join(repo, 'data/b.tmp');
    await writeFile(b, 'cccc');
    execFileSync('touch', ['-r', a, b]);
    await rename(b, a);
    const st2 = await runJson(['status'], { cwd: repo });
    expect(st2.json.modified.map((f: { path: string }) => f.path)).toEqual(['data/a.txt']);
  });

  it('a damaged index is moved aside and rebuilt; the command still succeeds', async () => {
    const repo = await newRepo();
    const n = await dataset(repo);
    await runJson(['add', 'data'], { cwd: repo });
    await runJson(['commit', '-m', 'v1'], { cwd: repo });
    const index = join(repo, '.mlstore/index');
    for (const f of await readdir(index)) await writeFile(join(index, f), pseudoRandom(f, 300));

    const st = await runJson(['status'], { cwd: repo });
    expect(st.code, st.stderr).toBe(0);
    expect(st.json).toMatchObject({ clean: true, read: { files: n } });
    expect((await readdir(join(repo, '.mlstore'))).some((f) => f.startsWith('index.damaged-'))).toBe(true);
    const again = await runJson(['status'], { cwd: repo });
    expect(again.json.read.files).toBe(0); // rebuilt and used

    // an index that is not even a directory
    await rm(index, { recursive: true });
    await writeFile(index, 'not a database');
    const add = await runJson(['add', 'data'], { cwd: repo });
    expect(add.code, add.stderr).toBe(0);
    const c = await runJson(['commit', '-m', 'v2', '--allow-empty'], { cwd: repo });
    expect(c.code, c.stderr).toBe(0);
    expect((await runJson(['status'], { cwd: repo })).json.read.files).toBe(0);

    // the index is a cache, never the truth: deleting it loses nothing
    await rm(index, { recursive: true, force: true });
    const st2 = await runJson(['status'], { cwd: repo });
    expect(st2.json).toMatchObject({ clean: true, read: { files: n } });
    await assertStoreConsistent(repo);
  });

  it("status reads HEAD's files from the index's tree listing (commit saves it); --verify and a damaged listing read the tree", async () => {
    const repo = await newRepo();
    await writeFiles(repo, { 'data/a/one.bin': pseudoRandom('one', 3000), 'data/b/two.bin': pseudoRandom('two', 4000), 'data/three.txt': 'three\n' });
    expect((await runJson(['add', 'data'], { cwd: repo })).code).toBe(0);
    expect((await runJson(['commit', '-m', 'v1'], { cwd: repo })).code).toBe(0);
    await writeFiles(repo, { 'data/three.txt': 'changed\n', 'data/four.txt': 'new\n' });
    await rm(join(repo, 'data/a/one.bin'));
    const expected = { new: [{ path: 'data/four.txt' }], modified: [{ path: 'data/three.txt' }], deleted: [{ path: 'data/a/one.bin' }], clean: false };
    expect((await runJson(['status'], { cwd: repo })).json).toMatchObject(expected);

    // hide a tree object: status still answers from the listing, --verify has to read the tree
    const trees: string[] = [];
    const metaDir = join(repo, '.mlstore/objects/meta');
    for (const fan of await readdir(metaDir)) for (const n of await readdir(join(metaDir, fan))) trees.push(join(metaDir, fan, n));
    const subtree = await findTreeNaming(trees, '"one.bin"');
    await rename(subtree, `${subtree}.hidden`);
    expect((await runJson(['status'], { cwd: repo })).json).toMatchObject(expected);
    expect((await runJson(['status', '--verify'], { cwd: repo })).json).toMatchObject({ ok: false, error: { code: 'MISSING_OBJECT' } });
    await rename(`${subtree}.hidden`, subtree);

    // a damaged listing is ignored and rebuilt from the tree
    const { Level } = await import('level');
    const db = new Level<string, string>(join(repo, '.mlstore/index'), { valueEncoding: 'utf8' });
    await db.put('tree-listing', '{"tree":"garbage'); // truncated JSON
    await db.close();
    expect((await runJson(['status'], { cwd: repo })).json).toMatchObject(expected);
    const db2 = new Level<string, string>(join(repo, '.mlstore/index'), { valueEncoding: 'utf8' });
    await db2.put('tree-listing', JSON.stringify({ tree: 'f'.repeat(64), files: [] })); // another tree's listing
    await db2.close();
    expect((await runJson(['status'], { cwd: repo })).json).toMatchObject(expected);
  });

  it("a clean status is decided from the digest of HEAD's listing, without reading the listing or the tree", async () => {
    const repo = await newRepo();
    await writeFiles(repo, { 'data/a/one.bin': pseudoRandom('one', 3000), 'data/b/two.bin': pseudoRandom('two', 4000), 'data/three.txt': 'three\n' });
    await settle();
    expect((await runJson(['add', 'data'], { cwd: repo })).code).toBe(0);
    expect((await runJson(['commit', '-m', 'v1'], { cwd: repo })).code).toBe(0);
    const index = join(repo, '.mlstore/index');
    const { Level } = await import('level');
    const withDb = async <T>(fn: (db: InstanceType<typeof Level<string, string>>) => Promise<T>): Promise<T> => {
      const db = new Level<string, string>(index, { valueEncoding: 'utf8' });
      try {
        return await fn(db);
      } finally {
        await db.close();
      }
    };

    // the listing is damaged and a tree object hidden: an unchanged workspace is still clean,
    // so neither was read
    await withDb((db) => db.put('tree-listing', '{"tree":"garbage'));
    const metaDir = join(repo, '.mlstore/objects/meta');
    const trees: string[] = [];
    for (const fan of await readdir(metaDir)) for (const n of await readdir(join(metaDir, fan))) trees.push(join(metaDir, fan, n));
    const subtree = await findTreeNaming(trees, '"one.bin"');
    await rename(subtree, `${subtree}.hidden`);
    expect((await runJson(['status'], { cwd: repo })).json).toMatchObject({ clean: true, read: { files: 0 } });

    // a change does not match the digest: the listing is consulted (damaged, so the tree is read)
    await rename(`${subtree}.hidden`, subtree);
    await writeFile(join(repo, 'data/three.txt'), 'changed\n');
    expect((await runJson(['status'], { cwd: repo })).json).toMatchObject({ clean: false, modified: [{ path: 'data/three.txt' }] });
    await writeFile(join(repo, 'data/three.txt'), 'three\n');
    await settle();

    // a listing saved without a digest (an older mlstore) gets one from the next status
    await withDb((db) => db.del('tree-listing-digest'));
    expect((await runJson(['status'], { cwd: repo })).json).toMatchObject({ clean: true });
    const saved = await withDb((db) => db.get('tree-listing-digest'));
    expect(JSON.parse(saved!)).toMatchObject({ digest: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((await runJson(['status', '--verify'], { cwd: repo })).json).toMatchObject({ clean: true });
  });
});

async function findTreeNaming(paths: string[], needle: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  for (const p of paths) if ((await readFile(p, 'utf8')).includes(needle)) return p;
  throw new Error(`no tree names ${needle}`);
}
