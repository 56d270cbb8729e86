/**
 * O_DIRECT writes of large objects (src/storage/direct-writer.ts): exact bytes and size for every
 * kind of length (whole pages, a ragged tail, more than one slot), sources at odd offsets of a
 * shared window (as chunkFile hands them over), more writes at once than there are slots, the
 * O_EXCL rule, and the fallback where the probe fails.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedArena } from '../../src/core/shared-arena.js';
import { DIRECT_MIN, DirectWriter } from '../../src/storage/direct-writer.js';
import { LocalBackend } from '../../src/storage/local-backend.js';
import { withTmpfs } from '../helpers/tmpfs.js';

let work: string;
let probes = 0;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'mlstore-direct-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const writerIn = (dir: string) => new DirectWriter(() => join(dir, `probe-${probes++}`));

/** A view at an odd offset of a shared buffer, filled with random bytes. */
function sharedView(length: number, offset: number): Uint8Array {
  const view = new Uint8Array(new SharedArrayBuffer(length + offset + 7), offset, length);
  view.set(randomBytes(length));
  return view;
}

describe('DirectWriter', () => {
  it('writes the exact bytes and size: whole pages, ragged tails, several slots, odd source offsets', async (ctx) => {
    const dir = join(work, 'sizes');
    await mkdir(dir);
    const w = writerIn(dir);
    if (!w.enabled) ctx.skip(`no O_DIRECT on ${tmpdir()}`);
    const MiB = 1024 * 1024;
    for (const [i, size] of [DIRECT_MIN, DIRECT_MIN + 1, MiB - 123, 4 * MiB, 4 * MiB + 4097, 9 * MiB + 5].entries()) {
      const bytes = sharedView(size, (i * 13) % 4096);
      const path = join(dir, `o${i}`);
      expect(await w.write(path, bytes, i % 2 === 0)).toBe(true);
      expect((await stat(path)).size, `size ${size}`).toBe(size);
      expect(Buffer.compare(await readFile(path), Buffer.from(bytes)), `bytes of size ${size}`).toBe(0);
    }
    expect((await readdir(dir)).filter((n) => n.startsWith('probe'))).toEqual([]); // the probe file is removed
    // sources in the shared arena (chunkFile's read windows), at odd offsets: copied with memory.copy
    const arena = sharedArena();
    const block = arena.take(8 * MiB);
    block.set(randomBytes(block.length));
    for (const [i, [from, size]] of ([[1, DIRECT_MIN + 3], [4093, 4 * MiB + 1], [7, 5 * MiB]] as const).entries()) {
      const bytes = block.subarray(from, from + size);
      expect(arena.owns(bytes)).toBe(true);
      const path = join(dir, `arena${i}`);
      expect(await w.write(path, bytes, false)).toBe(true);
      expect((await stat(path)).size).toBe(size);
      expect(Buffer.compare(await readFile(path), bytes), `arena bytes of size ${size}`).toBe(0);
    }
    arena.give(block);
  });

  it('queues writes beyond its slots and keeps each one whole', async (ctx) => {
    const dir = join(work, 'many');
    await mkdir(dir);
    const w = writerIn(dir);
    if (!w.enabled) ctx.skip(`no O_DIRECT on ${tmpdir()}`);
    const objects = Array.from({ length: 16 }, (_, i) => sharedView(DIRECT_MIN + i * 4099, i));
    const done = await Promise.all(objects.map((b, i) => w.write(join(dir, `o${i}`), b, false)));
    expect(done).toEqual(Array(16).fill(true));
    for (const [i, b] of objects.entries()) expect(Buffer.compare(await readFile(join(dir, `o${i}`)), Buffer.from(b))).toBe(0);
  });

  it('never replaces an existing file (O_EXCL) and leaves it as it was', async (ctx) => {
    const dir = join(work, 'excl');
    await mkdir(dir);
    const w = writerIn(dir);
    if (!w.enabled) ctx.skip(`no O_DIRECT on ${tmpdir()}`);
    await writeFile(join(dir, 'taken'), 'keep me');
    await expect(w.write(join(dir, 'taken'), sharedView(DIRECT_MIN, 0), false)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(join(dir, 'taken'), 'utf8')).toBe('keep me');
  });

  it('where the probe fails (O_DIRECT refused, or no place to probe) it writes nothing and says so', async () => {
    const w = new DirectWriter(() => join(work, 'no-such-dir', 'probe'));
    expect(w.enabled).toBe(false);
    const target = join(work, 'refused');
    expect(await w.write(target, sharedView(DIRECT_MIN, 3), false)).toBe(false);
    await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('on tmpfs (O_DIRECT accepted or refused, by kernel version) LocalBackend stores the exact bytes', async (ctx) => {
    await withTmpfs(ctx, join(work, 'tmpfs'), '32m', async (mnt) => {
      ctx.annotate(`O_DIRECT on tmpfs here: ${writerIn(mnt).enabled}`);
      const b = new LocalBackend(join(mnt, 'store'), { directIo: true });
      const bytes = sharedView(DIRECT_MIN + 77, 5);
      await b.put('objects/chunks/ab/big', bytes);
      await b.flush();
      expect(Buffer.compare(Buffer.from(await b.get('objects/chunks/ab/big')), Buffer.from(bytes))).toBe(0);
      await b.close();
    });
  });

  it('LocalBackend with directIo stores large objects exactly and small ones as before', async () => {
    const root = join(work, 'backend');
    const b = new LocalBackend(root, { directIo: true });
    const big = sharedView(3 * 1024 * 1024 + 11, 9);
    const small = randomBytes(1000);
    await Promise.all([b.put('objects/chunks/aa/big', big), b.put('objects/meta/bb/small', small)]);
    await b.flush();
    expect(Buffer.compare(await readFile(join(root, 'objects/chunks/aa/big')), Buffer.from(big))).toBe(0);
    expect(Buffer.compare(await readFile(join(root, 'objects/meta/bb/small')), small)).toBe(0);
    expect((await readdir(join(root, 'tmp'))).filter((n) => !n.startsWith('locks'))).toEqual([]);
  });

  it('a closed LocalBackend gives its O_DIRECT slots back to the shared arena', async (ctx) => {
    if (!writerIn(work).enabled) ctx.skip(`no O_DIRECT on ${tmpdir()}`);
    const use = async (i: number) => {
      const b = new LocalBackend(join(work, `slots-${i}`), { directIo: true });
      await b.put('objects/chunks/aa/big', sharedView(DIRECT_MIN + 5, 3));
      await b.close();
    };
    await use(0);
    const high = sharedArena().reserved;
    for (let i = 1; i <= 6; i++) await use(i);
    expect(sharedArena().reserved).toBe(high); // kept, each instance would take 16 MiB more
  });
});
