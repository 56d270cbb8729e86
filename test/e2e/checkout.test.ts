/**
 * checkout through the CLI: exact bytes back, local changes protected, tracked files removed,
 * odd names, empty files and directories, the executable bit, and symlinks never followed.
 */
import { chmod, lstat, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorCodeOf, runCli, runJson, spawnCliDone } from '../helpers/cli.js';
import { newRepo, pseudoRandom, snapshotTree, tempDir, writeFiles } from '../helpers/repo.js';
import { assertStoreConsistent, flipChunkByte, removeChunk, workspaceLeftovers } from '../helpers/store.js';
import { sharedArena } from '../../src/core/shared-arena.js';

const dataOnly = (p: string) => p === 'data' || p.startsWith('data/');

async function commitAll(repo: string, message: string): Promise<string> {
  const add = await runCli(['add', 'data'], { cwd: repo });
  expect(add.code, add.stderr).toBe(0);
  const c = await runJson(['commit', '-m', message], { cwd: repo });
  expect(c.code, c.stderr).toBe(0);
  return c.json.id as string;
}

describe('e2e checkout', () => {
  it('refuses to overwrite or remove local changes (exit 2, LOCAL_CHANGES, nothing touched); --force does it', async () => {
    const repo = await newRepo();
    await writeFiles(repo, { 'data/a.txt': 'v1 a\n', 'data/b.txt': 'v1 b\n', 'data/big.bin': pseudoRandom('b1', 60_000) });
    const v1 = await commitAll(repo, 'v1');
    await writeFiles(repo, { 'data/a.txt': 'v2 a\n', 'data/new.txt': 'only in v2\n' });
    await commitAll(repo, 'v2');

    // an uncommitted edit of a file the checkout must overwrite
    await writeFile(join(repo, 'data/a.txt'), 'my precious edit\n');
    const before = await snapshotTree(repo);
    expect(await errorCodeOf(['checkout', v1], { cwd: repo })).toMatchObject({ code: 2, error: 'LOCAL_CHANGES' });
    expect(await snapshotTree(repo)).toEqual(before);
    expect((await readFile(join(repo, '.mlstore/HEAD'), 'utf8')).trim()).toBe('ref: refs/heads/main');

    // an uncommitted edit of a file the checkout must remove
    await runCli(['checkout', '--force', 'main'], { cwd: repo });
    await writeFile(join(repo, 'data/new.txt'), 'edited, not committed\n');
    const before2 = await snapshotTree(repo);
    const r = await runJson(['checkout', v1], { cwd: repo });
    expect(r).toMatchObject({ code: 2, json: { ok: false, error: { code: 'LOCAL_CHANGES', details: { paths: ['data/new.txt'] } } } });
    expect(await snapshotTree(repo)).toEqual(before2);

    // a partial checkout is protected the same way
    await writeFile(join(repo, 'data/a.txt'), 'edit again\n');
    expect(await errorCodeOf(['checkout', v1, 'data/a.txt'], { cwd: repo })).toMatchObject({ code: 2, error: 'LOCAL_CHANGES' });
    expect(await readFile(join(repo, 'data/a.txt'), 'utf8')).toBe('edit again\n');

    // --force replaces them, and keeps what it replaced under .mlstore/discarded/<time>/<path>
    await writeFile(join(repo, 'data/never-added.txt'), 'results I forgot to add\n');
    const forced = await runJson(['checkout', '--force', v1], { cwd: repo });
    expect(forced.code, forced.stderr).toBe(0);
    expect(await readFile(join(repo, 'data/a.txt'), 'utf8')).toBe('v1 a\n');
    await expect(stat(join(repo, 'data/new.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(join(repo, 'data/never-added.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await runJson(['status'], { cwd: repo })).json.clean).toBe(true);
    expect(await workspaceLeftovers(repo)).toEqual([]);
    const { dir, paths } = forced.json.discarded as { dir: string; paths: string[] };
    expect(dir).toMatch(/^\.mlstore\/discarded\/\d{4}-\d\d-\d\dT[\d-]+Z$/);
    expect([...paths].sort()).toEqual(['data/a.txt', 'data/never-added.txt', 'data/new.txt']);
    expect(await readFile(join(repo, dir, 'data/a.txt'), 'utf8')).toBe('edit again\n');
    expect(await readFile(join(repo, dir, 'data/new.txt'), 'utf8')).toBe('edited, not committed\n');
    expect(await readFile(join(repo, dir, 'data/never-added.txt'), 'utf8')).toBe('results I forgot to add\n');
    // a forced checkout with nothing to replace keeps nothing and says so
    const again = await runJson(['checkout', '--force', 'main'], { cwd: repo });
    expect(again.code, again.stderr).toBe(0);
    expect(again.json.discarded).toBeUndefined();
    // the human output names where they went
    await writeFile(join(repo, 'data/a.txt'), 'one more edit\n');
    const text = await runCli(['checkout', '--force', v1], { cwd: repo });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/kept 1 local change\(s\) it replaced or removed in \.mlstore\/discarded\/\S+\//i);
  });

  it('--force writes nothing when it cannot keep the local changes it would replace', async () => {
    const repo = await newRepo();
    await writeFiles(repo, { 'data/a.txt': 'v1 a\n', 'data/b.txt': 'v1 b\n' });
    const v1 = await commitAll(repo, 'v1');
    await writeFiles(repo, { 'data/a.txt': 'v2 a\n', 'data/b.txt': 'v2 b\n' });
    await commitAll(repo, 'v2');
    await writeFiles(repo, { 'data/a.txt': 'edit a\n', 'data/b.txt': 'edit b\n' });
    await writeFile(join(repo, '.mlstore/discarded'), 'a file where the directory goes\n');
    const before = await snapshotTree(repo);
    const r = await runJson(['checkout', '--force', v1], { cwd: repo });
    expect(r).toMatchObject({ code: 3, json: { ok: false, error: { code: 'IO_ERROR' } } });
    expect(r.json.error.message).toMatch(/move aside data\/a\.txt/);
    expect(await snapshotTree(repo)).toEqual(before);
    expect((await readFile(join(repo, '.mlstore/HEAD'), 'utf8')).trim()).toBe('ref: refs/heads/main');
  });

  it('removes tracked files the version does not have, keeps untracked ones, and cleans emptied directories', async () => {
    const repo = await newRepo();
    await writeFiles(repo, { 'data/keep.txt': 'k\n' });
    const v1 = await commitAll(repo, 'v1');
    await writeFiles(repo, { 'data/deep/er/x.txt': 'x\n', 'data/y.txt': 'y\n' });
    await commitAll(repo, 'v2');
    await writeFiles(repo, { 'untracked.txt': 'not mine\n', 'other/z.txt': 'z\n' });

    const r = await runJson(['checkout', v1], { cwd: repo });
    expect(r.code, r.stderr).toBe(0);
    expect([...r.json.removed].sort()).toEqual(['data/deep/er/x.txt', 'data/y.txt']);
    expect(await readdir(join(repo, 'data'))).toEqual(['keep.txt']);
    expect(await readFile(join(repo, 'untracked.txt'), 'utf8')).toBe('not mine\n');
    expect(await readFile(join(repo, 'other/z.txt'), 'utf8')).toBe('z\n');
    // an untracked file inside a directory the version drops keeps that directory
    await runCli(['checkout', 'main'], { cwd: repo });
    await writeFiles(repo, { 'data/deep/er/mine.txt': 'mine\n' });
    // mine.txt lies under the tracked root "data", so it counts as a local change to be removed
    expect(await errorCodeOf(['checkout', v1], { cwd: repo })).toMatchObject({ code: 2, error: 'LOCAL_CHANGES' });
  });

  it('a file that became a directory (and back) checks out both ways; untracked files in the way are refused', async () => {
    const repo = await newRepo();
    await writeFiles(repo, { 'data/x': 'x is a file\n', 'data/keep': 'k' });
    const v1 = await commitAll(repo, 'x file');
    await rm(join(repo, 'data/x'));
    await writeFiles(repo, { 'data/x/inner/y': 'y\n', 'data/x/z': 'z\n', 'data/x/empty': null });
    const v2 = await commitAll(repo, 'x dir');
    const want1 = await snapshotTree(repo, { include: dataOnly });

    const r1 = await runJson(['checkout', v1], { cwd: repo });
    expect(r1.code, r1.stderr).toBe(0);
    expect(await readFile(join(repo, 'data/x'), 'utf8')).toBe('x is a file\n');
    const r2 = await runJson(['checkout', v2], { cwd: repo });
    expect(r2.code, r2.stderr).toBe(0);
    expect(await snapshotTree(repo, { include: dataOnly })).toEqual(want1);

    // a directory that holds something mlstore does not track is not deleted to make room
    const outside = await tempDir('mlstore-outside-');
    await symlink(outside, join(repo, 'data/x/link'));
    const before = await snapshotTree(repo);
    expect(await errorCodeOf(['checkout', '--force', v1], { cwd: repo })).toMatchObject({ code: 2, error: 'LOCAL_CHANGES' });
    expect(await snapshotTree(repo)).toEqual(before);
  });

  it('a corrupt or missing chunk stops the checkout (exit 1) and the workspace file is never replaced by bad bytes', async () => {
    const repo = await newRepo();
    const good = pseudoRandom('c1', 50_000);
    await writeFiles(repo, { 'data/multi.bin': good, 'data/one.txt': 'one chunk\n' });
    const v1 = await commitAll(repo, 'v1');
    await writeFiles(repo, { 'data/multi.bin': 'changed\n', 'data/one.txt': 'changed too\n' });
    await commitAll(repo, 'v2');
    const show = await runJson(['show', v1], { cwd: repo });
    const one = show.json.files.find((f: { path: string }) => f.path === 'data/one.txt');
    await flipChunkByte(repo, one.digest); // packed: the flip is inside a pack file

    const r = await runJson(['checkout', v1, 'data/one.txt'], { cwd: repo });
    expect(r).toMatchObject({ code: 1, json: { error: { code: 'CORRUPT_OBJECT', details: { id: one.digest } } } });
    expect(await readFile(join(repo, 'data/one.txt'), 'utf8')).toBe('changed too\n');
    await removeChunk(repo, one.digest);
    const r2 = await runJson(['checkout', v1], { cwd: repo });
    expect(r2).toMatchObject({ code: 1, json: { error: { code: 'MISSING_OBJECT' } } });
    expect(await readFile(join(repo, 'data/one.txt'), 'utf8')).toBe('changed too\n');
    expect((await readFile(join(repo, '.mlstore/HEAD'), 'utf8')).trim()).toBe('ref: refs/heads/main');
    expect(await workspaceLeftovers(repo)).toEqual([]);
    expect((await readdir(join(repo, '.mlstore/tmp'))).filter((n) => n.startsWith('checkout-'))).toEqual([]); // temp files of the failed writes removed
  });

  it('failed checkouts give their read buffers back (runCli runs in this process: its shared arena is ours)', async () => {
    const repo = await newRepo({ chunks: ['--chunk-min', '64KiB', '--chunk-avg', '128KiB', '--chunk-max', '512KiB'] });
    await writeFiles(repo, { 'data/big.bin': pseudoRandom('buffers', 3 * 1024 * 1024) });
    const v1 = await commitAll(repo, 'v1');
    const chunkDir = join(repo, '.mlstore/objects/chunks'); // loose: chunks over 64 KiB are not packed
    const ids: string[] = [];
    for (const fan of await readdir(chunkDir)) for (const name of await readdir(join(chunkDir, fan))) ids.push(fan + name);
    expect(ids.length).toBeGreaterThan(8);
    await flipChunkByte(repo, ids.sort()[ids.length >> 1]!);
    await rm(join(repo, 'data/big.bin'));
    const fail = async () => expect((await runJson(['checkout', '--force', v1], { cwd: repo })).json.error.code).toBe('CORRUPT_OBJECT');
    await fail();
    const high = sharedArena().reserved;
    for (let i = 0; i < 6; i++) await fail();
    // Without giving them back each failure kept its 8 prefetched 4 MiB buffers (+32 MiB a run,
    // measured); reused, the high-water mark moves at most when a run happens to hold more at once.
    expect(sharedArena().reserved - high).toBeLessThan(16 * 1024 * 1024);
  });

  it('bin/mlstore verifies large chunks on worker threads: a flipped byte in one is refused, the good store checks out exactly', async () => {
    const repo = await newRepo({ chunks: [] }); // default sizes: ~1 MiB chunks, verified off the main thread
    const big = pseudoRandom('threads', 12 * 1024 * 1024 + 17);
    await writeFiles(repo, { 'data/big.bin': big });
    const v1 = await commitAll(repo, 'v1');
    await writeFiles(repo, { 'data/big.bin': 'changed\n' });
    await commitAll(repo, 'v2');
    // big.bin's chunks are the only objects over 64 KiB in this store
    const chunkDir = join(repo, '.mlstore/objects/chunks');
    const large: string[] = [];
    for (const fan of await readdir(chunkDir)) {
      for (const name of await readdir(join(chunkDir, fan))) if ((await stat(join(chunkDir, fan, name))).size > 64 * 1024) large.push(join(chunkDir, fan, name));
    }
    expect(large.length).toBeGreaterThan(4);
    const victimPath = large.sort()[Math.floor(large.length / 2)]!;
    const victim = victimPath.split('/').slice(-2).join('');
    const original = await readFile(victimPath);
    const flipped = Buffer.from(original);
    flipped[flipped.length >> 1]! ^= 0x40;
    await chmod(victimPath, 0o644);
    await writeFile(victimPath, flipped);

    const bad = await spawnCliDone(['checkout', v1, '--json'], { cwd: repo });
    expect(bad.code, bad.stderr).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ error: { code: 'CORRUPT_OBJECT', details: { id: victim } } });
    expect(await readFile(join(repo, 'data/big.bin'), 'utf8')).toBe('changed\n');

    await writeFile(victimPath, original);
    const good = await spawnCliDone(['checkout', v1], { cwd: repo });
    expect(good.code, good.stderr).toBe(0);
    expect(Buffer.compare(await readFile(join(repo, 'data/big.bin')), Buffer.from(big))).toBe(0);
  }, 60_000);

  it('round-trips empty files, empty directories, odd names and the executable bit', async () => {
    const repo = await newRepo();
    const names = ['with space.txt', 'ünïcödé-日本語.txt', 'new\nline.txt', 'tab\there', ' leading', 'trailing ', '-dash', '#hash', '!bang', '[x]*?', 'a\\b'.replace('\\', '_'), '😀'];
    const files: Record<string, string | Uint8Array | null> = {
      'data/empty.bin': '',
      'data/empty-dir': null,
      'data/nested/empty/dirs': null,
      'data/run.sh': '#!/bin/sh\necho hi\n',
      'data/multi.bin': pseudoRandom('multi', 100_000),
    };
    for (const n of names) files[`data/odd/${n}`] = `content of ${n}\n`;
    await writeFiles(repo, files);
    await chmod(join(repo, 'data/run.sh'), 0o755);
    await chmod(join(repo, 'data/odd/😀'), 0o700);
    const want = await snapshotTree(repo, { include: dataOnly });
    const v1 = await commitAll(repo, 'odd');

    const show = await runJson(['show', v1], { cwd: repo });
    const modes = Object.fromEntries(show.json.files.map((f: { path: string; mode: number }) => [f.path, f.mode]));
    expect(modes['data/run.sh']).toBe(0o755);
    expect(modes['data/odd/😀']).toBe(0o755);
    expect(modes['data/empty.bin']).toBe(0o644);
    expect(show.json.files.map((f: { path: string }) => f.path)).toContain('data/odd/new\nline.txt');

    await rm(join(repo, 'data'), { recursive: true });
    const st = await runJson(['status'], { cwd: repo });
    expect(st.json.deleted).toHaveLength(Object.values(files).filter((v) => v !== null).length);
    const co = await runJson(['checkout', v1], { cwd: repo });
    expect(co.code, co.stderr).toBe(0);
    expect(await snapshotTree(repo, { include: dataOnly })).toEqual(want);
    expect((await stat(join(repo, 'data/run.sh'))).mode & 0o777).toBe(0o755);
    expect((await stat(join(repo, 'data/empty.bin'))).mode & 0o777).toBe(0o644);
    expect((await readdir(join(repo, 'data/nested/empty/dirs')))).toEqual([]);
    expect((await runJson(['status'], { cwd: repo })).json.clean).toBe(true);

    // the exec bit alone is a change
    await chmod(join(repo, 'data/run.sh'), 0o644);
    const st2 = await runJson(['status'], { cwd: repo });
    expect(st2.json.modified.map((f: { path: string }) => f.path)).toEqual(['data/run.sh']);
    await assertStoreConsistent(repo);
  });

  it('a file name mlstore cannot store (backslash) is refused with BAD_NAME, nothing recorded', async () => {
    const repo = await newRepo();
    await writeFiles(repo, { 'data/ok.txt': 'ok', 'data/a\\b.txt': 'bad' });
    expect(await errorCodeOf(['add', 'data'], { cwd: repo })).toMatchObject({ code: 2, error: 'BAD_NAME' });
    expect((await runJson(['status'], { cwd: repo })).json.tracked).toEqual([]);
  });

  it('a file name that is not UTF-8 is refused (BAD_NAME), never silently left out of the version', async () => {
    const repo = await newRepo();
    await writeFiles(repo, { 'data/ok.txt': 'ok' });
    await writeFile(Buffer.concat([Buffer.from(join(repo, 'data/')), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74])]), 'latin-1 name'); // "café.txt" in Latin-1
    const r = await runJson(['add', 'data'], { cwd: repo });
    expect(r).toMatchObject({ code: 2, json: { error: { code: 'BAD_NAME', details: { bytes: '636166e92e747874' } } } });
    // a BOM at the start of a name is kept, not swallowed by the decoder
    await rm(Buffer.concat([Buffer.from(join(repo, 'data/')), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74])]));
    await writeFiles(repo, { 'data/\uFEFFbom.txt': 'bom' });
    const ok = await runJson(['add', 'data'], { cwd: repo });
    expect(ok.code, ok.stderr).toBe(0);
    expect((await runJson(['status'], { cwd: repo })).json.new.map((f: { path: string }) => f.path)).toEqual(['data/ok.txt', 'data/\uFEFFbom.txt']);
    // a real U+FFFD in a UTF-8 name (what Node shows for bytes that are not UTF-8) is a valid name
    await writeFiles(repo, { 'data/\uFFFDreplacement.txt': 'fffd' });
    const fffd = await runJson(['add', 'data'], { cwd: repo });
    expect(fffd.code, fffd.stderr).toBe(0);
    expect(fffd.json.files).toBe(3);
  });

  it('symlinks: skipped and reported inside a directory, refused when named, never followed by checkout', async () => {
    const repo = await newRepo();
    const outside = await tempDir('mlstore-outside-');
    await writeFiles(outside, { 'secret.txt': 'outside data\n' });
    await writeFiles(repo, { 'data/real.txt': 'real\n', 'data/sub/x.txt': 'x\n' });
    await symlink(join(outside, 'secret.txt'), join(repo, 'data/link-to-file'));
    await symlink(outside, join(repo, 'data/link-to-dir'));
    await symlink('real.txt', join(repo, 'data/relative-link'));

    const add = await runJson(['add', 'data'], { cwd: repo });
    expect(add.code, add.stderr).toBe(0);
    expect(add.json.files).toBe(2);
    expect(add.json.skipped).toEqual([
      { path: 'data/link-to-dir', reason: 'symlink' },
      { path: 'data/link-to-file', reason: 'symlink' },
      { path: 'data/relative-link', reason: 'symlink' },
    ]);
    const text = await runCli(['add', 'data'], { cwd: repo });
    expect(text.stderr).toContain('skipped symlink data/link-to-file');

    // naming a symlink explicitly is refused, as is a path that goes through one
    expect(await errorCodeOf(['add', 'data/link-to-file'], { cwd: repo })).toMatchObject({ code: 2, error: 'BAD_PATH' });
    expect(await errorCodeOf(['add', 'data/link-to-dir'], { cwd: repo })).toMatchObject({ code: 2, error: 'BAD_PATH' });
    expect(await errorCodeOf(['add', 'data/link-to-dir/secret.txt'], { cwd: repo })).toMatchObject({ code: 2, error: 'BAD_PATH' });
    const v1 = (await runJson(['commit', '-m', 'v1'], { cwd: repo })).json.id as string;
    const show = await runJson(['show', v1], { cwd: repo });
    expect(show.json.files.map((f: { path: string }) => f.path)).toEqual(['data/real.txt', 'data/sub/x.txt']);

    // a symlink planted where checkout must create a directory is not followed
    await rm(join(repo, 'data'), { recursive: true });
    await mkdir(join(repo, 'data'));
    await symlink(outside, join(repo, 'data/sub'));
    const outsideBefore = await snapshotTree(outside);
    const co = await runJson(['checkout', '--force', v1], { cwd: repo });
    expect(co).toMatchObject({ code: 2, json: { error: { code: 'BAD_PATH' } } });
    expect(await snapshotTree(outside)).toEqual(outsideBefore);
    expect((await lstat(join(repo, 'data/sub'))).isSymbolicLink()).toBe(true);
    expect(await readdir(join(repo, 'data'))).toEqual(['sub']); // refused before writing anything

    // the same when the symlink replaces the top-level directory itself
    await rm(join(repo, 'data'), { recursive: true });
    await symlink(outside, join(repo, 'data'));
    const co2 = await runJson(['checkout', '--force', v1], { cwd: repo });
    expect(co2).toMatchObject({ code: 2, json: { error: { code: 'BAD_PATH' } } });
    expect(await snapshotTree(outside)).toEqual(outsideBefore);
    expect(await workspaceLeftovers(repo)).toEqual([]);
    await assertStoreConsistent(repo);
  });
});
