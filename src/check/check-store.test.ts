/**
 * checkStore on an in-memory store: the generic (non-directory) path, server-stored checksums for
 * --fast, the signed ref state, refs, stray keys, lineage inputs, kinds, and the caps on the
 * blast radius. The end-to-end damage cases live in test/fsck/.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeCommit, environmentDigest, type Commit, type Input } from '../model/commit.js';
import { encodeFileManifest } from '../model/file-manifest.js';
import { encodeTree, type TreeEntry } from '../model/tree.js';
import { ObjectStore } from '../repository/object-store.js';
import { objectKey } from '../repository/layout.js';
import { MemoryBackend } from '../storage/memory-backend.js';
import type { Backend, ObjectInfo, PutOptions } from '../storage/backend.js';
import { defaultPolicy, ed25519Signer, emptyTrustList, encodeEnvelope, keyIdOf, publishRefState, REFSTATE_KEY, signCommit, trustKey, type TrustList } from '../trust/index.js';
import { signatureKey } from '../repository/layout.js';
import { checkStore, type CheckStoreOptions } from './check-store.js';
import type { Problem } from './problem.js';

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const bytes = (seed: string, n: number) => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 32) out.set(createHash('sha256').update(`${seed}${i}`).digest().subarray(0, Math.min(32, n - i)), i);
  return out;
};
const NOW = new Date('2030-01-01T00:00:00Z');

interface Store {
  backend: Backend;
  objects: ObjectStore;
  commit: string;
  tree: string;
  chunks: string[];
}

async function commitOver(objects: ObjectStore, tree: string, parents: string[] = [], inputs: Input[] = []): Promise<string> {
  const c: Commit = {
    type: 'commit', tree, parents, author: { name: 't', email: 't@e' }, time: '2029-01-01T00:00:00Z', message: 'm',
    code: { commit: null, dirty: false, diff: null }, environment: { digest: environmentDigest({}), components: {} }, inputs,
  };
  return objects.putMeta(encodeCommit(c));
}

async function buildStore(backend: Backend = new MemoryBackend({ location: 'mem://store' })): Promise<Store> {
  const objects = new ObjectStore(backend);
  const parts = [bytes('a', 1000), bytes('b', 700)];
  const chunks = [await objects.putChunk(parts[0]!), await objects.putChunk(parts[1]!)];
  const whole = new Uint8Array([...parts[0]!, ...parts[1]!]);
  const manifest = await objects.putMeta(encodeFileManifest({ type: 'file', size: 1700, digest: sha(whole), chunks: [[chunks[0]!, 1000], [chunks[1]!, 700]] }));
  const small = await objects.putChunk(bytes('s', 10));
  chunks.push(small);
  const tree = await objects.putMeta(encodeTree({ type: 'tree', entries: [
    { type: 'file', name: 'big.bin', mode: 0o644, size: 1700, digest: sha(whole), manifest },
    { type: 'file', name: 'small.txt', mode: 0o644, size: 10, digest: small },
  ] }));
  const commit = await commitOver(objects, tree);
  await backend.putIfVersion('refs/heads/main', new TextEncoder().encode(`${commit}\n`), null);
  return { backend, objects, commit, tree, chunks };
}

function run(s: Store, extra: Partial<CheckStoreOptions> = {}) {
  return checkStore({
    backend: s.backend, trustList: emptyTrustList(), policy: defaultPolicy(), signatureSeverity: 'off', storeKey: 'mem', now: () => NOW, threads: 0, ...extra,
  });
}

const pairs = (problems: Problem[], severity?: Problem['severity']) =>
  problems.filter((p) => !severity || p.severity === severity).map((p) => [p.code, p.id ?? p.key ?? null]).sort();

/** A backend that keeps each object's SHA-256 like AWS S3 or MinIO do when the upload carried one. */
class ChecksumBackend extends MemoryBackend {
  readonly sums = new Map<string, string>();
  override async put(key: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    await super.put(key, data, options);
    if (options.sha256) this.sums.set(key, options.sha256);
  }
  override async stat(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectInfo | undefined> {
    const info = await super.stat(key, options);
    const sum = this.sums.get(key);
    return info && sum ? { ...info, sha256: sum } : info;
  }
}

function key(): { signer: ReturnType<typeof ed25519Signer>; trust: TrustList } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { signer: ed25519Signer(keyIdOf(pem), privateKey), trust: trustKey(emptyTrustList(), { publicKey: pem, name: 'publisher' }) };
}

