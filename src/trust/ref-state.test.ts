import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MlstoreError } from '../errors.js';
import { decodeRefState, encodeRefState, type RefState } from '../model/ref-state.js';
import type { Backend, Versioned } from '../storage/backend.js';
import { ed25519Signer, encodeEnvelope, signEnvelope, toBase64, type Envelope } from './dsse.js';
import { keyIdOf, publicKeyPem } from './keys.js';
import {
  assertRefsConsistent,
  checkRefUpdate,
  fetchRefState,
  nextRefState,
  publishRefState,
  readRefStateEnvelope,
  readSeen,
  recordSeen,
  refMismatches,
  signRefState,
  verifyRefState,
} from './ref-state.js';
import { emptyTrustList, trustKey, type TrustList } from './trust-list.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const X = 'a'.repeat(64);
const Y = 'b'.repeat(64);
const Z = 'c'.repeat(64);

function newKey() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const id = keyIdOf(publicKey);
  return { id, pem: publicKeyPem(publicKey), signer: ed25519Signer(id, privateKey) };
}
const alice = newKey();
const mallory = newKey();
const trustList: TrustList = trustKey(emptyTrustList(), { publicKey: alice.pem, name: 'alice' });

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof MlstoreError ? e.code : `non-mlstore: ${String(e)}`;
  }
  return undefined;
}
async function codeOfAsync(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return e instanceof MlstoreError ? e.code : `non-mlstore: ${String(e)}`;
  }
  return undefined;
}

function state(version: number, refs: Record<string, string>, expires = '2026-06-08T00:00:00Z'): RefState {
  return { type: 'refstate', version, expires, refs };
}

/** A minimal in-memory Backend for the mutable-document part of the contract. */
function memoryBackend(location = 'mem://remote'): Backend & { docs: Map<string, Versioned> } {
  const docs = new Map<string, Versioned>();
  let counter = 0;
  const unsupported = () => {
    throw new Error('not used in these tests');
  };
  return {
    location,
    docs,
    capabilities: async () => ({ atomicCompareAndSwap: true, storedChecksums: false }),
    get: unsupported,
    put: unsupported,
    stat: unsupported,
    list: unsupported,
    delete: async (k) => void docs.delete(k),
    getVersioned: async (k) => docs.get(k),
    putIfVersion: async (k, bytes, expected) => {
      const cur = docs.get(k);
      if ((cur?.version ?? null) !== expected) return false;
      docs.set(k, { bytes, version: String(++counter) });
      return true;
    },
    flush: async () => {},
    close: async () => {},
  };
}

describe('model: ref state codec', () => {
  it('round-trips canonically and rejects bad names, ids and versions', () => {
    const s = state(3, { 'refs/heads/main': X, 'refs/tags/v1': Y });
    const bytes = encodeRefState(s);
    expect(new TextDecoder().decode(bytes)).toBe(`{"expires":"2026-06-08T00:00:00Z","refs":{"refs/heads/main":"${X}","refs/tags/v1":"${Y}"},"type":"refstate","version":3}`);
    expect(decodeRefState(bytes)).toEqual(s);
    expect(codeOf(() => encodeRefState(state(0, {})))).toBe('CORRUPT_OBJECT');
    expect(codeOf(() => encodeRefState(state(1, { HEAD: X })))).toBe('CORRUPT_OBJECT');
    expect(codeOf(() => encodeRefState(state(1, { 'refs/heads/main': 'nope' })))).toBe('CORRUPT_OBJECT');
    expect(codeOf(() => encodeRefState(state(1, {}, '2026-06-08')))).toBe('CORRUPT_OBJECT');
  });
});

describe('nextRefState', () => {
  it('increments the version, sorts refs, sets expiry from the clock', () => {
    const s1 = nextRefState(undefined, { 'refs/tags/v1': Y, 'refs/heads/main': X }, { now: NOW, ttlSeconds: 3600 });
    expect(s1.version).toBe(1);
    expect(Object.keys(s1.refs)).toEqual(['refs/heads/main', 'refs/tags/v1']);
    expect(s1.expires).toBe('2026-06-01T01:00:00Z');
    expect(nextRefState(s1, {}, { now: NOW }).version).toBe(2);
    expect(nextRefState(s1, {}, { now: NOW, minVersion: 10 }).version).toBe(11);
  });
});

