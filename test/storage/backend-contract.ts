/**
 * One conformance suite for every Backend (memory, local directory, S3). Each implementation's
 * test file calls `describeBackendContract(name, factory)`; the factory returns a fresh, empty
 * backend (for S3: a fresh prefix) and how to dispose of it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { Backend } from '../../src/storage/backend.js';
import { MlstoreError, type ErrorCode } from '../../src/errors.js';

export interface ContractSubject {
  backend: Backend;
  cleanup?: () => Promise<void>;
}

export interface ContractOptions {
  /** Keys to write for the pagination test (S3 pages hold 1000 keys). Default 60. */
  manyKeys?: number;
  /** Concurrent writers in the CAS race tests. Default 8. */
  writers?: number;
}

export async function expectCode(p: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<MlstoreError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(MlstoreError);
    expect((e as MlstoreError).code).toBe(code);
    return e as MlstoreError;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

async function collect(it: AsyncIterable<{ key: string; size: number }>): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const o of it) {
    expect(out.has(o.key), `list yielded ${o.key} twice`).toBe(false);
    out.set(o.key, o.size);
  }
  return out;
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

export function describeBackendContract(name: string, factory: () => Promise<ContractSubject>, options: ContractOptions = {}): void {
  const manyKeys = options.manyKeys ?? 60;
  const writers = options.writers ?? 8;

  describe(`Backend contract: ${name}`, () => {
    let subject: ContractSubject | undefined;
    const open = async (): Promise<Backend> => {
      subject = await factory();
      return subject.backend;
    };
    afterEach(async () => {
      await subject?.cleanup?.();
      subject = undefined;
    });

    it('round-trips bytes, including empty and binary objects', async () => {
      const b = await open();
      const bin = new Uint8Array(randomBytes(100_000));
      await b.put('objects/ab/cdef', bin);
      await b.put('objects/empty', new Uint8Array(0));
      expect(Buffer.from(await b.get('objects/ab/cdef')).equals(Buffer.from(bin))).toBe(true);
      expect((await b.get('objects/empty')).length).toBe(0);
      expect(await b.stat('objects/ab/cdef')).toMatchObject({ key: 'objects/ab/cdef', size: 100_000 });
      expect(await b.stat('objects/none')).toBeUndefined();
    });

    it('accepts the sha256 option and stores the bytes', async () => {
      const b = await open();
      const bytes = enc('checksummed');
      const { createHash } = await import('node:crypto');
      await b.put('objects/cs', bytes, { sha256: createHash('sha256').update(bytes).digest('hex') });
      expect(new TextDecoder().decode(await b.get('objects/cs'))).toBe('checksummed');
      const caps = await b.capabilities();
      const info = await b.stat('objects/cs');
      if (caps.storedChecksums) expect(info?.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    });

    it('treats a second put of an existing key as a no-op success', async () => {
      const b = await open();
      await b.put('objects/k', enc('one'));
      await b.put('objects/k', enc('one'));
      await Promise.all([b.put('objects/j', enc('same')), b.put('objects/j', enc('same'))]);
      expect(new TextDecoder().decode(await b.get('objects/k'))).toBe('one');
      expect(new TextDecoder().decode(await b.get('objects/j'))).toBe('same');
    });

    it('reports a missing key as MISSING_OBJECT with the key in details', async () => {
      const b = await open();
      const e = await expectCode(b.get('objects/nope'), 'MISSING_OBJECT');
      expect(e.details.key).toBe('objects/nope');
      expect(await b.getVersioned('objects/nope')).toBeUndefined();
    });

    it('refuses objects over maxBytes with LIMIT_EXCEEDED', async () => {
      const b = await open();
      await b.put('objects/big', new Uint8Array(10_000));
      await expectCode(b.get('objects/big', { maxBytes: 9_999 }), 'LIMIT_EXCEEDED');
      await expectCode(b.getVersioned('objects/big', { maxBytes: 100 }), 'LIMIT_EXCEEDED');
      expect((await b.get('objects/big', { maxBytes: 10_000 })).length).toBe(10_000);
    });

    it('lists every key under a prefix, and only those', async () => {
      const b = await open();
      await b.put('objects/aa/1', enc('1'));
      await b.put('objects/aa/2', enc('22'));
      await b.put('objects/bb/3', enc('333'));
      await b.put('objectsx/4', enc('4'));
      await b.put('refs/heads/main', enc('m'));
      expect(await collect(b.list('objects/'))).toEqual(new Map([['objects/aa/1', 1], ['objects/aa/2', 2], ['objects/bb/3', 3]]));
      expect([...(await collect(b.list('objects/aa/'))).keys()].sort()).toEqual(['objects/aa/1', 'objects/aa/2']);
      expect((await collect(b.list('nothing/'))).size).toBe(0);
      expect([...(await collect(b.list(''))).keys()].sort()).toEqual(['objects/aa/1', 'objects/aa/2', 'objects/bb/3', 'objectsx/4', 'refs/heads/main']);
      await expectCode(async () => {
        for await (const _ of b.list('objects')) void _;
      }, 'BAD_PATH');
    });

    it(`lists ${manyKeys} keys across pages without loss or duplicates`, async () => {
      const b = await open();
      const keys = Array.from({ length: manyKeys }, (_, i) => `many/${String(i).padStart(5, '0')}`);
      await pool(keys, 32, (k) => b.put(k, enc(k)));
      const listed = await collect(b.list('many/'));
      expect(listed.size).toBe(manyKeys);
      for (const k of keys) expect(listed.get(k)).toBe(k.length);
    });

    it('deletes keys, and deleting a missing key succeeds', async () => {
      const b = await open();
      await b.put('objects/d', enc('x'));
      await b.delete('objects/d');
      expect(await b.stat('objects/d')).toBeUndefined();
      await expectCode(b.get('objects/d'), 'MISSING_OBJECT');
      await b.delete('objects/d');
      await b.delete('objects/never');
    });

    it('rejects invalid keys with BAD_PATH', async () => {
      const b = await open();
      for (const key of ['', '/abs', 'a//b', '../up', 'a/./b', 'a/../b', 'sp ace', 'a/b/', 'back\\slash', 'nul\0', 'x'.repeat(256)]) {
        await expectCode(b.put(key, enc('x')), 'BAD_PATH');
        await expectCode(b.get(key), 'BAD_PATH');
        await expectCode(b.putIfVersion(key, enc('x'), null), 'BAD_PATH');
      }
    });

    it('compare-and-swap: create-if-absent, update on match, false on conflict', async () => {
      const b = await open();
      expect(await b.putIfVersion('refs/heads/main', enc('v1'), null)).toBe(true);
      expect(await b.putIfVersion('refs/heads/main', enc('v1b'), null)).toBe(false);
      const v1 = await b.getVersioned('refs/heads/main');
      expect(v1 && new TextDecoder().decode(v1.bytes)).toBe('v1');
      expect(await b.putIfVersion('refs/heads/main', enc('v2'), v1!.version)).toBe(true);
      expect(await b.putIfVersion('refs/heads/main', enc('v3'), v1!.version)).toBe(false);
      const v2 = await b.getVersioned('refs/heads/main');
      expect(new TextDecoder().decode(v2!.bytes)).toBe('v2');
      expect(v2!.version).not.toBe(v1!.version);
      expect(await b.putIfVersion('refs/heads/other', enc('x'), v2!.version)).toBe(false);
      expect(await b.stat('refs/heads/other')).toBeUndefined();
      await b.delete('refs/heads/main');
      expect(await b.putIfVersion('refs/heads/main', enc('v4'), v2!.version)).toBe(false);
      expect(await b.putIfVersion('refs/heads/main', enc('v4'), null)).toBe(true);
    });

    it(`concurrent CAS: of ${writers} writers exactly one wins, for create and for update`, async () => {
      const b = await open();
      const created = await Promise.all(Array.from({ length: writers }, (_, i) => b.putIfVersion('refs/race', enc(`c${i}`), null)));
      expect(created.filter(Boolean).length).toBe(1);
      const base = (await b.getVersioned('refs/race'))!;
      const updated = await Promise.all(Array.from({ length: writers }, (_, i) => b.putIfVersion('refs/race', enc(`u${i}`), base.version)));
      expect(updated.filter(Boolean).length).toBe(1);
      const winner = updated.indexOf(true);
      expect(new TextDecoder().decode((await b.get('refs/race')))).toBe(`u${winner}`);
    });

    it('concurrent CAS increments lose no update', async () => {
      const b = await open();
      const perWriter = 3;
      await b.putIfVersion('refs/counter', enc('0'), null);
      // Each writer's bytes are unique (value + writer id): see the identical-bytes note in backend.ts.
      await Promise.all(Array.from({ length: Math.min(writers, 4) }, async (_, w) => {
        for (let n = 0; n < perWriter; ) {
          const cur = (await b.getVersioned('refs/counter'))!;
          const next = Number(new TextDecoder().decode(cur.bytes).split(':')[0]) + 1;
          if (await b.putIfVersion('refs/counter', enc(`${next}:${w}`), cur.version)) n++;
        }
      }));
      expect(new TextDecoder().decode(await b.get('refs/counter')).split(':')[0]).toBe(String(Math.min(writers, 4) * perWriter));
    });

    it('stops with INTERRUPTED when the signal is already aborted', async () => {
      const b = await open();
      const ac = new AbortController();
      ac.abort();
      await b.put('objects/present', enc('x'));
      await expectCode(b.put('objects/a', enc('x'), { signal: ac.signal }), 'INTERRUPTED');
      await expectCode(b.get('objects/present', { signal: ac.signal }), 'INTERRUPTED');
      await expectCode(b.stat('objects/present', { signal: ac.signal }), 'INTERRUPTED');
      await expectCode(b.putIfVersion('refs/x', enc('x'), null, { signal: ac.signal }), 'INTERRUPTED');
      await expectCode(async () => {
        for await (const _ of b.list('', { signal: ac.signal })) void _;
      }, 'INTERRUPTED');
      expect(await b.stat('objects/a')).toBeUndefined();
    });

    it('flush succeeds and keeps data readable', async () => {
      const b = await open();
      await b.put('objects/f/1', enc('f'));
      await b.flush();
      expect(new TextDecoder().decode(await b.get('objects/f/1'))).toBe('f');
      const caps = await b.capabilities();
      expect(typeof caps.atomicCompareAndSwap).toBe('boolean');
      expect(b.location.length).toBeGreaterThan(0);
    });
  });
}