describe('checkStore on a non-directory backend', () => {
  it('a clean store verifies every chunk through the backend, hashing on the pool', async () => {
    const s = await buildStore();
    const r = await run(s);
    expect(r.problems).toEqual([]);
    expect(r.counts).toMatchObject({ objects: { chunks: 3, meta: 3, signatures: 0 }, refs: 1, commits: 1, verified: { chunks: 3, meta: 3 }, dangling: 0 });
    expect(r.bytesChecked).toBe(1710 + r.counts.storedBytes.meta!);
  });

  it('--fast compares stored checksums, and says so when the server keeps none', async () => {
    const s = await buildStore(new ChecksumBackend());
    expect(pairs((await run(s, { fast: true })).problems)).toEqual([]);
    const victim = s.chunks[0]!;
    await s.backend.delete(objectKey('chunks', victim));
    const other = bytes('other', 1000);
    await s.backend.put(objectKey('chunks', victim), other, { sha256: sha(other) });
    const fast = await run(s, { fast: true });
    expect(pairs(fast.problems)).toEqual([['HASH_MISMATCH', victim]]);
    expect(fast.problems[0]!.facts).toMatchObject({ actual: sha(other), storedChecksum: true });
    expect(fast.bytesChecked).toBe(fast.counts.storedBytes.meta); // no chunk was downloaded

    const plain = await buildStore();
    const none = await run(plain, { fast: true });
    expect(pairs(none.problems)).toEqual([['NO_STORED_CHECKSUM', null]]);
    expect(none.problems[0]).toMatchObject({ class: 'incomplete', facts: { objects: 3 } });
    expect(none.counts.verified.chunks).toBe(0);
  });
});

describe('interruption', () => {
  it('stops with INTERRUPTED when the signal fires', async () => {
    const s = await buildStore();
    await expect(run(s, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'INTERRUPTED' });
  });
});

describe('signed ref state', () => {
  it('a trusted, current snapshot that matches the refs is clean, and its refs are roots', async () => {
    const s = await buildStore();
    const { signer, trust } = key();
    await publishRefState(s.backend, { refs: { 'refs/heads/main': s.commit }, signers: [signer], now: new Date('2029-12-31T00:00:00Z') });
    const r = await run(s, { trustList: trust });
    expect(r.problems).toEqual([]);
    expect(r.refState).toEqual({ version: 1, expires: '2030-01-07T00:00:00Z', trusted: true });
  });

  it('a ref that disagrees with the snapshot is REFSTATE_MISMATCH; expiry, rollback, trust and garbage each have a code', async () => {
    const s = await buildStore();
    const { signer, trust } = key();
    await publishRefState(s.backend, { refs: { 'refs/heads/main': s.commit }, signers: [signer], now: new Date('2029-12-31T00:00:00Z') });
    const other = await commitOver(s.objects, s.tree, [s.commit]);
    const cur = await s.backend.getVersioned('refs/heads/main');
    await s.backend.putIfVersion('refs/heads/main', new TextEncoder().encode(`${other}\n`), cur!.version);

    const mixed = await run(s, { trustList: trust });
    expect(pairs(mixed.problems)).toEqual([['REFSTATE_MISMATCH', 'refs/heads/main']]);
    expect(mixed.problems[0]!.affected.refs).toEqual(['refs/heads/main']);
    expect(mixed.problems[0]!.facts).toMatchObject({ snapshot: s.commit, actual: other, version: 1 });

    const late = await run(s, { trustList: trust, now: () => new Date('2031-01-01T00:00:00Z') });
    expect(pairs(late.problems)).toContainEqual(['REFSTATE_EXPIRED', REFSTATE_KEY]);
    const rolled = await run(s, { trustList: trust, seen: { version: 3, digest: sha('x') } });
    expect(pairs(rolled.problems)).toContainEqual(['REFSTATE_ROLLBACK', REFSTATE_KEY]);
    const untrusted = await run(s, { signatureSeverity: 'error' });
    expect(untrusted.problems.find((p) => p.code === 'REFSTATE_UNTRUSTED')).toMatchObject({ severity: 'error' });
    expect(untrusted.refState?.trusted).toBe(false);

    const cur2 = await s.backend.getVersioned(REFSTATE_KEY);
    await s.backend.putIfVersion(REFSTATE_KEY, new TextEncoder().encode('{"not":"an envelope"}'), cur2!.version);
    expect(pairs((await run(s, { trustList: trust })).problems)).toEqual([['REFSTATE_INVALID', REFSTATE_KEY]]);
  });
});

