/**
 * Disk full in the middle of add and commit, on a real 8 MiB tmpfs: exit 3 NO_SPACE, the store
 * stays consistent (every object hashes to its name, refs complete), and once space is freed the
 * next add/commit works. Needs root (mount); skipped with the reason printed otherwise.
 */
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runJson } from '../helpers/cli.js';
import { newRepo, tempDir, writeFiles } from '../helpers/repo.js';
import { assertStoreConsistent, workspaceLeftovers } from '../helpers/store.js';
import { withTmpfs } from '../helpers/tmpfs.js';

/** Fills the file system until ENOSPC, then gives back `leave` bytes (room for small files such as the lock). */
async function fill(path: string, leave: number): Promise<void> {
  const fh = await open(path, 'w');
  const block = Buffer.alloc(4096, 7);
  let size = 0;
  try {
    for (;;) size += (await fh.write(block)).bytesWritten;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
  await fh.truncate(Math.max(0, size - leave));
  await fh.close();
}

describe('e2e disk full', () => {
  it('add and commit on a full disk: exit 3 NO_SPACE, store consistent, works again after freeing space', async (ctx) => {
    await withTmpfs(ctx, await tempDir('mlstore-tmpfs-'), '8m', async (mnt) => {
      const repo = await newRepo({ dir: mnt, chunks: ['--chunk-min', '64KiB', '--chunk-avg', '256KiB', '--chunk-max', '1MiB'] });
      await writeFiles(repo, { 'data/small.txt': 'small\n', 'data/big.bin': randomBytes(5 * 1024 * 1024) });

      // 5 MiB of data + 5 MiB of chunks do not fit in 8 MiB
      const r = await runJson(['add', 'data'], { cwd: repo });
      expect(r.json.error?.code, r.stderr).toBe('NO_SPACE');
      expect(r.code).toBe(3);
      expect(r.json.error.hint).toBeTruthy();
      await assertStoreConsistent(repo);
      await expect(stat(join(repo, '.mlstore/lock'))).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(readFile(join(repo, '.mlstore/tracked.json'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await workspaceLeftovers(repo)).toEqual([]);
      const tmpFiles = (await readdir(join(repo, '.mlstore/tmp'), { withFileTypes: true })).filter((e) => e.isFile());
      expect(tmpFiles.map((e) => e.name)).toEqual([]); // failed writes cleaned up

      // free space: the big file goes; add and commit work
      await rm(join(repo, 'data/big.bin'));
      const ok = await runJson(['add', 'data'], { cwd: repo });
      expect(ok.code, ok.stderr).toBe(0);
      const c1 = await runJson(['commit', '-m', 'v1'], { cwd: repo });
      expect(c1.code, c1.stderr).toBe(0);
      const ref1 = await readFile(join(repo, '.mlstore/refs/heads/main'), 'utf8');

      // disk full at commit time: the ref does not move and nothing is left half-written
      await writeFiles(repo, { 'data/more.bin': randomBytes(256 * 1024) });
      await fill(join(mnt, 'filler'), 64 * 1024); // room for the lock and small files, not for the new chunks
      const c2 = await runJson(['commit', '-m', 'v2'], { cwd: repo });
      expect(c2).toMatchObject({ code: 3, json: { error: { code: 'NO_SPACE' } } });
      expect(c2.json.error.details.path, 'the commit itself ran out of space, not the lock').toMatch(/objects|tmp\/[0-9a-z@.-]+\.tmp/);
      expect(await readFile(join(repo, '.mlstore/refs/heads/main'), 'utf8')).toBe(ref1);
      await assertStoreConsistent(repo);
      await expect(stat(join(repo, '.mlstore/lock'))).rejects.toMatchObject({ code: 'ENOENT' });

      await rm(join(mnt, 'filler'));
      const c3 = await runJson(['commit', '-m', 'v2'], { cwd: repo });
      expect(c3.code, c3.stderr).toBe(0);
      expect((await runJson(['status'], { cwd: repo })).json.clean).toBe(true);
      const { refs } = await assertStoreConsistent(repo);
      expect(refs.commits).toBe(2);
    });
  }, 60_000);
});
