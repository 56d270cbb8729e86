/**
 * Stores damaged on purpose, each checked through `mlstore fsck --json` the way a user runs it,
 * asserting the exact problem codes, the object ids, and the blast radius (paths, commits, refs).
 * The same cases run against the local store, a remote directory and (when the test server is
 * available) an S3 prefix, each filled by a real `mlstore push`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { s3Config } from '../s3/s3-config.js';
import {
  buildFixture,
  chunkKey,
  codes,
  freshTarget,
  fsckJson,
  metaKey,
  problem,
  putCommitAndRef,
  putRawMeta,
  refsOf,
  sha,
  signStored,
  testKey,
  trustKeys,
  type Fixture,
  type TargetKind,
} from './helpers.js';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

const { config: s3 } = s3Config();
const kinds: TargetKind[] = ['local', 'directory', ...(s3 ? (['s3'] as const) : [])];

let template: Fixture;
beforeAll(async () => {
  template = await buildFixture();
});

describe.each(kinds)('fsck of a damaged store (%s)', (kind) => {
  const fresh = () => freshTarget(template, kind, s3 ?? undefined);
  const main = 'refs/heads/main';
  const tag = 'refs/tags/v1';

  it('a clean store has no errors and exits 0', async () => {
    const { fx, target, cleanup } = await fresh();
    try {
      const { code, report } = await fsckJson(fx, target);
      expect(code).toBe(0);
      expect(report.ok).toBe(true);
      expect(codes(report)).toEqual([]);
      expect(report.counts.commits).toBe(2);
      expect(report.counts.verified.chunks).toBe(report.counts.objects.chunks);
      expect(report.bytesChecked).toBeGreaterThan(90_000);
    } finally {
      await cleanup();
    }
  });

  it('a flipped byte in a chunk: HASH_MISMATCH, affecting the one file in the one commit', async () => {
    const { fx, target, cleanup } = await fresh();
    try {
      const [id] = fx.files.get('data/e.bin')!.chunks[0]!;
      const bytes = await target.read(chunkKey(id));
      bytes[7] = bytes[7]! ^ 0x10;
      await target.write(chunkKey(id), bytes);
      const { code, report } = await fsckJson(fx, target);
      expect(code).toBe(1);
      expect(codes(report)).toEqual([['HASH_MISMATCH', id]]);
      const p = problem(report, 'HASH_MISMATCH', id);
      expect(p.kind).toBe('chunk');
      expect(p.facts?.['actual']).toBe(sha(bytes));
      expect(p.affected).toEqual({ commits: [fx.v2], refs: refsOf(target, main), paths: ['data/e.bin'] });
    } finally {
      await cleanup();
    }
  });

  it('a truncated chunk: TRUNCATED, affecting both versions that share the file', async () => {
    const { fx, target, cleanup } = await fresh();
    try {
      const [id, size] = fx.files.get('data/a.bin')!.chunks[1]!;
      const bytes = await target.read(chunkKey(id));
      await target.write(chunkKey(id), bytes.subarray(0, Math.floor(size / 2)));
      const { code, report } = await fsckJson(fx, target);
      expect(code).toBe(1);
      expect(codes(report)).toEqual([['TRUNCATED', id]]);
      const p = problem(report, 'TRUNCATED', id);
      expect(p.facts).toMatchObject({ size: Math.floor(size / 2), expectedSize: size });
      expect(p.affected).toEqual({ commits: [fx.v1, fx.v2].sort(), refs: refsOf(target, main, tag), paths: ['data/a.bin'] });
    } finally {
      await cleanup();
    }
  });

  it('two chunk files swapped: OBJECT_REPLACED twice, each naming the object whose bytes it holds', async () => {
    const { fx, target, cleanup } = await fresh();
    try {
      const [a] = fx.files.get('data/a.bin')!.chunks[0]!;
      const [c] = fx.files.get('data/sub/c.bin')!.chunks[0]!;
      const [ba, bc] = [await target.read(chunkKey(a)), await target.read(chunkKey(c))];
      await target.write(chunkKey(a), bc);
      await target.write(chunkKey(c), ba);
      const { code, report } = await fsckJson(fx, target);
      expect(code).toBe(1);
      expect(codes(report)).toEqual([['OBJECT_REPLACED', a], ['OBJECT_REPLACED', c]].sort((x, y) => (x[1]! < y[1]! ? -1 : 1)));
      expect(problem(report, 'OBJECT_REPLACED', a).facts?.['holds']).toBe(c);
      expect(problem(report, 'OBJECT_REPLACED', c).facts?.['holds']).toBe(a);
      expect(problem(report, 'OBJECT_REPLACED', a).affected.paths).toEqual(['data/a.bin']);
      expect(problem(report, 'OBJECT_REPLACED', c).affected.paths).toEqual(['data/sub/c.bin']);
    } finally {
      await cleanup();
    }
  });

  it('a manifest replaced by another valid object of the store (a commit): OBJECT_REPLACED on the manifest', async () => {
    const { fx, target, cleanup } = await fresh();
    try {
      const m = fx.files.get('data/a.bin')!.manifest!;
      await target.write(metaKey(m), await target.read(metaKey(fx.v1)));
      const { code, report } = await fsckJson(fx, target);
      expect(code).toBe(1);
      expect(codes(report)).toEqual([['OBJECT_REPLACED', m]]);
      const p = problem(report, 'OBJECT_REPLACED', m);
      expect(p.kind).toBe('file manifest');
      expect(p.facts).toMatchObject({ holds: fx.v1, holdsKind: 'metadata object' });
      expect(p.affected).toEqual({ commits: [fx.v1, fx.v2].sort(), refs: refsOf(target, main, tag), paths: ['data/a.bin'] });
      // a.bin's chunks are no longer reachable through the broken manifest: information only
      expect(report.problems.filter((x) => x.code === 'DANGLING_OBJECT').map((x) => x.id).sort()).toEqual(fx.files.get('data/a.bin')!.chunks.map(([id]) => id).sort());
    } finally {
      await cleanup();
    }
  });

  it('a deleted chunk: MISSING_OBJECT (chunk) with the file that needs it', async () => {
    const { fx, target, cleanup } = await fresh();
    try {
      const [id] = fx.files.get('data/sub/c.bin')!.chunks[2]!;
      await target.remove(chunkKey(id));
      const { code, report } = await fsckJson(fx, target);
      expect(code).toBe(1);
      expect(codes(report)).toEqual([['MISSING_OBJECT', id]]);
      const p = problem(report, 'MISSING_OBJECT', id);
      expect(p.kind).toBe('chunk');
      expect(p.affected).toEqual({ commits: [fx.v1, fx.v2].sort(), refs: refsOf(target, main, tag), paths: ['data/sub/c.bin'] });
    } finally {
      await cleanup();
    }
  });

  it('a deleted file manifest: MISSING_OBJECT (file manifest)', async () => {
    const { fx, target, cleanup } = await fresh();
    try {
      const m = fx.files.get('data/e.bin')!.manifest!;
      await target.remove(metaKey(m));
      const { code, report } = await fsckJson(fx, target);
      expect(code).toBe(1);
      expect(codes(report)).toEqual([['MISSING_OBJECT', m]]);
      expect(problem(report, 'MISSING_OBJECT', m).kind).toBe('file manifest');
      expect(problem(report, 'MISSING_OBJECT', m).affected).toEqual({ commits: [fx.v2], refs: refsOf(target, main), paths: ['data/e.bin'] });
    } finally {
      await cleanup();
    }
  });

  it('a deleted tree: MISSING_OBJECT (tree) naming the directory', async () => {
    const { fx, target, cleanup } = await fresh();
    try {
      await target.remove(metaKey(fx.subTree));
      const { code, report } = await fsckJson(fx, target);
      expect(code).toBe(1);
      expect(codes(report)).toEqual([['MISSING_OBJECT', fx.subTree]]);
      const p = problem(report, 'MISSING_OBJECT', fx.subTree);
      expect(p.kind).toBe('tree');
      expect(p.affected).toEqual({ commits: [fx.v1, fx.v2].sort(), refs: refsOf(target, main, tag), paths: ['data/sub/'] });
    } finally {
      await cleanup();
    }
  });

  it('a deleted commit: MISSING_OBJECT (commit), reached from the tag and from the branch through its child', async () => {
    const { fx, target, cleanup } = await fresh();
    try {
      await target.remove(metaKey(fx.v1));
      const { code, report } = await fsckJson(fx, target);
      expect(code).toBe(1);
      expect(codes(report)).toEqual([['MISSING_OBJECT', fx.v1]]);
      const p = problem(report, 'MISSING_OBJECT', fx.v1);
      expect(p.kind).toBe('commit');
      expect(p.affected).toEqual({ commits: [fx.v1], refs: refsOf(target, main, tag), paths: [] });
    } finally {
      await cleanup();
    }
  });

  it('a ref pointing at a missing commit, and one pointing at a tree: MISSING_OBJECT and WRONG_KIND', async () => {
    const { fx, target, cleanup } = await fresh();
    try {
      const ghost = sha('no such commit');
      await target.write('refs/heads/ghost', new TextEncoder().encode(`${ghost}\n`));
      await target.write('refs/heads/wrong', new TextEncoder().encode(`${fx.rootTree}\n`));
      const { code, report } = await fsckJson(fx, target);
      expect(code).toBe(1);
      expect(codes(report)).toEqual([['MISSING_OBJECT', ghost], ['WRONG_KIND', fx.rootTree]]);
      expect(problem(report, 'MISSING_OBJECT', ghost).affected).toEqual({ commits: [ghost], refs: ['refs/heads/ghost'], paths: [] });
      const wrong = problem(report, 'WRONG_KIND', fx.rootTree);
      expect(wrong.facts).toMatchObject({ expected: 'commit', found: 'tree' });
      expect(wrong.affected.refs).toEqual(['refs/heads/wrong']);
    } finally {
      await cleanup();
    }
  });

  it('a crafted tree with a valid id but a bad entry name: INVALID_OBJECT', async () => {
    const { fx, target, cleanup } = await fresh();
    try {
      const e = fx.files.get('data/b.txt')!;
      const tree = await putRawMeta(target, { type: 'tree', entries: [{ type: 'file', name: '..', mode: 420, size: e.size, digest: e.digest }] });
      const commit = await putCommitAndRef(target, tree, 'refs/heads/evil');
      const { code, report } = await fsckJson(fx, target);
      expect(code).toBe(1);
      expect(codes(report)).toEqual([['INVALID_OBJECT', tree]]);
      const p = problem(report, 'INVALID_OBJECT', tree);
      expect(p.kind).toBe('tree');
      expect(p.detail).toContain('".."');
      expect(p.affected).toEqual({ commits: [commit], refs: ['refs/heads/evil'], paths: ['/'] });
    } finally {
      await cleanup();
    }
  });

  it('a manifest whose chunk sizes do not add up: MANIFEST_SIZE_MISMATCH', async () => {
    const { fx, target, cleanup } = await fresh();
    try {
      const a = fx.files.get('data/a.bin')!;
      const manifest = await putRawMeta(target, { type: 'file', size: a.size + 1, digest: a.digest, chunks: a.chunks });
      const tree = await putRawMeta(target, { type: 'tree', entries: [{ type: 'file', name: 'x.bin', mode: 420, size: a.size + 1, digest: a.digest, manifest }] });
      const commit = await putCommitAndRef(target, tree, 'refs/heads/bad-manifest');
      const { code, report } = await fsckJson(fx, target);
      expect(code).toBe(1);
      expect(codes(report)).toEqual([['MANIFEST_SIZE_MISMATCH', manifest]]);
      const p = problem(report, 'MANIFEST_SIZE_MISMATCH', manifest);
      expect(p.facts).toMatchObject({ size: a.size + 1, chunkTotal: a.size });
      expect(p.affected).toEqual({ commits: [commit], refs: ['refs/heads/bad-manifest'], paths: ['x.bin'] });
    } finally {
      await cleanup();
    }
  });

  it('with a trust file: an unsigned tip and a tip signed by an untrusted key are errors; a trusted tip is fine', async () => {
    const { fx, target, cleanup } = await fresh();
    try {
      const trusted = testKey();
      const stranger = testKey();
      await trustKeys(fx.dir, [trusted]);
      await signStored(target, fx.v2, trusted);
      await signStored(target, fx.v1, stranger);
      const unsigned = await putCommitAndRef(target, fx.rootTree, 'refs/heads/unsigned');
      const { code, report } = await fsckJson(fx, target);
      expect(code).toBe(1);
      expect(codes(report)).toEqual([['UNSIGNED_COMMIT', unsigned], ['UNTRUSTED_COMMIT', fx.v1]]);
      expect(problem(report, 'UNTRUSTED_COMMIT', fx.v1).affected.refs).toEqual([tag]);
      expect(problem(report, 'UNSIGNED_COMMIT', unsigned).affected.refs).toEqual(['refs/heads/unsigned']);
      expect(report.options.signatureSeverity).toBe('error');

      // Without a trust file the same findings are warnings and the store passes.
      await rm(join(fx.dir, 'mlstore-trust.json'));
      const again = await fsckJson(fx, target);
      expect(again.code).toBe(0);
      expect(codes(again.report)).toEqual([]);
      expect(codes(again.report, 'warning').map(([c]) => c).sort()).toEqual(['UNSIGNED_COMMIT', 'UNTRUSTED_COMMIT', 'UNTRUSTED_COMMIT']);
    } finally {
      await cleanup();
    }
  });

  it('a tampered signature is BAD_SIGNATURE even without a trust file', async () => {
    const { fx, target, cleanup } = await fresh();
    try {
      const k = testKey();
      await trustKeys(fx.dir, [k]);
      // k signs v1's bytes, but the envelope is stored as v2's signature: it signs another commit
      const envelope = k.sign(await target.read(metaKey(fx.v1)));
      await target.write(`objects/signatures/${fx.v2}/${k.id}.dsse`, envelope);
      await rm(join(fx.dir, 'mlstore-trust.json'));
      const { code, report } = await fsckJson(fx, target);
      expect(code).toBe(1);
      expect(codes(report)).toEqual([['BAD_SIGNATURE', fx.v2]]);
    } finally {
      await cleanup();
    }
  });
});
