/** Strict file manifest parsing: chunk sizes must add up, ids must be SHA-256, bytes canonical. */
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../core/canonical-json.js';
import { expectCode } from '../../test/helpers/expect-code.js';
import { decodeFileManifest, encodeFileManifest, type FileManifest } from './file-manifest.js';
import { LIMITS } from './limits.js';

const A = 'a1'.repeat(32);
const B = 'b2'.repeat(32);
const F = 'f3'.repeat(32);
const bytes = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : canonicalize(v));
const good = { type: 'file', size: 30, digest: F, chunks: [[A, 10], [B, 20]] };

describe('file manifest codec', () => {
  it('accepts a valid manifest (a chunk may repeat) and re-encodes it to the same bytes', () => {
    expect(decodeFileManifest(bytes(good)).size).toBe(30);
    const rep = { ...good, size: 40, chunks: [[A, 10], [B, 20], [A, 10]] };
    const m = decodeFileManifest(bytes(rep));
    expect(encodeFileManifest(m)).toEqual(bytes(rep));
  });

  it('rejects an unknown type, unknown and missing fields', () => {
    expectCode(() => decodeFileManifest(bytes({ ...good, type: 'blob' })), 'CORRUPT_OBJECT');
    expectCode(() => decodeFileManifest(bytes({ ...good, type: 'tree' })), 'CORRUPT_OBJECT');
    expectCode(() => decodeFileManifest(bytes({ ...good, mode: 420 })), 'CORRUPT_OBJECT');
    for (const k of ['type', 'size', 'digest', 'chunks']) {
      const copy: Record<string, unknown> = { ...good };
      delete copy[k];
      expectCode(() => decodeFileManifest(bytes(copy)), 'CORRUPT_OBJECT');
    }
  });

  it('rejects sizes that do not add up, and malformed chunk lists', () => {
    expectCode(() => decodeFileManifest(bytes({ ...good, size: 31 })), 'CORRUPT_OBJECT');
    expectCode(() => decodeFileManifest(bytes({ ...good, size: 29 })), 'CORRUPT_OBJECT');
    expectCode(() => decodeFileManifest(bytes({ ...good, size: 10, chunks: [[A, 10]] })), 'CORRUPT_OBJECT'); // one chunk: no manifest
    expectCode(() => decodeFileManifest(bytes({ ...good, size: 0, chunks: [] })), 'CORRUPT_OBJECT');
    expectCode(() => decodeFileManifest(bytes({ ...good, size: 20, chunks: [[A, 0], [B, 20]] })), 'CORRUPT_OBJECT'); // empty chunk
    expectCode(() => decodeFileManifest(bytes({ ...good, chunks: [[A, 10], [B, 20, 1]] })), 'CORRUPT_OBJECT');
    expectCode(() => decodeFileManifest(bytes({ ...good, chunks: [[A, 10], [B]] })), 'CORRUPT_OBJECT');
    expectCode(() => decodeFileManifest(bytes({ ...good, chunks: [[A, 10], { id: B, size: 20 }] })), 'CORRUPT_OBJECT');
    expectCode(() => decodeFileManifest(bytes({ ...good, chunks: [[A, 10], [B.toUpperCase(), 20]] })), 'CORRUPT_OBJECT');
    expectCode(() => decodeFileManifest(bytes({ ...good, chunks: [[A, 10], [B, -20]] })), 'CORRUPT_OBJECT');
    expectCode(() => decodeFileManifest(bytes({ ...good, digest: 'sha256:' + F })), 'CORRUPT_OBJECT');
    const huge = LIMITS.maxChunkBytes + 1;
    expectCode(() => decodeFileManifest(bytes({ ...good, size: huge + 10, chunks: [[A, 10], [B, huge]] })), 'CORRUPT_OBJECT');
  });

  it('rejects non-canonical bytes', () => {
    const text = canonicalize(good);
    for (const v of [text.replace(',', ', '), `${text} `, text.replace('"size":30', '"size":3e1'), text.replace('"type":"file"', '"type":"fil\\u0065"')]) {
      expectCode(() => decodeFileManifest(bytes(v)), 'CORRUPT_OBJECT');
    }
    const reordered = `{"type":"file","size":30,"digest":"${F}","chunks":[["${A}",10],["${B}",20]]}`;
    expectCode(() => decodeFileManifest(bytes(reordered)), 'CORRUPT_OBJECT');
  });

  it('the writer refuses a manifest whose sizes do not add up', () => {
    expectCode(() => encodeFileManifest({ ...(good as unknown as FileManifest), size: 31 }), 'CORRUPT_OBJECT');
    expectCode(() => encodeFileManifest({ type: 'file', size: 10, digest: F, chunks: [[A, 10]] }), 'CORRUPT_OBJECT');
  });

  it('the writer refuses ids the reader would refuse', () => {
    expectCode(() => encodeFileManifest({ type: 'file', size: 30, digest: 'nope', chunks: [[A, 10], [B, 20]] }), 'CORRUPT_OBJECT');
  });
});
