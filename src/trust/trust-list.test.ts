import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MlstoreError } from '../errors.js';
import { keyIdOf, publicKeyPem } from './keys.js';
import { parsePolicy, readPolicy } from './policy.js';
import {
  emptyTrustList,
  encodeTrustList,
  isExpired,
  parseTrustList,
  readTrustList,
  scopeAllows,
  trustFilePath,
  trustKey,
  untrustKey,
  writeTrustList,
} from './trust-list.js';

function newPem(): { id: string; pem: string } {
  const { publicKey } = generateKeyPairSync('ed25519');
  return { id: keyIdOf(publicKey), pem: publicKeyPem(publicKey) };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof MlstoreError ? e.code : `non-mlstore: ${String(e)}`;
  }
  return undefined;
}

const a = newPem();
const b = newPem();

describe('trust list', () => {
  it('trust/untrust produce stable sorted JSON that parses back', () => {
    let list = trustKey(emptyTrustList(), { publicKey: b.pem, name: 'bob', scope: ['refs/tags/*', 'refs/heads/main'] });
    list = trustKey(list, { publicKey: a.pem, name: 'alice', expires: '2027-01-01' });
    const text = encodeTrustList(list);
    expect(text.endsWith('}\n')).toBe(true);
    const parsed = parseTrustList(text);
    expect(parsed).toEqual(list);
    expect(encodeTrustList(parsed)).toBe(text);
    expect(parsed.keys.map((k) => k.id)).toEqual([a.id, b.id].sort());
    expect(parsed.keys.find((k) => k.id === b.id)!.scope).toEqual(['refs/heads/main', 'refs/tags/*']);
    expect(Object.keys(JSON.parse(text).keys[0])).toEqual([...Object.keys(JSON.parse(text).keys[0])].sort());
    // re-trusting replaces; untrust by name, id prefix
    expect(trustKey(list, { publicKey: a.pem, name: 'alice2' }).keys).toHaveLength(2);
    expect(untrustKey(list, 'alice').keys.map((k) => k.id)).toEqual([b.id]);
    expect(untrustKey(list, b.id.slice(0, 8)).keys.map((k) => k.id)).toEqual([a.id]);
    expect(codeOf(() => untrustKey(list, 'carol'))).toBe('NO_KEY');
  });

  it('rejects an id that is not the hash of its key, bad PEMs, duplicates, unknown fields, bad dates and scopes', () => {
    const entry = { id: a.id, name: 'alice', publicKey: a.pem };
    const doc = (keys: unknown[], extra: Record<string, unknown> = {}) => JSON.stringify({ version: 1, keys, ...extra });
    expect(codeOf(() => parseTrustList(doc([entry])))).toBeUndefined();
    expect(codeOf(() => parseTrustList(doc([{ ...entry, id: b.id }])))).toBe('BAD_CONFIG');
    expect(codeOf(() => parseTrustList(doc([{ ...entry, publicKey: 'junk' }])))).toBe('BAD_CONFIG');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(codeOf(() => parseTrustList(doc([{ ...entry, publicKey: rsa }])))).toBe('BAD_CONFIG');
    expect(codeOf(() => parseTrustList(doc([entry, entry])))).toBe('BAD_CONFIG');
    expect(codeOf(() => parseTrustList(doc([{ ...entry, color: 'red' }])))).toBe('BAD_CONFIG');
    expect(codeOf(() => parseTrustList(doc([entry], { extra: 1 })))).toBe('BAD_CONFIG');
    expect(codeOf(() => parseTrustList(doc([{ ...entry, expires: 'next year' }])))).toBe('BAD_CONFIG');
    expect(codeOf(() => parseTrustList(doc([{ ...entry, scope: ['main'] }])))).toBe('BAD_CONFIG');
    expect(codeOf(() => parseTrustList(doc([{ ...entry, scope: [] }])))).toBe('BAD_CONFIG');
    expect(codeOf(() => parseTrustList(JSON.stringify({ version: 2, keys: [] })))).toBe('BAD_CONFIG');
    expect(codeOf(() => parseTrustList('{'))).toBe('BAD_CONFIG');
  });

  it('scope patterns and expiry', () => {
    expect(scopeAllows(undefined, 'refs/heads/anything')).toBe(true);
    expect(scopeAllows(['refs/heads/main'], 'refs/heads/main')).toBe(true);
    expect(scopeAllows(['refs/heads/main'], 'refs/heads/main2')).toBe(false);
    expect(scopeAllows(['refs/tags/*'], 'refs/tags/v1/rc')).toBe(true);
    expect(scopeAllows(['refs/heads/release/*'], 'refs/heads/releaseX')).toBe(false);
    expect(isExpired({ expires: '2026-01-01' }, new Date('2025-12-31T23:59:59Z'))).toBe(false);
    expect(isExpired({ expires: '2026-01-01' }, new Date('2026-01-01T00:00:00Z'))).toBe(true);
    expect(isExpired({}, new Date('2999-01-01T00:00:00Z'))).toBe(false);
  });

  it('file path: flag, then MLSTORE_TRUST_FILE, then the repo root; read/write; missing file = empty', async () => {
    expect(trustFilePath({ vars: { MLSTORE_TRUST_FILE: '/ci/trust.json' } }, '/repo', '/flag.json')).toBe('/flag.json');
    expect(trustFilePath({ vars: { MLSTORE_TRUST_FILE: '/ci/trust.json' } }, '/repo')).toBe('/ci/trust.json');
    expect(trustFilePath({ vars: {} }, '/repo')).toBe('/repo/mlstore-trust.json');
    const dir = mkdtempSync(join(tmpdir(), 'mlstore-trust-'));
    try {
      const path = join(dir, 'mlstore-trust.json');
      expect(await readTrustList(path)).toEqual(emptyTrustList());
      const list = trustKey(emptyTrustList(), { publicKey: a.pem, name: 'alice' });
      await writeTrustList(path, list);
      expect(readFileSync(path, 'utf8')).toBe(encodeTrustList(list));
      expect(await readTrustList(path)).toEqual(list);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('policy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlstore-policy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fills defaults and validates every field', async () => {
    expect(parsePolicy('{}')).toEqual({ threshold: 1, requireCleanCode: false, requiredEnvironment: [], requireSignedInputs: false });
    expect(parsePolicy('{"threshold":2,"requireCleanCode":true,"requiredEnvironment":["os","file:requirements.txt","os"],"requireSignedInputs":true}')).toEqual({
      threshold: 2,
      requireCleanCode: true,
      requiredEnvironment: ['file:requirements.txt', 'os'],
      requireSignedInputs: true,
    });
    for (const bad of ['[]', '{"threshold":0}', '{"threshold":1.5}', '{"requireCleanCode":"yes"}', '{"requiredEnvironment":"os"}', '{"treshold":2}', 'nope']) {
      expect(codeOf(() => parsePolicy(bad)), bad).toBe('BAD_CONFIG');
    }
    const path = join(dir, 'policy.json');
    writeFileSync(path, '{"threshold":3}');
    expect((await readPolicy(path)).threshold).toBe(3);
    await expect(readPolicy(join(dir, 'absent.json'))).rejects.toMatchObject({ code: 'BAD_CONFIG' });
  });
});
