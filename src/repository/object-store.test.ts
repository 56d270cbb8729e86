/**
 * Verify-on-read: every object read back is re-hashed and strictly decoded before use; missing,
 * corrupt, swapped, wrong-kind and oversize objects each get their own code.
 */
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../storage/memory-backend.js';
import { sha256Hex } from '../core/digest.js';
import { encodeTree } from '../model/tree.js';
import { encodeCommit, environmentDigest } from '../model/commit.js';
import { encodeFileManifest } from '../model/file-manifest.js';
import { LIMITS } from '../model/limits.js';
import { expectCodeAsync } from '../../test/helpers/expect-code.js';
import { ObjectStore } from './object-store.js';
import { objectKey } from './layout.js';

const tree = encodeTree({ type: 'tree', entries: [{ type: 'file', name: 'a', mode: 0o644, size: 2, digest: sha256Hex('hi') }] });
const commit = (t: string) =>
  encodeCommit({
    type: 'commit',
    tree: t,
    parents: [],
    author: { name: 'a', email: 'b' },
    time: '2026-01-01T00:00:00Z',
    message: 'm',
    code: { commit: null, dirty: false, diff: null },
    environment: { digest: environmentDigest({}), components: {} },
    inputs: [],
  });

async function store() {
  const backend = new MemoryBackend();
  return { backend, objects: new ObjectStore(backend) };
}

describe('ObjectStore (verify on read)', () => {
  it('round-trips chunks and metadata under their SHA-256', async () => {
    const { objects } = await store();
    const chunkId = await objects.putChunk(new TextEncoder().encode('hi'));
    expect(chunkId).toBe(sha256Hex('hi'));
    const treeId = await objects.putMeta(tree);
    const commitId = await objects.putMeta(commit(treeId));
    expect(new TextDecoder().decode(await objects.getChunk(chunkId, { expectedSize: 2 }))).toBe('hi');
    expect((await objects.readTree(treeId)).entries[0]!.name).toBe('a');
    expect((await objects.readCommit(commitId)).tree).toBe(treeId);
  });

  it('missing → MISSING_OBJECT; flipped byte → CORRUPT_OBJECT; swapped bytes → CORRUPT_OBJECT; wrong size → CORRUPT_OBJECT', async () => {
    const { backend, objects } = await store();
    await expectCodeAsync(objects.getChunk(sha256Hex('nope')), 'MISSING_OBJECT');
    await expectCodeAsync(objects.readTree(sha256Hex('nope')), 'MISSING_OBJECT');
    const id = await objects.putChunk(new TextEncoder().encode('hello'));
    await expectCodeAsync(objects.getChunk(id, { expectedSize: 4 }), 'CORRUPT_OBJECT');
    backend.corrupt(objectKey('chunks', id));
    await expectCodeAsync(objects.getChunk(id), 'CORRUPT_OBJECT');
    // a remote that serves another (valid) object's bytes under this name
    const treeId = await objects.putMeta(tree);
    const other = encodeTree({ type: 'tree', entries: [] });
    await backend.put(objectKey('meta', sha256Hex('x')), other);
    await expectCodeAsync(objects.readTree(sha256Hex('x')), 'CORRUPT_OBJECT');
    expect((await objects.readTree(treeId)).entries).toHaveLength(1);
  });

  it('the kind comes from the edge: a tree is not a commit, and a chunk holding tree bytes is never read as a tree', async () => {
    const { objects } = await store();
    const treeId = await objects.putMeta(tree);
    await expectCodeAsync(objects.readCommit(treeId), 'WRONG_OBJECT_KIND');
    await expectCodeAsync(objects.readManifest(treeId), 'WRONG_OBJECT_KIND');
    const commitId = await objects.putMeta(commit(treeId));
    await expectCodeAsync(objects.readTree(commitId), 'WRONG_OBJECT_KIND');
    // data whose bytes happen to be a valid tree, stored as a chunk
    const fake = encodeTree({ type: 'tree', entries: [{ type: 'tree', name: 'x', id: treeId }] });
    const chunkId = await objects.putChunk(fake);
    await expectCodeAsync(objects.readTree(chunkId), 'MISSING_OBJECT');
    // canonical but invalid metadata (a manifest whose sizes do not add up) stored under its hash
    const bad = new TextEncoder().encode(`{"chunks":[["${'a'.repeat(64)}",1],["${'b'.repeat(64)}",1]],"digest":"${'c'.repeat(64)}","size":3,"type":"file"}`);
    const badId = await objects.putMeta(bad);
    await expectCodeAsync(objects.readManifest(badId), 'CORRUPT_OBJECT');
    const good = encodeFileManifest({ type: 'file', size: 2, digest: 'c'.repeat(64), chunks: [['a'.repeat(64), 1], ['b'.repeat(64), 1]] });
    expect((await objects.readManifest(await objects.putMeta(good))).size).toBe(2);
  });

  it('an oversize object is refused without being used (LIMIT_EXCEEDED)', async () => {
    const { backend, objects } = await store();
    const big = new Uint8Array(LIMITS.maxMetaBytes + 1);
    const id = sha256Hex('any name: the bound applies before hashing');
    await backend.put(objectKey('meta', id), big);
    await expectCodeAsync(objects.readTree(id), 'LIMIT_EXCEEDED');
  });
});

describe('put with heal (add --verify)', () => {
  it('replaces a damaged copy once, keeps its bytes in quarantine, and leaves an intact one alone', async () => {
    const backend = new MemoryBackend();
    const good = new TextEncoder().encode('good chunk bytes');
    const id = sha256Hex(good);
    const key = objectKey('chunks', id);
    await backend.put(key, new TextEncoder().encode('BAD! chunk bytes')); // same size, other bytes
    const objects = new ObjectStore(backend);
    await objects.putChunk(good, id); // without heal: the existing copy stays
    await expectCodeAsync(objects.getChunk(id), 'CORRUPT_OBJECT');

    const healing = new ObjectStore(backend);
    await Promise.all([healing.putChunk(good, id, undefined, { heal: true }), healing.putChunk(good, id, undefined, { heal: true })]); // a chunk twice in a file
    expect(healing.healed).toHaveLength(1);
    expect(new TextDecoder().decode(await backend.get(healing.healed[0]!.quarantined))).toBe('BAD! chunk bytes');
    expect(await healing.getChunk(id)).toEqual(good);

    const again = new ObjectStore(backend);
    await again.putChunk(good, id, undefined, { heal: true });
    expect(again.healed).toEqual([]);
  });
});
