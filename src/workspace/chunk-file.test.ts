import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkBytes, legacyCutRule, validateChunkParams, type ChunkParams } from '../core/fastcdc.js';
import { isMlstoreError } from '../errors.js';
import { ChunkPool, chunkFile } from './chunk-file.js';
import { openSessions } from './chunk-worker.js';
import { sharedArena } from '../core/shared-arena.js';

const TINY: ChunkParams = validateChunkParams({ min: 256, avg: 1024, max: 4096 }); // the current cut rule
const TINY_LEGACY: ChunkParams = { ...TINY, ...legacyCutRule(TINY.avg) };
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlstore-chunk-file-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expected(bytes: Uint8Array, params: ChunkParams): Array<[string, number]> {
  if (bytes.length === 0) return [[sha(bytes), 0]];
  let prev = 0;
  return chunkBytes(bytes, params).map((c) => {
    const r: [string, number] = [sha(bytes.subarray(prev, c)), c - prev];
    prev = c;
    return r;
  });
}

type ChunkFile = typeof chunkFile;
type Pool = typeof ChunkPool;

/** Runs chunkFile and checks everything it reports against the sequential chunker. */
async function check(impl: ChunkFile, pool: InstanceType<Pool>, bytes: Uint8Array, params: ChunkParams, windowBytes?: number) {
  const path = join(dir, `f-${bytes.length}-${windowBytes ?? 0}`);
  writeFileSync(path, bytes);
  const seen = new Map<string, number>();
  const r = await impl(path, params, {
    pool,
    windowBytes,
    onChunk: async (id, b) => {
      expect(sha(b)).toBe(id);
      seen.set(id, b.length);
    },
  });
  expect(r.size).toBe(bytes.length);
  expect(r.digest).toBe(sha(bytes));
  expect(r.chunks).toEqual(expected(bytes, params));
  expect(new Set(r.chunks.map(([id]) => id))).toEqual(new Set(seen.keys()));
  expect(r.stat.size).toBe(BigInt(bytes.length));
  return { path, result: r };
}

const SIZES = [0, 1, TINY.min - 1, TINY.min, TINY.max, TINY.max + 1, 100_000];

describe('chunkFile (inline pool: the TypeScript source cannot start worker threads)', () => {
  const pool = new ChunkPool({ threads: 3 });
  it('uses inline mode when running from source', () => expect(pool.inline).toBe(true));
  it.each(SIZES)('matches the sequential chunker for %i bytes', async (n) => {
    await check(chunkFile, pool, randomBytes(n), TINY);
  });
  it.each([32, 1000, 4096, 5003, 65536])('matches across many windows of %i bytes', async (w) => {
    await check(chunkFile, pool, randomBytes(w < 1000 ? 100_003 : 3 * 1024 * 1024 + 17), TINY, w);
  });
  it('cuts by the rule in the params: the legacy rule (repositories that record none) too', async () => {
    const bytes = randomBytes(200_000);
    expect(expected(bytes, TINY_LEGACY)).not.toEqual(expected(bytes, TINY)); // else this test proves nothing
    await check(chunkFile, pool, bytes, TINY_LEGACY, 5003);
  });
  it('handles runs of zeros (forced cuts at max) across windows', async () => {
    const bytes = randomBytes(300_000);
    bytes.fill(0, 50_000, 200_000);
    await check(chunkFile, pool, bytes, TINY, 7000);
  });
  it('digest equals openssl dgst -sha256', async () => {
    const { path, result } = await check(chunkFile, pool, randomBytes(2 * 1024 * 1024 + 5), TINY);
    let out: string;
    try {
      out = execFileSync('openssl', ['dgst', '-sha256', path], { encoding: 'utf8' });
    } catch {
      return; // no openssl here: the node:crypto comparison above still holds
    }
    expect(out.trim().endsWith(`= ${result.digest}`)).toBe(true);
  });

  it('FILE_CHANGED when the file is appended to while being read', async () => {
    const path = join(dir, 'growing');
    writeFileSync(path, randomBytes(200_000));
    let first = true;
    const err = await chunkFile(path, TINY, {
      pool,
      windowBytes: 8192,
      onChunk: async () => {
        if (first) appendFileSync(path, 'more');
        first = false;
      },
    }).catch((e: unknown) => e);
    expect(isMlstoreError(err, 'FILE_CHANGED')).toBe(true);
  });
  it('FILE_CHANGED for a small file changed while being read, and on an `expect` mismatch', async () => {
    const path = join(dir, 'small');
    writeFileSync(path, 'abc');
    const err = await chunkFile(path, TINY, { pool, onChunk: async () => appendFileSync(path, 'x') }).catch((e) => e);
    expect(isMlstoreError(err, 'FILE_CHANGED')).toBe(true);
    const s = statSync(path, { bigint: true });
    const expect_ = { size: s.size + 1n, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, ino: s.ino, dev: s.dev };
    const err2 = await chunkFile(path, TINY, { pool, expect: expect_, onChunk: async () => {} }).catch((e) => e);
    expect(isMlstoreError(err2, 'FILE_CHANGED')).toBe(true);
  });

  it('INTERRUPTED when aborted, and no onChunk runs after it returns', async () => {
    const path = join(dir, 'abort');
    writeFileSync(path, randomBytes(500_000));
    const ac = new AbortController();
    let calls = 0;
    let active = 0;
    const err = await chunkFile(path, TINY, {
      pool,
      windowBytes: 4096,
      signal: ac.signal,
      onChunk: async () => {
        active++;
        if (++calls === 3) ac.abort();
        await new Promise((r) => setTimeout(r, 2));
        active--;
      },
    }).catch((e: unknown) => e);
    expect(isMlstoreError(err, 'INTERRUPTED')).toBe(true);
    expect(active).toBe(0);
    expect(calls).toBeLessThan(200);
    const pre = await chunkFile(path, TINY, { pool, signal: AbortSignal.abort(), onChunk: async () => {} }).catch((e) => e);
    expect(isMlstoreError(pre, 'INTERRUPTED')).toBe(true);
  });
  it('every file drops its cut and digest sessions, finished or abandoned', async () => {
    const bytes = randomBytes(200_000);
    await check(chunkFile, pool, bytes, TINY, 4096);
    expect(openSessions()).toBe(0);
    const path = join(dir, 'abandon-inline');
    writeFileSync(path, bytes);
    let n = 0;
    const onChunk = async () => {
      if (++n === 3) throw new Error('disk on fire');
    };
    await expect(chunkFile(path, TINY, { pool, windowBytes: 4096, onChunk })).rejects.toThrow('disk on fire');
    await new Promise((r) => setTimeout(r, 10)); // the end jobs run on the next turns
    expect(openSessions()).toBe(0);
  });

  it('gives every window back to the arena exactly once, after failures too', async () => {
    const bytes = randomBytes(300_000);
    const path = join(dir, 'fail-often');
    writeFileSync(path, bytes);
    const failing = () => {
      let n = 0;
      return chunkFile(path, TINY, { pool, windowBytes: 8192, onChunk: async () => { if (++n === 5) throw new Error('no'); } }).catch(() => 'failed');
    };
    await failing();
    const high = sharedArena().reserved;
    for (let i = 0; i < 5; i++) expect(await failing()).toBe('failed');
    expect(sharedArena().reserved).toBe(high); // the failed runs' windows were reused, none leaked
    // a block given back twice would be handed to two files at once: their chunks would be wrong
    const files = [randomBytes(150_000), randomBytes(170_000), randomBytes(190_000)];
    await Promise.all([...files.map((b) => check(chunkFile, pool, b, TINY, 8192)), failing(), failing()]);
  });

  it('rethrows an onChunk failure after the others settle', async () => {
    const path = join(dir, 'fail');
    writeFileSync(path, randomBytes(100_000));
    const boom = new Error('disk full');
    const err = await chunkFile(path, TINY, {
      pool,
      onChunk: async () => {
        throw boom;
      },
    }).catch((e) => e);
    expect(err).toBe(boom);
  });
  it('IO_ERROR for a missing file, BAD_CONFIG for bad params', async () => {
    const e1 = await chunkFile(join(dir, 'nope'), TINY, { pool, onChunk: async () => {} }).catch((e) => e);
    expect(isMlstoreError(e1, 'IO_ERROR')).toBe(true);
    const e2 = await chunkFile(join(dir, 'nope'), { ...TINY, min: 1, avg: 2, max: 3 }, { pool, onChunk: async () => {} }).catch((e) => e);
    expect(isMlstoreError(e2, 'BAD_CONFIG')).toBe(true);
  });
});