describe('signatures', () => {
  it('a trusted tip that breaks the policy is POLICY_VIOLATION; unsigned history is one info problem', async () => {
    const s = await buildStore();
    const { signer, trust } = key();
    const tip = await commitOver(s.objects, s.tree, [s.commit]);
    const cur = await s.backend.getVersioned('refs/heads/main');
    await s.backend.putIfVersion('refs/heads/main', new TextEncoder().encode(`${tip}\n`), cur!.version);
    const tipBytes = await s.objects.readCommitBytes(tip);
    await s.backend.put(signatureKey(tip, signer.keyId), encodeEnvelope(signCommit(tipBytes, signer)));

    const plain = await run(s, { trustList: trust, signatureSeverity: 'error' });
    expect(pairs(plain.problems)).toEqual([['UNSIGNED_COMMIT', null]]);
    expect(plain.problems[0]).toMatchObject({ severity: 'info', affected: { commits: [s.commit], refs: ['refs/heads/main'] } });

    const strict = await run(s, { trustList: trust, signatureSeverity: 'error', policy: { ...defaultPolicy(), requireCleanCode: true } });
    expect(pairs(strict.problems, 'error')).toEqual([['POLICY_VIOLATION', tip]]);
    expect(strict.problems.find((p) => p.code === 'POLICY_VIOLATION')!.affected.refs).toEqual(['refs/heads/main']);
    // the same checks switched off: nothing about signatures at all
    expect(pairs((await run(s, { trustList: trust, signatureSeverity: 'off', policy: { ...defaultPolicy(), requireCleanCode: true } })).problems)).toEqual([]);
  });
});

describe('refs, keys, kinds, lineage', () => {
  it('reports bad refs, stray keys, wrong kinds, missing inputs and dangling signatures, and keeps going', async () => {
    const s = await buildStore();
    const enc = (t: string) => new TextEncoder().encode(t);
    await s.backend.putIfVersion('refs/heads/garbage', enc('not an id\n'), null);
    await s.backend.putIfVersion('refs/remotes/x', enc(`${s.commit}\n`), null);
    await s.backend.put('objects/chunks/ab/not-an-object', enc('x'));
    const manifestId = (await s.objects.readTree(s.tree)).entries.find((e) => e.name === 'big.bin') as { manifest: string };
    const badTree = await s.objects.putMeta(encodeTree({ type: 'tree', entries: [{ type: 'tree', name: 'dir', id: manifestId.manifest }] }));
    const lost = sha('an input nobody has');
    const withInput = await commitOver(s.objects, badTree, [s.commit], [{ commit: lost, path: 'data' }]);
    await s.backend.putIfVersion('refs/heads/lineage', enc(`${withInput}\n`), null);
    await s.backend.put(`objects/signatures/${sha('no such commit')}/${sha('k')}.dsse`, enc('{}'));

    const r = await run(s);
    expect(pairs(r.problems)).toEqual([
      ['BAD_REF', 'refs/heads/garbage'],
      ['BAD_REF', 'refs/remotes/x'],
      ['DANGLING_OBJECT', sha('no such commit')],
      ['MISSING_INPUT', lost],
      ['STRAY_KEY', 'objects/chunks/ab/not-an-object'],
      ['WRONG_KIND', manifestId.manifest],
    ]);
    const wrong = r.problems.find((p) => p.code === 'WRONG_KIND')!;
    expect(wrong).toMatchObject({ kind: 'tree', facts: { expected: 'tree', found: 'file manifest' } });
    expect(wrong.affected).toEqual({ commits: [withInput], refs: ['refs/heads/lineage'], paths: ['dir/'] });
    expect(r.problems.find((p) => p.code === 'MISSING_INPUT')!.severity).toBe('warning');
    expect(r.counts.commits).toBe(3);
  });

  it('caps the paths listed per problem and counts the rest', async () => {
    const backend = new MemoryBackend();
    const objects = new ObjectStore(backend);
    const lostChunk = sha('gone');
    const entries: TreeEntry[] = Array.from({ length: 1500 }, (_, i) => ({ type: 'file', name: `f${String(i).padStart(4, '0')}`, mode: 0o644, size: 4, digest: lostChunk }));
    const tree = await objects.putMeta(encodeTree({ type: 'tree', entries }));
    const commit = await commitOver(objects, tree);
    await backend.putIfVersion('refs/heads/main', new TextEncoder().encode(`${commit}\n`), null);
    const r = await run({ backend, objects, commit, tree, chunks: [] });
    expect(pairs(r.problems)).toEqual([['MISSING_OBJECT', lostChunk]]);
    const a = r.problems[0]!.affected;
    expect(a.paths).toHaveLength(1000);
    expect(a.more).toEqual({ paths: 500 });
    expect(a.paths[0]).toBe('f0000');
  });
});