describe('verifyRefState', () => {
  const s5 = state(5, { 'refs/heads/main': X });
  const env5 = signRefState(s5, [alice.signer]);
  const digest5 = verifyRefState({ envelope: env5, trustList, now: NOW }).digest;

  it('accepts a fresh, trusted, newer-or-equal snapshot', () => {
    const v = verifyRefState({ envelope: encodeEnvelope(env5), trustList, now: NOW, seen: { version: 4, digest: 'x' } });
    expect(v.state).toEqual(s5);
    expect(v.signers).toEqual([alice.id]);
    expect(verifyRefState({ envelope: env5, trustList, now: NOW, seen: { version: 5, digest: digest5 } }).state.version).toBe(5);
  });

  it('rolled back: a lower version than seen is ROLLBACK', () => {
    expect(codeOf(() => verifyRefState({ envelope: env5, trustList, now: NOW, seen: { version: 6, digest: 'x' } }))).toBe('ROLLBACK');
  });

  it('same version, different content is ROLLBACK', () => {
    const other = signRefState(state(5, { 'refs/heads/main': Y }), [alice.signer]);
    expect(codeOf(() => verifyRefState({ envelope: other, trustList, now: NOW, seen: { version: 5, digest: digest5 } }))).toBe('ROLLBACK');
  });

  it('expired (frozen remote) is EXPIRED, at and after the instant', () => {
    const env = signRefState(state(6, {}, '2026-06-01T00:00:00Z'), [alice.signer]);
    expect(codeOf(() => verifyRefState({ envelope: env, trustList, now: NOW }))).toBe('EXPIRED');
    expect(codeOf(() => verifyRefState({ envelope: env, trustList, now: new Date('2026-05-31T23:59:59Z') }))).toBeUndefined();
  });

  it('untrusted signer, tampered payload, wrong payload type, malformed envelope', () => {
    expect(codeOf(() => verifyRefState({ envelope: signRefState(s5, [mallory.signer]), trustList, now: NOW }))).toBe('UNTRUSTED_SIGNER');
    const tampered: Envelope = { ...env5, payload: toBase64(encodeRefState(state(5, { 'refs/heads/main': Z }))) };
    expect(codeOf(() => verifyRefState({ envelope: tampered, trustList, now: NOW }))).toBe('BAD_SIGNATURE');
    const wrongType = signEnvelope('application/vnd.mlstore.commit+json; version=1', encodeRefState(s5), [alice.signer]);
    expect(codeOf(() => verifyRefState({ envelope: wrongType, trustList, now: NOW }))).toBe('BAD_SIGNATURE');
    const bytes = encodeEnvelope(env5);
    expect(codeOf(() => verifyRefState({ envelope: bytes.subarray(0, 40), trustList, now: NOW }))).toBe('BAD_SIGNATURE');
  });

  it('a key scoped to some refs cannot sign a snapshot holding others', () => {
    const scoped = trustKey(emptyTrustList(), { publicKey: alice.pem, name: 'alice', scope: ['refs/heads/dev'] });
    expect(codeOf(() => verifyRefState({ envelope: env5, trustList: scoped, now: NOW }))).toBe('UNTRUSTED_SIGNER');
  });
});

describe('mixed refs', () => {
  it('ref files that disagree with the snapshot are TAMPERED, with every mismatch listed', () => {
    const s = state(2, { 'refs/heads/main': X, 'refs/tags/v1': Y });
    expect(codeOf(() => assertRefsConsistent(s, { 'refs/heads/main': X, 'refs/tags/v1': Y }))).toBeUndefined();
    expect(codeOf(() => assertRefsConsistent(s, { 'refs/heads/main': Z, 'refs/tags/v1': Y }))).toBe('TAMPERED');
    expect(refMismatches(s, { 'refs/heads/main': X, 'refs/heads/extra': Z })).toEqual([
      { ref: 'refs/heads/extra', snapshot: null, actual: Z },
      { ref: 'refs/tags/v1', snapshot: Y, actual: null },
    ]);
  });
});

