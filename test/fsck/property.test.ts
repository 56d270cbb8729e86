/**
 * Property: flipping any bits of any single byte of any object (chunk, file manifest, tree,
 * commit; loose or packed) of a small store is detected, reported as exactly one error — HASH_MISMATCH on that
 * object — and nothing else is called an error. Runs the public `fsck` API in-process.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { fsck } from '../../src/api/fsck.js';
import { readPacks } from '../helpers/store.js';
import { buildFixture, codes, type Fixture } from './helpers.js';

let fx: Fixture;
/** Every stored object: a loose file, or a range of a pack (small chunks, docs/format.md#packs). */
let objects: { path: string; offset: number; id: string; size: number }[];

beforeAll(async () => {
  fx = await buildFixture();
  objects = [];
  for (const ns of ['chunks', 'meta']) {
    const base = join(fx.dir, '.mlstore', 'objects', ns);
    for (const fan of await readdir(base).catch(() => [] as string[])) {
      for (const name of await readdir(join(base, fan))) {
        const path = join(base, fan, name);
        objects.push({ path, offset: 0, id: fan + name, size: (await readFile(path)).length });
      }
    }
  }
  for (const [name, entries] of await readPacks(fx.dir)) {
    const path = join(fx.dir, '.mlstore', 'packs', `${name}.pack`);
    for (const [id, offset, size] of entries) objects.push({ path, offset, id, size });
  }
  objects.sort((a, b) => (a.id < b.id ? -1 : 1));
});

describe('fsck property', () => {
  it('the untouched fixture is clean', async () => {
    const report = await fsck({ dir: fx.dir, signatureSeverity: 'off' });
    expect(codes(report)).toEqual([]);
    expect(objects.length).toBeGreaterThan(20);
    expect(objects.some((o) => o.path.endsWith('.pack'))).toBe(true);
  });

  it('any single-byte flip in any object is detected as HASH_MISMATCH of exactly that object', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), async (which, at, mask) => {
        const obj = objects[which % objects.length]!;
        const original = await readFile(obj.path);
        if (obj.size === 0) return; // the empty chunk has no byte to flip
        const offset = obj.offset + (at % obj.size);
        const damaged = Buffer.from(original);
        damaged[offset] = damaged[offset]! ^ mask;
        await writeFile(obj.path, damaged);
        try {
          const report = await fsck({ dir: fx.dir, signatureSeverity: 'off' });
          expect(report.ok).toBe(false);
          expect(codes(report)).toEqual([['HASH_MISMATCH', obj.id]]);
        } finally {
          await writeFile(obj.path, original);
        }
      }),
      { numRuns: 200 },
    );
  });
});
