/**
 * The three local durability modes through the CLI (MLSTORE_DURABILITY): every mode stores the
 * same objects, leaves nothing staged in tmp/ once the command returns, and checks out the exact
 * bytes; a bad value is a usage error that touches nothing. Small chunks are packed in the
 * batched and none modes, loose with fsync: the same chunk ids either way. The same holds with
 * large chunks written by O_DIRECT (MLSTORE_DIRECT_IO=1). docs/storage.md#local-durability.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, runJson } from '../helpers/cli.js';
import { newRepo, pseudoRandom, tempDir, writeFiles } from '../helpers/repo.js';
import { assertStoreConsistent, readPacks } from '../helpers/store.js';

async function dataset(repo: string): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = { 'data/big.bin': pseudoRandom('big', 3 * 1024 * 1024) };
  for (let i = 0; i < 150; i++) files[`data/small/f${i}.bin`] = pseudoRandom(`s${i % 120}`, 100 + i * 37); // some duplicates
  await writeFiles(repo, files);
  return files;
}

const objectNames = async (repo: string) => {
  const out: string[] = [];
  for (const ns of ['chunks', 'meta']) {
    const base = join(repo, '.mlstore/objects', ns);
    for (const fan of await readdir(base).catch(() => [] as string[])) for (const n of await readdir(join(base, fan))) out.push(`${ns}/${n}`);
  }
  for (const entries of (await readPacks(repo)).values()) for (const [id] of entries) out.push(`chunks/${id.slice(2)}`);
  return out.sort();
};

describe('e2e: MLSTORE_DURABILITY', () => {
  const stores: Record<string, string[]> = {};

  const modes = [
    ['batched', { MLSTORE_DURABILITY: 'batched' }],
    ['fsync', { MLSTORE_DURABILITY: 'fsync' }],
    ['none', { MLSTORE_DURABILITY: 'none' }],
    ['batched+direct', { MLSTORE_DIRECT_IO: '1' }],
    ['fsync+direct', { MLSTORE_DURABILITY: 'fsync', MLSTORE_DIRECT_IO: '1' }],
  ] as const;
  for (const [mode, vars] of modes) {
    it(`${mode}: add + commit store every object at its final key, tmp/ empty, checkout gives the exact bytes`, async () => {
      const repo = await newRepo({ chunks: [] });
      const files = await dataset(repo);
      const add = await runJson(['add', 'data'], { cwd: repo, vars });
      expect(add.code, add.stderr).toBe(0);
      expect(add.json.files).toBe(151);
      expect((await readdir(join(repo, '.mlstore/tmp'))).filter((n) => /\.(tmp|pack|idx)$/.test(n))).toEqual([]);
      // small chunks are packed, except with per-object fsync (docs/format.md#packs)
      expect((await readPacks(repo)).size > 0).toBe(!mode.startsWith('fsync'));
      const commit = await runJson(['commit', '-m', mode], { cwd: repo, vars });
      expect(commit.code, commit.stderr).toBe(0);
      await assertStoreConsistent(repo);
      stores[mode] = await objectNames(repo);
      await rm(join(repo, 'data'), { recursive: true });
      const co = await runJson(['checkout', '-f', 'HEAD'], { cwd: repo, vars });
      expect(co.code, co.stderr).toBe(0);
      for (const [path, bytes] of Object.entries(files)) expect(Buffer.compare(await readFile(join(repo, path)), Buffer.from(bytes)), path).toBe(0);
    }, 60_000);
  }

  it('every mode stores the same chunks and the same number of metadata objects (commits differ by message)', () => {
    const chunks = (mode: string) => stores[mode]!.filter((n) => n.startsWith('chunks/'));
    const meta = (mode: string) => stores[mode]!.filter((n) => n.startsWith('meta/')).length;
    expect(chunks('batched').length).toBeGreaterThan(120);
    expect(chunks('fsync')).toEqual(chunks('batched'));
    for (const mode of ['none', 'batched+direct', 'fsync+direct']) expect(chunks(mode), mode).toEqual(chunks('batched'));
    expect(['fsync', 'none', 'batched+direct', 'fsync+direct'].map(meta)).toEqual(Array(4).fill(meta('batched')));
  });

  for (const [name, value, hint] of [
    ['MLSTORE_DURABILITY', 'sometimes', /batched/],
    ['MLSTORE_DIRECT_IO', 'yes', /page cache/],
  ] as const) {
    it(`an unknown ${name} is a usage error (exit 2, BAD_CONFIG) and nothing is stored`, async () => {
      const repo = await newRepo();
      await dataset(repo);
      const r = await runJson(['add', 'data'], { cwd: repo, vars: { [name]: value } });
      expect(r).toMatchObject({ code: 2, json: { error: { code: 'BAD_CONFIG' } } });
      expect(r.json.error.hint).toMatch(hint);
      expect(await objectNames(repo)).toEqual([]);
    });
  }
});

describe('e2e: leftovers of killed commands in .mlstore/tmp', () => {
  it('the next command that takes the repository lock removes old ones, but never a live writer’s or a young one', async () => {
    const repo = await newRepo();
    await dataset(repo);
    const tmp = join(repo, '.mlstore/tmp');
    const tag = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
    const hourAgo = new Date(Date.now() - 3_600_000);
    const files = {
      dead: `999999999@${tag}.0123456789abcdef-0.tmp`, // a killed writer on this host
      legacy: '0123456789abcdef-1.tmp', // named before owners were recorded
      checkout: 'checkout-0123456789abcdef-2', // a killed checkout
      live: `${process.pid}@${tag}.0123456789abcdef-3.tmp`, // this test process: alive
    };
    await writeFile(join(tmp, 'young.tmp'), 'a writer may still own me');
    for (const name of Object.values(files)) {
      await writeFile(join(tmp, name), 'partial');
      await utimes(join(tmp, name), hourAgo, hourAgo);
    }
    const add = await runJson(['add', 'data'], { cwd: repo });
    expect(add.code, add.stderr).toBe(0);
    const left = (await readdir(tmp)).filter((n) => n !== 'locks');
    expect(left.sort()).toEqual([files.live, 'young.tmp'].sort());
  });

  it('fetch, which takes no repository lock, removes a dead writer’s leftovers too, never a live one’s', async () => {
    const publisher = await newRepo();
    await writeFiles(publisher, { 'data/x.txt': 'one\n' });
    expect((await runCli(['add', 'data'], { cwd: publisher })).code).toBe(0);
    expect((await runCli(['commit', '-m', 'v1'], { cwd: publisher })).code).toBe(0);
    const remote = join(await tempDir(), 'remote');
    expect((await runCli(['remote', 'add', 'origin', remote], { cwd: publisher })).code).toBe(0);
    const push = await runCli(['push', 'origin'], { cwd: publisher });
    expect(push.code, push.stderr).toBe(0);
    const mirror = await newRepo();
    expect((await runCli(['remote', 'add', 'origin', remote], { cwd: mirror })).code).toBe(0);
    const tmp = join(mirror, '.mlstore/tmp');
    await mkdir(tmp, { recursive: true });
    const tag = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
    const dead = `999999999@${tag}.0123456789abcdef-0.tmp`;
    const live = `${process.pid}@${tag}.0123456789abcdef-1.tmp`;
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const name of [dead, live]) {
      await writeFile(join(tmp, name), 'partial');
      await utimes(join(tmp, name), hourAgo, hourAgo);
    }
    const fetched = await runCli(['fetch', 'origin'], { cwd: mirror });
    expect(fetched.code, fetched.stderr).toBe(0);
    expect((await readdir(tmp)).filter((n) => n.endsWith('.tmp'))).toEqual([live]);
  });
});
