/**
 * Ctrl-C (SIGINT to the real bin/mlstore) in the middle of a large add and a large checkout:
 * exit 130, the store stays consistent, no partial files are left in the workspace, and running
 * the command again succeeds.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runJson, spawnCli } from '../helpers/cli.js';
import { newRepo, sha256, snapshotTree, writeFiles } from '../helpers/repo.js';
import { assertStoreConsistent, checkObjects, workspaceLeftovers } from '../helpers/store.js';

const BIG = 48 * 1024 * 1024;

async function dataset(repo: string): Promise<void> {
  const files: Record<string, Uint8Array> = { 'data/big.bin': randomBytes(BIG), 'data/mid.bin': randomBytes(8 * 1024 * 1024) };
  for (let i = 0; i < 200; i++) files[`data/small/s${i}.bin`] = randomBytes(1000 + i);
  await writeFiles(repo, files);
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const count = async (dir: string, re = /./) => (await readdir(dir).catch(() => [] as string[])).filter((n) => re.test(n)).length;

describe('e2e interrupts (SIGINT)', () => {
  it('during a large add: exit 130, store consistent, lock released, nothing recorded; add again succeeds', async () => {
    const repo = await newRepo({ chunks: [] }); // default 256 KiB / 1 MiB / 4 MiB
    await dataset(repo);
    const p = spawnCli(['add', 'data'], { cwd: repo });
    // interrupt once the store has started receiving chunks (staged in tmp/ until their batch commits)
    const started = async () =>
      (await count(join(repo, '.mlstore/tmp'), /\.tmp$/)) > 0 || (await count(join(repo, '.mlstore/objects/chunks'))) > 0;
    await waitFor(async () => (await started()) || p.child.exitCode !== null, 60_000, 'the first chunk');
    expect(p.child.exitCode, `add finished before it could be interrupted: ${p.output()}`).toBeNull();
    p.child.kill('SIGINT');
    const r = await p.done;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain('INTERRUPTED');

    const objects = await checkObjects(repo);
    expect(objects.problems).toEqual([]);
    expect(await workspaceLeftovers(repo)).toEqual([]);
    await expect(stat(join(repo, '.mlstore/lock'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(readFile(join(repo, '.mlstore/tracked.json'))).rejects.toMatchObject({ code: 'ENOENT' });

    const again = await runJson(['add', 'data'], { cwd: repo });
    expect(again.code, again.stderr).toBe(0);
    expect(again.json.files).toBe(202);
    const c = await runJson(['commit', '-m', 'after interrupt'], { cwd: repo });
    expect(c.code, c.stderr).toBe(0);
    const show = await runJson(['show'], { cwd: repo });
    const big = show.json.files.find((f: { path: string }) => f.path === 'data/big.bin');
    expect(big.digest).toBe(sha256(await readFile(join(repo, 'data/big.bin'))));
    await assertStoreConsistent(repo);
  }, 120_000);

  it('during a large checkout: exit 130, every file old or complete, no temp files in the workspace; checkout again succeeds', async () => {
    const repo = await newRepo({ chunks: [] });
    await dataset(repo);
    expect((await runJson(['add', 'data'], { cwd: repo })).code).toBe(0);
    const v1 = (await runJson(['commit', '-m', 'v1'], { cwd: repo })).json.id as string;
    const want = await snapshotTree(repo, { include: (p) => p === 'data' || p.startsWith('data/') });
    await rm(join(repo, 'data'), { recursive: true });

    const p = spawnCli(['checkout', v1], { cwd: repo });
    // interrupt while the big file is being written (its temp file exists)
    await waitFor(
      async () => (await count(join(repo, '.mlstore/tmp'), /^checkout-/)) > 0 || p.child.exitCode !== null,
      60_000,
      'a checkout temp file',
    );
    expect(p.child.exitCode, `checkout finished before it could be interrupted: ${p.output()}`).toBeNull();
    p.child.kill('SIGINT');
    const r = await p.done;
    expect(r.code, r.stderr).toBe(130);

    expect(await workspaceLeftovers(repo)).toEqual([]);
    const now = await snapshotTree(repo, { include: (p) => p === 'data' || p.startsWith('data/') });
    for (const [path, value] of now) {
      if (value === 'dir') continue;
      expect(value, `${path} is partial`).toBe(want.get(path)); // complete, never half-written
    }
    expect(now.size).toBeLessThan(want.size); // it really was interrupted
    await assertStoreConsistent(repo);

    const again = await runJson(['checkout', v1], { cwd: repo });
    expect(again.code, again.stderr).toBe(0);
    expect(await snapshotTree(repo, { include: (p) => p === 'data' || p.startsWith('data/') })).toEqual(want);
    expect((await runJson(['status'], { cwd: repo })).json.clean).toBe(true);
  }, 120_000);
});
