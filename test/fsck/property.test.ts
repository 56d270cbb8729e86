/**
 * Property: flipping any bits of any single byte of any object (chunk, file manifest, tree,
 * commit) of a small store is detected, reported as exactly one error — HASH_MISMATCH on that
 * object — and nothing else is called an error. Runs the public `fsck` API in-process.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { fsck } from '../../src/api/fsck.js';
import { buildFixture, codes, type Fixture } from './helpers.js';

let fx: Fixture;
let objects: { path: string; id: string; size: number }[];

beforeAll(async () => {
  fx = await buildFixture();
  objects = [];
  for (const ns of ['chunks', 'meta']) {
    const base = join(fx.dir, '.mlstore', 'objects', ns);
    for (const fan of await readdir(base)) {
      for (const name of await readdir(join(base, fan))) {
        const path = join(base, fan, name);
        objects.push({ path, id: fan + name, size: (await readFile(path)).length });
      }
    }
  }
  objects.sort((a, b) => (a.id < b.id ? -1 : 1));
});

describe('fsck property', () => {
  it('the untouched fixture is clean', async () => {
    const report = await fsck({ dir: fx.dir, signatureSeverity: 'off' });
    expect(codes(report)).toEqual([]);
    expect(objects.length).toBeGreaterThan(20);
  });

  it('any single-byte flip in any object is detected as HASH_MISMATCH of exactly that object', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), async (which, at, mask) => {
        const obj = objects[which % objects.length]!;
        const original = await readFile(obj.path);
        if (original.length === 0) return; // the empty chunk has no byte to flip
        const offset = at % original.length;
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
