/**
 * Healing the local store from the workspace: after bit rot in a stored chunk (loose or packed),
 * a lost chunk, or a damaged file manifest, `add` alone changes nothing (the stat cache and the
 * stored sizes say all is well), while `add --verify` re-reads the files, finds the damaged copies
 * and replaces them, keeping the bad bytes in quarantine. fsck is clean afterwards and a checkout
 * gives the exact bytes — no remote needed.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, runJson } from '../helpers/cli.js';
import { newRepo, pseudoRandom, sha256, writeFiles } from '../helpers/repo.js';

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out.sort();
}

/** Flips one byte of a file in place: same size, other bytes. */
async function rot(path: string, at: number): Promise<void> {
  const bytes = await readFile(path);
  bytes[at] = bytes[at]! ^ 0xff;
  await writeFile(path, bytes);
}

describe('add --verify heals the store from the workspace', () => {
  it('replaces a rotted loose chunk, a rotted packed chunk, a lost chunk and a damaged manifest', async () => {
    const repo = await newRepo({ chunks: [] }); // default chunk sizes: the big file's chunks are loose files
    const big = pseudoRandom('heal', 3 * 1024 * 1024 + 5); // several chunks of the default size: loose files and a manifest
    await writeFiles(repo, { 'data/big.bin': big, 'data/small.txt': 'small and packed\n', 'data/other.txt': 'another small one\n' });
    expect((await runCli(['add', 'data'], { cwd: repo })).code).toBe(0);
    expect((await runCli(['commit', '-m', 'v1'], { cwd: repo })).code).toBe(0);

    const store = join(repo, '.mlstore');
    const loose = await filesUnder(join(store, 'objects/chunks'));
    expect(loose.length).toBeGreaterThanOrEqual(3);
    await rot(loose[0]!, 100);
    await rm(loose[1]!);
    const packs = (await readdir(join(store, 'packs'))).filter((n) => n.endsWith('.pack'));
    expect(packs).toHaveLength(1);
    await rot(join(store, 'packs', packs[0]!), 3);
    const metas = await filesUnder(join(store, 'objects/meta'));
    const manifests = [];
    for (const m of metas) if ((await readFile(m, 'utf8')).includes('"chunks":[')) manifests.push(m);
    expect(manifests).toHaveLength(1);
    await rot(manifests[0]!, 20);

    const damaged = await runJson(['fsck'], { cwd: repo });
    expect(damaged.code).toBe(1);
    // the rotted chunks and the manifest (the lost chunk hides behind the damaged manifest that lists it)
    expect(damaged.json.problems.filter((p: { severity: string }) => p.severity === 'error').length).toBeGreaterThanOrEqual(3);

    // the human report says how to heal from the workspace
    const human = await runCli(['fsck'], { cwd: repo });
    expect(human.stderr).toMatch(/hint: .*mlstore add --verify .*data\/(big\.bin|small\.txt|other\.txt)/);

    // a plain add trusts the stat cache and the stored sizes: nothing is healed
    const plain = await runJson(['add', 'data'], { cwd: repo });
    expect(plain.json.healed).toEqual([]);
    expect((await runJson(['fsck'], { cwd: repo })).code).toBe(1);

    const healed = await runJson(['add', '--verify', 'data'], { cwd: repo });
    expect(healed.code, healed.stderr).toBe(0);
    expect(healed.json.healed.map((h: { kind: string }) => h.kind).sort()).toEqual(['chunk', 'chunk', 'metadata']); // the lost one is simply written again
    for (const h of healed.json.healed) expect(await filesUnder(join(store, 'quarantine'))).toContain(join(store, h.quarantined));
    const clean = await runJson(['fsck'], { cwd: repo });
    expect(clean.code, JSON.stringify(clean.json.problems)).toBe(0);

    await rm(join(repo, 'data'), { recursive: true });
    expect((await runCli(['checkout', '-f', 'HEAD'], { cwd: repo })).code).toBe(0);
    expect(sha256(await readFile(join(repo, 'data/big.bin')))).toBe(sha256(big));
    expect(await readFile(join(repo, 'data/small.txt'), 'utf8')).toBe('small and packed\n');
    expect(await readFile(join(repo, 'data/other.txt'), 'utf8')).toBe('another small one\n');

    // intact copies are left alone: a second --verify heals nothing
    expect((await runJson(['add', '--verify', 'data'], { cwd: repo })).json.healed).toEqual([]);
  });
});
