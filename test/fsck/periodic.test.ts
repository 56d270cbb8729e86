/**
 * The options for periodic jobs on large stores, through the CLI: --max-age (remembered per
 * store in the index, bad objects forgotten), --sample/--seed (reproducible), --shard (every
 * object and every problem exactly once across the shards), --full, --fast (S3), and
 * --repair-from with quarantine.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/repo.js';
import { assertStoreConsistent, flipChunkByte, readPacks } from '../helpers/store.js';
import { s3Config } from '../s3/s3-config.js';
import { inSample } from '../../src/check/selection.js';
import {
  buildFixture,
  chunkKey,
  codes,
  freshTarget,
  fsckJson,
  metaKey,
  ok,
  problem,
  putCommitAndRef,
  putRawMeta,
  sha,
  type Fixture,
  type Target,
} from './helpers.js';

const { config: s3 } = s3Config();

let template: Fixture;
beforeAll(async () => {
  template = await buildFixture();
});

async function local(): Promise<{ fx: Fixture; target: Target }> {
  const { fx, target } = await freshTarget(template, 'local');
  return { fx, target };
}

const allChunks = (fx: Fixture): string[] => [...new Set([...fx.files.values(), ...fx.filesV1.values()].flatMap((f) => f.chunks.map(([id]) => id)))].sort();

async function flip(target: Target, key: string, at = 3): Promise<void> {
  const b = await target.read(key);
  b[at % b.length] = b[at % b.length]! ^ 0x40;
  await target.write(key, b);
}

const mismatches = (r: { problems: { code: string; id: string | null }[] }): string[] =>
  r.problems.filter((p) => p.code === 'HASH_MISMATCH').map((p) => p.id!).sort();

describe('--max-age', () => {
  it('skips what was verified recently, and re-reads what was found bad', async () => {
    const { fx, target } = await local();
    const n = (await fsckJson(fx, target)).report.counts.objects.chunks;
    const recent = await fsckJson(fx, target, ['--max-age', '1d']);
    expect(recent.code).toBe(0);
    expect(recent.report.counts.verified.chunks).toBe(0);
    expect(recent.report.counts.skipped.recent).toBe(n);
    expect(recent.report.options.maxAgeMs).toBe(86_400_000);

    const [id] = fx.files.get('data/a.bin')!.chunks[2]!;
    await flip(target, chunkKey(id));
    // within the window the damage is not re-read (that is the point of --max-age) …
    expect((await fsckJson(fx, target, ['--max-age', '1d'])).code).toBe(0);
    // … a full run finds it and forgets that the object was ever verified …
    const full = await fsckJson(fx, target);
    expect(codes(full.report)).toEqual([['HASH_MISMATCH', id]]);
    // … so the next windowed run reads it again and still reports it.
    const again = await fsckJson(fx, target, ['--max-age', '1d']);
    expect(codes(again.report)).toEqual([['HASH_MISMATCH', id]]);
    expect(again.report.counts.verified.chunks).toBe(0);
    expect(again.report.counts.skipped.recent).toBe(n - 1);
    // dangling objects are information, not damage: they stay inside the window
    await ok(['add', 'data'], fx.dir); // nothing new
    const extra = join(fx.dir, 'data', 'new.bin');
    await writeFile(extra, Buffer.alloc(3000, 7));
    await ok(['add', 'data'], fx.dir); // stored, never committed: dangling
    expect((await fsckJson(fx, target)).report.counts.dangling).toBeGreaterThan(0);
    const windowed = await fsckJson(fx, target, ['--max-age', '1d']);
    expect(windowed.report.counts.verified.chunks).toBe(0);
    // a zero window reads everything
    expect((await fsckJson(fx, target, ['--max-age', '0s'])).report.counts.skipped.recent).toBe(0);
  });

  it('metadata is always hashed, and objects found invalid stay reported inside the window', async () => {
    const { fx, target } = await local();
    const e = fx.files.get('data/b.txt')!;
    const tree = await putRawMeta(target, { type: 'tree', entries: [{ type: 'file', name: '.git', mode: 420, size: e.size, digest: e.digest }] });
    await putCommitAndRef(target, tree, 'refs/heads/evil');
    expect(codes((await fsckJson(fx, target)).report)).toEqual([['INVALID_OBJECT', tree]]);
    expect(codes((await fsckJson(fx, target, ['--max-age', '1d'])).report)).toEqual([['INVALID_OBJECT', tree]]);
    // a flipped byte in a tree verified a minute ago is still caught: metadata is hashed on every run
    await flip(target, metaKey(fx.subTree), 20);
    const r = await fsckJson(fx, target, ['--max-age', '1d']);
    expect(codes(r.report)).toEqual([['HASH_MISMATCH', fx.subTree], ['INVALID_OBJECT', tree]]);
  });

  it('says so when the index is held by another process, and reads everything', async () => {
    const { fx, target } = await local();
    await fsckJson(fx, target);
    const { Level } = await import('level');
    const held = new Level(join(fx.dir, '.mlstore', 'index'));
    await held.open();
    try {
      const r = await fsckJson(fx, target, ['--max-age', '1d']);
      expect(r.code).toBe(0);
      expect(r.report.counts.skipped.recent).toBe(0);
      expect(r.report.counts.verified.chunks).toBe(r.report.counts.objects.chunks);
      expect(r.report.notes.join(' ')).toMatch(/index is in use/);
    } finally {
      await held.close();
    }
  });

  it('remembers verification per store: checking the remote does not count for the local store', async () => {
    const { fx, target } = await freshTarget(template, 'directory');
    await fsckJson(fx, target);
    const localRun = await fsckJson(fx, { ...target, args: [] }, ['--max-age', '7d']);
    expect(localRun.report.counts.skipped.recent).toBe(0);
    const remoteRun = await fsckJson(fx, target, ['--max-age', '7d']);
    expect(remoteRun.report.counts.skipped.recent).toBe(remoteRun.report.counts.objects.chunks);
  });
});

describe('--sample and --shard', () => {
  it('a seeded sample is reproducible and finds exactly the damaged objects it selects', async () => {
    const { fx, target } = await local();
    const chunks = allChunks(fx);
    for (const id of chunks) await flip(target, chunkKey(id));
    const a = await fsckJson(fx, target, ['--sample', '0.5', '--seed', '7']);
    const b = await fsckJson(fx, target, ['--sample', '0.5', '--seed', '7']);
    const c = await fsckJson(fx, target, ['--sample', '0.5', '--seed', '8']);
    expect(mismatches(a.report)).toEqual(mismatches(b.report));
    expect(mismatches(a.report)).toEqual(chunks.filter((id) => inSample(id, { fraction: 0.5, seed: 7 })));
    expect(mismatches(a.report).length).toBeGreaterThan(chunks.length / 5);
    expect(mismatches(a.report).length).toBeLessThan(chunks.length);
    expect(mismatches(c.report)).not.toEqual(mismatches(a.report));
    expect(a.report.counts.verified.chunks).toBe(0); // every chunk is damaged: none verifies
    expect(mismatches(a.report).length + a.report.counts.skipped.notSampled).toBe(a.report.counts.objects.chunks);
    expect(a.report.options.sample).toEqual({ fraction: 0.5, seed: 7 });
    // without --seed a random seed is chosen and reported, so the run can be repeated
    const r = await fsckJson(fx, target, ['--sample', '0.3']);
    const seed = r.report.options.sample!.seed;
    expect(mismatches((await fsckJson(fx, target, ['--sample', '0.3', '--seed', String(seed)])).report)).toEqual(mismatches(r.report));
  });

  it('N shards verify every chunk once and report every problem once', async () => {
    const { fx, target } = await local();
    const chunks = allChunks(fx);
    const damaged = chunks.filter((_, i) => i % 3 === 0);
    for (const id of damaged) await flip(target, chunkKey(id));
    await rm(join(fx.dir, '.mlstore', ...metaKey(fx.files.get('data/e.bin')!.manifest!).split('/')));
    const runs = await Promise.all([0, 1, 2].map((i) => fsckJson(fx, target, ['--shard', `${i}/3`])));
    const verified = runs.reduce((n, r) => n + r.report.counts.verified.chunks, 0);
    const present = runs[0]!.report.counts.objects.chunks;
    expect(verified).toBe(present - damaged.length);
    for (const r of runs) expect(r.report.counts.verified.chunks + r.report.counts.skipped.otherShards + mismatches(r.report).length).toBe(present);
    expect(runs.flatMap((r) => mismatches(r.report)).sort()).toEqual(damaged);
    const missing = runs.flatMap((r) => r.report.problems.filter((p) => p.code === 'MISSING_OBJECT'));
    expect(missing.map((p) => p.id)).toEqual([fx.files.get('data/e.bin')!.manifest]);
    expect(missing[0]!.affected.paths).toEqual(['data/e.bin']);
    expect(runs.map((r) => r.report.options.shard)).toEqual(['0/3', '1/3', '2/3']);
  });
});

describe('--full', () => {
  const kinds = ['local', ...(s3 ? ['s3' as const] : [])] as const;
  it.each(kinds)('recomputes whole-file digests from the chunks (%s)', async (kind) => {
    const { fx, target, cleanup } = await freshTarget(template, kind, s3 ?? undefined);
    try {
      // A manifest that lies consistently: sizes add up and the tree entry agrees with its digest,
      // but the digest is not the SHA-256 of the chunks. Only --full can tell.
      const a = fx.files.get('data/a.bin')!;
      const lie = sha('not the content');
      const manifest = await putRawMeta(target, { type: 'file', size: a.size, digest: lie, chunks: a.chunks });
      const tree = await putRawMeta(target, { type: 'tree', entries: [{ type: 'file', name: 'x.bin', mode: 420, size: a.size, digest: lie, manifest }] });
      await putCommitAndRef(target, tree, 'refs/heads/liar');
      expect(codes((await fsckJson(fx, target)).report)).toEqual([]);
      const full = await fsckJson(fx, target, ['--full']);
      expect(full.code).toBe(1);
      expect(codes(full.report)).toEqual([['FILE_DIGEST_MISMATCH', manifest]]);
      const p = problem(full.report, 'FILE_DIGEST_MISMATCH', manifest);
      expect(p.facts).toMatchObject({ actual: a.digest, digest: lie });
      expect(p.affected.paths).toEqual(['x.bin']);
      expect(p.affected.refs).toEqual(['refs/heads/liar']);
      expect(full.report.bytesChecked).toBeGreaterThan((await fsckJson(fx, target)).report.bytesChecked);
    } finally {
      await cleanup();
    }
  });
});

describe.skipIf(!s3)('--fast on S3', () => {
  it("compares the server's stored SHA-256 with the key, or says the server keeps none", async () => {
    const { fx, target, cleanup } = await freshTarget(template, 's3', s3!);
    try {
      const clean = await fsckJson(fx, target, ['--fast']);
      const n = clean.report.counts.objects.chunks;
      const [id] = fx.files.get('data/a.bin')!.chunks[0]!;
      const head = await headChecksum(target, chunkKey(id));
      console.info(`[fsck --fast] ${s3!.source}: the server ${head === undefined ? 'keeps no' : 'keeps a'} SHA-256 checksum`);
      if (head === undefined) {
        // The server keeps no checksum: fsck must say so, and not pretend the objects were verified.
        expect(codes(clean.report)).toEqual([['NO_STORED_CHECKSUM', null]]);
        expect(problem(clean.report, 'NO_STORED_CHECKSUM', null).facts).toEqual({ objects: n });
        expect(clean.report.counts.verified.chunks).toBe(0);
        expect(clean.report.complete).toBe(false);
        expect(clean.code).toBe(3); // nothing bad found, but nothing verified: the check did not happen
        return;
      }
      expect(clean.code).toBe(0);
      expect(clean.report.counts.verified.chunks).toBe(n);
      // Someone uploads other bytes (with their own checksum) under the chunk's key: no download needed to notice.
      const other = Buffer.from('other bytes entirely');
      await putWithChecksum(target, chunkKey(id), other);
      const fast = await fsckJson(fx, target, ['--fast']);
      expect(codes(fast.report)).toEqual([['HASH_MISMATCH', id]]);
      expect(problem(fast.report, 'HASH_MISMATCH', id).facts).toMatchObject({ actual: sha(other), storedChecksum: true });
      expect(fast.report.bytesChecked).toBeLessThan(clean.report.counts.storedBytes.meta! + 1);
    } finally {
      await cleanup();
    }
  });

  async function headChecksum(target: Target, key: string): Promise<string | undefined> {
    const { client, bucket, prefix } = target.s3!;
    const r = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}/${key}`, ChecksumMode: 'ENABLED' }));
    return r.ChecksumSHA256;
  }

  async function putWithChecksum(target: Target, key: string, bytes: Buffer): Promise<void> {
    const { client, bucket, prefix } = target.s3!;
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${key}`, Body: bytes, ChecksumSHA256: Buffer.from(sha(bytes), 'hex').toString('base64') }));
  }
});

describe('--repair-from', () => {
  it('replaces corrupt and missing objects with verified copies, quarantining the bad bytes, over as many rounds as it takes', async () => {
    const { fx, target } = await local();
    const remote = await tempDir('mlstore-fsck-good-');
    await ok(['remote', 'add', 'backup', remote], fx.dir);
    await ok(['push', 'backup', '--all'], fx.dir);

    const [flipped] = fx.files.get('data/a.bin')!.chunks[1]!;
    const [deleted] = fx.files.get('data/e.bin')!.chunks[0]!;
    const [hidden] = fx.files.get('data/sub/c.bin')!.chunks[1]!; // under the deleted tree: found in round 2
    await flip(target, chunkKey(flipped));
    const badBytes = await target.read(chunkKey(flipped));
    await target.remove(chunkKey(deleted));
    await target.remove(chunkKey(hidden));
    await target.remove(metaKey(fx.subTree));

    const before = await fsckJson(fx, target);
    expect(codes(before.report)).toEqual([['HASH_MISMATCH', flipped], ['MISSING_OBJECT', deleted], ['MISSING_OBJECT', fx.subTree]].sort((a, b) => (a[0]! + a[1] < b[0]! + b[1] ? -1 : 1)));

    const repaired = await fsckJson(fx, target, ['--repair-from', 'backup']);
    expect(repaired.code).toBe(0);
    expect(repaired.report.ok).toBe(true);
    const byId = new Map(repaired.report.repairs.map((r) => [r.id, r]));
    expect([...byId.keys()].sort()).toEqual([flipped, deleted, hidden, fx.subTree].sort());
    expect(byId.get(flipped)!.action).toBe('replaced');
    expect(byId.get(deleted)!.action).toBe('restored');
    expect(byId.get(hidden)!.action).toBe('restored');
    expect(byId.get(fx.subTree)!.action).toBe('restored');
    const q = byId.get(flipped)!.quarantined!;
    expect(q).toMatch(new RegExp(`^quarantine/chunks/${flipped}\\.`));
    expect(await readFile(join(fx.dir, '.mlstore', ...q.split('/')))).toEqual(badBytes);
    expect(sha(await target.read(chunkKey(flipped)))).toBe(flipped);

    const after = await fsckJson(fx, target);
    expect(after.code).toBe(0);
    expect(codes(after.report)).toEqual([]);
  });

  it('repairs damage inside packs: a flipped byte in a pack file, and a damaged pack index', async () => {
    const { fx, target } = await local();
    const remote = await tempDir('mlstore-fsck-good-');
    await ok(['remote', 'add', 'backup', remote], fx.dir);
    await ok(['push', 'backup', '--all'], fx.dir);
    const packs = await readPacks(fx.dir);
    expect(packs.size).toBeGreaterThanOrEqual(2); // one per add: v1's chunks, v2's new ones
    // v2's pack (e.bin's chunks) gets a damaged index; a chunk of a.bin, in v1's pack, a flipped bit
    const [eChunk] = fx.files.get('data/e.bin')!.chunks[0]!;
    const [damagedPack] = [...packs].find(([, entries]) => entries.some(([id]) => id === eChunk))!;
    const lost = packs.get(damagedPack)!.map(([id]) => id);
    const [flipped] = fx.files.get('data/a.bin')!.chunks[1]!;
    expect(lost).not.toContain(flipped);
    await flipChunkByte(fx.dir, flipped);
    const idxPath = join(fx.dir, '.mlstore', 'packs', `${damagedPack}.idx`);
    const idx = await readFile(idxPath);
    await writeFile(idxPath, Buffer.concat([idx, Buffer.from('x')]));

    const before = await fsckJson(fx, target);
    expect(before.code).toBe(1);
    expect(problem(before.report, 'DAMAGED_PACK', null).key).toBe(`packs/${damagedPack}.idx`);
    expect(problem(before.report, 'HASH_MISMATCH', flipped)).toBeTruthy();
    for (const id of lost) expect(problem(before.report, 'MISSING_OBJECT', id)).toBeTruthy();

    const repaired = await fsckJson(fx, target, ['--repair-from', 'backup']);
    expect(repaired.code, JSON.stringify(repaired.report.repairs)).toBe(0);
    const actions = new Map(repaired.report.repairs.map((r) => [r.id, r.action]));
    expect(actions.get(`packs/${damagedPack}.idx`)).toBe('quarantined');
    expect(actions.get(flipped)).toBe('replaced');
    for (const id of lost) expect(actions.get(id)).toBe('restored');
    const quarantined = await readdir(join(fx.dir, '.mlstore', 'quarantine', 'packs'));
    expect(quarantined.sort()).toEqual([expect.stringMatching(new RegExp(`^${damagedPack}\\..*\\.idx$`)), expect.stringMatching(new RegExp(`^${damagedPack}\\..*\\.pack$`))]);
    expect(codes((await fsckJson(fx, target)).report)).toEqual([]);
    await assertStoreConsistent(fx.dir); // the independent checker agrees, packs included
  });

  it('repairs a remote from another remote, quarantining on the damaged remote', async () => {
    const { fx, target } = await freshTarget(template, 'directory');
    const backup = await tempDir('mlstore-fsck-good-');
    await ok(['remote', 'add', 'backup', backup], fx.dir);
    await ok(['push', 'backup', '--all'], fx.dir);
    const [id] = fx.files.get('data/e.bin')!.chunks[1]!;
    await flip(target, chunkKey(id));
    await target.remove(metaKey(fx.files.get('data/a.bin')!.manifest!));
    const r = await fsckJson(fx, target, ['--repair-from', 'backup']);
    expect(r.code).toBe(0);
    expect(r.report.repairs.map((x) => [x.action, x.id]).sort()).toEqual([['replaced', id], ['restored', fx.files.get('data/a.bin')!.manifest!]].sort());
    const q = r.report.repairs.find((x) => x.action === 'replaced')!.quarantined!;
    expect(sha(await target.read(q))).not.toBe(id); // the bad bytes, kept on the remote
    expect(codes((await fsckJson(fx, target)).report)).toEqual([]);
  });

  it('leaves what it cannot repair reported, and never deletes without quarantine', async () => {
    const { fx, target } = await local();
    const remote = await tempDir('mlstore-fsck-good-');
    await ok(['remote', 'add', 'backup', remote], fx.dir);
    await ok(['push', 'backup', '--all'], fx.dir);
    const [id] = fx.files.get('data/a.bin')!.chunks[0]!;
    await flip(target, chunkKey(id));
    await rm(join(remote, ...chunkKey(id).split('/'))); // the backup lost it too
    const r = await fsckJson(fx, target, ['--repair-from', 'backup']);
    expect(r.code).toBe(1);
    expect(codes(r.report)).toEqual([['HASH_MISMATCH', id]]);
    expect(r.report.repairs).toMatchObject([{ id, action: 'failed' }]);
    expect(await readdir(join(fx.dir, '.mlstore')).then((n) => n.includes('quarantine'))).toBe(false);
    expect(sha(await target.read(chunkKey(id)))).not.toBe(id); // still the (bad) original, untouched
  });
});