describe('chunkFile with real worker threads (these files compiled by tsc into a temp dir)', () => {
  let impl: { chunkFile: ChunkFile; ChunkPool: Pool } | undefined;
  let out: string;
  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'mlstore-chunk-build-'));
    const src = new URL('.', import.meta.url).pathname;
    execFileSync(
      'npx',
      ['tsc', '--outDir', out, '--rootDir', join(src, '..'), '--module', 'nodenext', '--moduleResolution', 'nodenext',
        '--target', 'es2022', '--lib', 'es2024', '--types', 'node', '--skipLibCheck', join(src, 'chunk-file.ts')],
      { stdio: 'pipe' },
    );
    impl = (await import(join(out, 'workspace', 'chunk-file.js'))) as { chunkFile: ChunkFile; ChunkPool: Pool };
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('gives the same results as the sequential chunker, whatever the window size', async () => {
    const pool = new impl!.ChunkPool({ threads: 2 });
    expect(pool.inline).toBe(false);
    try {
      for (const n of SIZES) await check(impl!.chunkFile, pool, randomBytes(n), TINY);
      const bytes = randomBytes(4 * 1024 * 1024 + 3);
      for (const w of [4096, 65537, undefined]) await check(impl!.chunkFile, pool, bytes, TINY, w);
      await check(impl!.chunkFile, pool, bytes, TINY_LEGACY, 65537); // the rule reaches the threads' masks
    } finally {
      await pool.close();
    }
  });

  it('cuts several files at once on one pool: each file keeps its own scanner in its thread', async () => {
    const pool = new impl!.ChunkPool({ threads: 2 });
    try {
      const files = [randomBytes(3 * 1024 * 1024 + 1), randomBytes(2 * 1024 * 1024 + 17), randomBytes(1024 * 1024 - 5)];
      await Promise.all(files.map((bytes, i) => check(impl!.chunkFile, pool, bytes, i === 1 ? TINY_LEGACY : TINY, 65536 + i)));
      // an abandoned file (onChunk fails) does not disturb the next one
      const bad = join(dir, 'abandoned');
      writeFileSync(bad, files[0]!);
      const e = await impl!.chunkFile(bad, TINY, { pool, windowBytes: 65536, onChunk: async () => Promise.reject(new Error('disk on fire')) }).catch((x: unknown) => x);
      expect((e as Error).message).toBe('disk on fire');
      await check(impl!.chunkFile, pool, files[1]!, TINY, 65536);
    } finally {
      await pool.close();
    }
  });
});
