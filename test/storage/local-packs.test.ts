/**
 * Packs of small chunks in a local store (src/storage/local-packs.ts): the index format is
 * strict, packed objects behave like loose ones through the Backend API (get, stat, list,
 * delete, across instances), batches make them durable in the same order as loose objects, and
 * damage (index, truncated pack, orphan) is reported, never silently served.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/storage/local-backend.js';
import { decodePackIndex, encodePackIndex, PACKABLE_MAX } from '../../src/storage/local-packs.js';
import { expectCode } from './backend-contract.js';

let work: string;
let n = 0;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'mlstore-packs-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const chunkKey = (bytes: Uint8Array) => {
  const id = sha(bytes);
  return `objects/chunks/${id.slice(0, 2)}/${id.slice(2)}`;
};
const fresh = () => join(work, `store-${n++}`);
const packFiles = async (root: string) => (await readdir(join(root, 'packs')).catch(() => [] as string[])).sort();

describe('pack index format', () => {
  const entries: Array<[string, number]> = [
    [`objects/chunks/aa/${'1'.repeat(62)}`, 10],
    [`objects/chunks/bb/${'2'.repeat(62)}`, 0],
    [`objects/chunks/cc/${'3'.repeat(62)}`, 7],
  ];

  it('round-trips, with contiguous offsets, and is named by its own hash', () => {
    const idx = encodePackIndex(entries);
    expect(new TextDecoder().decode(idx).split('\n')[0]).toBe('mlstore-pack-index 1 17 3');
    expect(decodePackIndex(sha(idx), idx)).toEqual([
      [entries[0]![0], 0, 10],
      [entries[1]![0], 10, 0],
      [entries[2]![0], 10, 7],
    ]);
  });

  it('rejects every kind of damage or foreign content', () => {
    const good = new TextDecoder().decode(encodePackIndex(entries));
    const variants: Record<string, string> = {
      'newer header': good.replace('mlstore-pack-index 1', 'mlstore-pack-index 2'),
      'count off': good.replace(' 17 3\n', ' 17 4\n'),
      'total off': good.replace(' 17 3\n', ' 18 3\n'),
      'gap between entries': good.replace(' 10 0\n', ' 11 0\n'),
      'duplicate key': good.replace(`bb/${'2'.repeat(62)}`, `aa/${'1'.repeat(62)}`),
      'key outside chunks': good.replace('objects/chunks/cc', 'objects/meta/cc'),
      'invalid key': good.replace('objects/chunks/cc', 'objects/../cc'),
      'leading zero': good.replace(' 10 7\n', ' 010 7\n'),
      'no final newline': good.slice(0, -1),
      'oversized entry': encodeText([[entries[0]![0], PACKABLE_MAX + 1]]),
    };
    for (const [what, text] of Object.entries(variants)) {
      const bytes = new TextEncoder().encode(text);
      expect(() => decodePackIndex(sha(bytes), bytes), what).toThrow(/pack index .* is damaged/);
    }
    const bytes = new TextEncoder().encode(good);
    expect(() => decodePackIndex(sha('other'), bytes)).toThrow(/do not hash to its name/);
    const latin1 = Uint8Array.from([...bytes.slice(0, -2), 0xff, 0x0a]);
    expect(() => decodePackIndex(sha(latin1), latin1)).toThrow();
  });

  function encodeText(e: Array<[string, number]>): string {
    return new TextDecoder().decode(encodePackIndex(e));
  }
});

describe('LocalBackend with packs', () => {
  it('packs small chunks, keeps big ones and metadata loose, and reads them back from a new instance', async () => {
    const root = fresh();
    const b = new LocalBackend(root, { packs: true });
    const small = Array.from({ length: 50 }, (_, i) => randomBytes(1 + i * 97));
    const big = randomBytes(PACKABLE_MAX + 1);
    const meta = new TextEncoder().encode('{"type":"tree"}');
    for (const s of small) await b.put(chunkKey(s), s);
    await b.put(chunkKey(big), big);
    await b.put('objects/meta/ab/cd', meta);
    // staged: this process reads them before anything is durable
    expect([...(await b.get(chunkKey(small[7]!)))]).toEqual([...small[7]!]);
    expect((await b.stat(chunkKey(small[9]!)))?.size).toBe(small[9]!.length);
    await b.flush();
    const files = await packFiles(root);
    expect(files).toHaveLength(2);
    expect(files[0]!.replace(/\.(idx|pack)$/, '')).toBe(files[1]!.replace(/\.(idx|pack)$/, ''));
    expect((await stat(join(root, 'packs', files.find((f) => f.endsWith('.pack'))!))).size).toBe(small.reduce((s, x) => s + x.length, 0));
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    // loose: the big chunk and the metadata; no small chunk has a file of its own
    await expect(stat(join(root, chunkKey(big)))).resolves.toBeTruthy();
    await expect(stat(join(root, 'objects/meta/ab/cd'))).resolves.toBeTruthy();
    await expect(stat(join(root, chunkKey(small[0]!)))).rejects.toThrow();
    await b.close();

    const other = new LocalBackend(root, { packs: true });
    for (const s of small) expect(Buffer.from(await other.get(chunkKey(s))).equals(s)).toBe(true);
    expect((await other.stat(chunkKey(small[3]!)))?.size).toBe(small[3]!.length);
    const listed = new Map<string, number>();
    for await (const o of other.list('objects/chunks/')) {
      expect(listed.has(o.key), `${o.key} listed twice`).toBe(false);
      listed.set(o.key, o.size);
    }
    expect(listed.size).toBe(small.length + 1);
    expect(listed.get(chunkKey(small[5]!))).toBe(small[5]!.length);
    // a second put of a packed object writes nothing
    await other.put(chunkKey(small[1]!), small[1]!);
    await other.flush();
    expect(await packFiles(root)).toEqual(files);
    // keys of the reserved area are refused
    await expectCode(() => other.put('packs/x', small[0]!), 'BAD_PATH');
  });

  it('commits packs with their batch: in place only after the data syncs, the index renamed in last', async () => {
    // with a loose object in the batch, one syncfs covers both: packs/ is empty at the first
    // (data) sync and holds the pack and its index at the second (directories)
    const root = fresh();
    const log: string[] = [];
    const syncFileSystem = async (): Promise<'ok'> => {
      log.push(`sync(${(await packFiles(root)).length} files in packs/)`);
      return 'ok';
    };
    const b = new LocalBackend(root, { packs: true, syncFileSystem });
    const small = randomBytes(100);
    const big = randomBytes(PACKABLE_MAX + 10);
    await b.put(chunkKey(small), small);
    await b.put(chunkKey(big), big);
    expect(log).toEqual([]);
    await b.flush();
    expect(log).toEqual(['sync(0 files in packs/)', 'sync(2 files in packs/)']);
    // a batch of packs only: each pack fdatasyncs itself, then packs/ is fsynced — no syncfs
    const c = new LocalBackend(fresh(), { packs: true, syncFileSystem });
    await c.put(chunkKey(Buffer.from('only packed')), Buffer.from('only packed'));
    await c.flush();
    expect(log).toHaveLength(2);
  });

  it('a full batch commits on its own; with durability none nothing is synced', async () => {
    const root = fresh();
    const b = new LocalBackend(root, { packs: true, batchObjects: 3 });
    for (let i = 0; i < 7; i++) await b.put(chunkKey(Buffer.from(`x${i}`)), Buffer.from(`x${i}`));
    // the second full batch sealed waits for the first to commit: at least that one is in place
    expect((await packFiles(root)).filter((f) => f.endsWith('.idx')).length).toBeGreaterThanOrEqual(1);
    await b.flush();
    expect((await packFiles(root)).filter((f) => f.endsWith('.idx'))).toHaveLength(3);
    let syncs = 0;
    const none = new LocalBackend(fresh(), { packs: true, durability: 'none', syncFileSystem: async () => ((syncs++), 'ok') });
    await none.put(chunkKey(Buffer.from('y')), Buffer.from('y'));
    await none.flush();
    expect(syncs).toBe(0);
    expect(Buffer.from(await none.get(chunkKey(Buffer.from('y')))).toString()).toBe('y');
  });

  it("does not pack with durability 'fsync' (each object is synced on its own)", async () => {
    const root = fresh();
    const b = new LocalBackend(root, { packs: true, durability: 'fsync' });
    await b.put(chunkKey(Buffer.from('z')), Buffer.from('z'));
    await b.flush();
    expect(await packFiles(root)).toEqual([]);
    await expect(stat(join(root, chunkKey(Buffer.from('z'))))).resolves.toBeTruthy();
  });

  it('delete rewrites the pack without the object; every other object stays readable', async () => {
    const root = fresh();
    const b = new LocalBackend(root, { packs: true });
    const objs = Array.from({ length: 5 }, (_, i) => Buffer.from(`object ${i} `.repeat(i + 1)));
    for (const o of objs) await b.put(chunkKey(o), o);
    await b.flush();
    const before = await packFiles(root);
    await b.delete(chunkKey(objs[2]!));
    const after = await packFiles(root);
    expect(after).toHaveLength(2);
    expect(after).not.toEqual(before);
    const reader = new LocalBackend(root, { packs: true });
    for (const [i, o] of objs.entries()) {
      if (i === 2) expect(await reader.stat(chunkKey(o))).toBeUndefined();
      else expect(Buffer.from(await reader.get(chunkKey(o))).equals(o)).toBe(true);
    }
    await expectCode(() => reader.get(chunkKey(objs[2]!)), 'MISSING_OBJECT');
    // a fresh put of the deleted object packs it again
    await b.put(chunkKey(objs[2]!), objs[2]!);
    await b.flush();
    expect(Buffer.from(await new LocalBackend(root, { packs: true }).get(chunkKey(objs[2]!))).equals(objs[2]!)).toBe(true);
    // deleting every object of a pack removes the pack
    const solo = fresh();
    const c = new LocalBackend(solo, { packs: true });
    await c.put(chunkKey(objs[0]!), objs[0]!);
    await c.flush();
    await c.delete(chunkKey(objs[0]!));
    expect(await packFiles(solo)).toEqual([]);
  });

  it('a damaged index hides its objects (missing, never wrong bytes) and is reported', async () => {
    const root = fresh();
    const b = new LocalBackend(root, { packs: true });
    const o = Buffer.from('precious bytes');
    await b.put(chunkKey(o), o);
    await b.flush();
    const idx = (await packFiles(root)).find((f) => f.endsWith('.idx'))!;
    const text = await readFile(join(root, 'packs', idx), 'utf8');
    await writeFile(join(root, 'packs', idx), text.replace(' 0 14\n', ' 0 13\n'));
    const reader = new LocalBackend(root, { packs: true });
    await expectCode(() => reader.get(chunkKey(o)), 'MISSING_OBJECT');
    expect(reader.packProblems()).toEqual([{ key: `packs/${idx}`, detail: expect.stringMatching(/do not hash to its name/) }]);
  });

  it('a truncated pack makes the objects past its end unreadable, not short', async () => {
    const root = fresh();
    const b = new LocalBackend(root, { packs: true });
    const first = Buffer.from('first object');
    const second = Buffer.from('second object');
    await b.put(chunkKey(first), first);
    await b.put(chunkKey(second), second);
    await b.flush();
    const pack = (await packFiles(root)).find((f) => f.endsWith('.pack'))!;
    await truncate(join(root, 'packs', pack), first.length + 3);
    const reader = new LocalBackend(root, { packs: true });
    expect(Buffer.from(await reader.get(chunkKey(first))).equals(first)).toBe(true);
    await expectCode(() => reader.get(chunkKey(second)), 'UNREADABLE_OBJECT');
  });

  it('sees packs another instance committed after it started; cleanTmp removes orphan packs only when old', async () => {
    const root = fresh();
    const reader = new LocalBackend(root, { packs: true });
    expect(await reader.stat(chunkKey(Buffer.from('later')))).toBeUndefined();
    const writer = new LocalBackend(root, { packs: true });
    await writer.put(chunkKey(Buffer.from('later')), Buffer.from('later'));
    await writer.flush();
    expect(Buffer.from(await reader.get(chunkKey(Buffer.from('later')))).toString()).toBe('later');

    const orphan = join(root, 'packs', `${'e'.repeat(64)}.pack`);
    await writeFile(orphan, 'left by a crash between the two renames');
    await utimes(orphan, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
    // old bytes, but changed just now (ctime): it could be a pack whose index is being renamed in
    expect(await writer.cleanTmp()).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    expect(await writer.cleanTmp({ olderThanMs: 10 })).toBe(1);
    expect(await packFiles(root)).toHaveLength(2);
  });
});