describe('checkRefUpdate', () => {
  const parents: Record<string, string[]> = { [Y]: [X], [Z]: [] };
  const isAncestor = async (a: string, d: string): Promise<boolean> => {
    const stack = [d];
    while (stack.length) {
      const c = stack.pop()!;
      if (c === a) return true;
      stack.push(...(parents[c] ?? []));
    }
    return false;
  };
  it('allows create, no-op and fast-forward; refuses non-fast-forward and tag moves unless forced', async () => {
    expect(await checkRefUpdate({ refName: 'refs/heads/main', oldId: undefined, newId: X, isAncestor })).toBe('create');
    expect(await checkRefUpdate({ refName: 'refs/heads/main', oldId: X, newId: X, isAncestor })).toBe('unchanged');
    expect(await checkRefUpdate({ refName: 'refs/heads/main', oldId: X, newId: Y, isAncestor })).toBe('fast-forward');
    expect(await codeOfAsync(checkRefUpdate({ refName: 'refs/heads/main', oldId: Y, newId: Z, isAncestor }))).toBe('NOT_FAST_FORWARD');
    expect(await checkRefUpdate({ refName: 'refs/heads/main', oldId: Y, newId: Z, force: true, isAncestor })).toBe('forced');
    expect(await codeOfAsync(checkRefUpdate({ refName: 'refs/tags/v1', oldId: X, newId: Y, isAncestor }))).toBe('NOT_FAST_FORWARD');
    expect(await checkRefUpdate({ refName: 'refs/tags/v1', oldId: X, newId: Y, force: true, isAncestor })).toBe('forced');
  });
});

describe('store: publish, fetch, remember', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlstore-refstate-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('publishes increasing versions with compare-and-swap and fetches them with rollback protection', async () => {
    const remote = memoryBackend();
    const seenPath = join(dir, '.mlstore', 'refstate-seen.json');
    const p1 = await publishRefState(remote, { refs: { 'refs/heads/main': X }, signers: [alice.signer], now: NOW });
    expect(p1.state.version).toBe(1);
    const old = remote.docs.get('refstate.json')!;
    const p2 = await publishRefState(remote, { refs: { 'refs/heads/main': Y }, signers: [alice.signer], now: NOW });
    expect(p2.state.version).toBe(2);

    const v = await fetchRefState(remote, { trustList, now: NOW, seenPath, refs: { 'refs/heads/main': Y } });
    expect(v.state.version).toBe(2);
    expect(await readSeen(seenPath, remote.location)).toEqual({ version: 2, digest: p2.digest });

    // the remote is rolled back to the older (validly signed) snapshot
    remote.docs.set('refstate.json', { ...old, version: '99' });
    expect(await codeOfAsync(fetchRefState(remote, { trustList, now: NOW, seenPath }))).toBe('ROLLBACK');
    // a different remote location has its own memory
    const other = memoryBackend('mem://other');
    other.docs.set('refstate.json', old);
    expect((await fetchRefState(other, { trustList, now: NOW, seenPath })).state.version).toBe(1);
    expect(JSON.parse(readFileSync(seenPath, 'utf8'))).toEqual({ 'mem://other': { version: 1, digest: p1.digest }, 'mem://remote': { version: 2, digest: p2.digest } });
  });

  it('mixed refs on fetch are TAMPERED and not remembered', async () => {
    const remote = memoryBackend('mem://mixed');
    const seenPath = join(dir, 'seen-mixed.json');
    await publishRefState(remote, { refs: { 'refs/heads/main': X, 'refs/tags/v1': Y }, signers: [alice.signer], now: NOW });
    expect(await codeOfAsync(fetchRefState(remote, { trustList, now: NOW, seenPath, refs: { 'refs/heads/main': Z, 'refs/tags/v1': Y } }))).toBe('TAMPERED');
    expect(await readSeen(seenPath, remote.location)).toBeUndefined();
  });

  it('a lost compare-and-swap race is REF_CONFLICT; a remote with no snapshot is MISSING_OBJECT', async () => {
    const remote = memoryBackend('mem://race');
    await publishRefState(remote, { refs: {}, signers: [alice.signer], now: NOW });
    const realPut = remote.putIfVersion.bind(remote);
    remote.putIfVersion = async (k, b) => realPut(k, b, 'stale');
    expect(await codeOfAsync(publishRefState(remote, { refs: {}, signers: [alice.signer], now: NOW }))).toBe('REF_CONFLICT');
    expect(await readRefStateEnvelope(memoryBackend())).toBeUndefined();
    expect(await codeOfAsync(fetchRefState(memoryBackend(), { trustList, now: NOW, seenPath: join(dir, 's.json') }))).toBe('MISSING_OBJECT');
  });

  it('recordSeen never lowers a version', async () => {
    const p = join(dir, 'seen-mono.json');
    await recordSeen(p, 'x', { version: 5, digest: 'd5' });
    await recordSeen(p, 'x', { version: 3, digest: 'd3' });
    expect(await readSeen(p, 'x')).toEqual({ version: 5, digest: 'd5' });
  });
});
