import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../core/digest.js';
import { MlstoreError } from '../errors.js';
import { encodeCommit, environmentDigest, type Commit } from '../model/commit.js';
import { ed25519Signer, encodeEnvelope, fromBase64, INTOTO_PAYLOAD_TYPE, pae, parseEnvelope, payloadBytes, signEnvelope, toBase64 } from './dsse.js';
import { buildStatement, signAttestation, verifyAttestation, SLSA_PROVENANCE_V1, STATEMENT_TYPE } from './attest.js';
import { keyIdOf, publicKeyPem } from './keys.js';
import { emptyTrustList, trustKey } from './trust-list.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const keyId = keyIdOf(publicKey);
const signer = ed25519Signer(keyId, privateKey);
const trustList = trustKey(emptyTrustList(), { publicKey: publicKeyPem(publicKey), name: 'ci' });

const components = { os: 'linux', 'file:requirements.txt': 'e'.repeat(64) };
const INPUT = 'f'.repeat(64);
const commit: Commit = {
  type: 'commit',
  tree: 'a'.repeat(64),
  parents: [],
  author: { name: 'CI', email: 'ci@example.com' },
  time: '2026-05-01T12:00:00Z',
  message: 'model v3',
  code: { commit: '1'.repeat(40), dirty: false, diff: null },
  environment: { digest: environmentDigest(components), components },
  inputs: [{ commit: INPUT, path: 'data/train' }],
};
const commitId = sha256Hex(encodeCommit(commit));
const files = [
  { path: 'model/weights.bin', digest: sha256Hex('weights') },
  { path: 'model/config.json', digest: sha256Hex('{}') },
];

describe('in-toto statement with SLSA provenance', () => {
  it('names the files as subjects and code, inputs and environment as resolved dependencies', () => {
    const st = buildStatement({ commitId, commit, files, codeRepository: 'git+https://github.com/org/repo', storeUri: 's3://bucket/ml' });
    expect(st._type).toBe(STATEMENT_TYPE);
    expect(st.predicateType).toBe(SLSA_PROVENANCE_V1);
    expect(st.subject).toEqual([
      { name: 'model/config.json', digest: { sha256: sha256Hex('{}') } },
      { name: 'model/weights.bin', digest: { sha256: sha256Hex('weights') } },
    ]);
    const deps = st.predicate.buildDefinition.resolvedDependencies;
    expect(deps[0]).toEqual({ name: 'code', uri: `git+https://github.com/org/repo@${'1'.repeat(40)}`, digest: { gitCommit: '1'.repeat(40) }, annotations: { dirty: false } });
    expect(deps).toContainEqual({ name: 'input:data/train', uri: `s3://bucket/ml#${INPUT}`, digest: { sha256: INPUT }, annotations: { path: 'data/train' } });
    expect(deps).toContainEqual(expect.objectContaining({ name: 'environment', digest: { sha256: commit.environment.digest } }));
    expect(deps).toContainEqual(expect.objectContaining({ name: 'environment:file:requirements.txt', digest: { sha256: 'e'.repeat(64) } }));
    expect(deps).toContainEqual(expect.objectContaining({ name: 'environment:os', annotations: { value: 'linux' } }));
    expect(st.predicate.buildDefinition.externalParameters['commit']).toBe(commitId);
    expect(st.predicate.runDetails.metadata.invocationId).toBe(`s3://bucket/ml#${commitId}`);
    expect(() => buildStatement({ commitId, commit, files: [{ path: 'x', digest: 'nope' }] })).toThrow(MlstoreError);
  });

  it('signs with the in-toto payload type and verifies against the trust list', () => {
    const env = signAttestation(buildStatement({ commitId, commit, files }), [signer]);
    expect(env.payloadType).toBe(INTOTO_PAYLOAD_TYPE);
    const v = verifyAttestation(encodeEnvelope(env), trustList, NOW);
    expect(v.signers).toEqual([keyId]);
    expect(v.statement.subject).toHaveLength(2);
  });

  it('negative: tampered statement, untrusted key, wrong payload type, expired key, truncated envelope', () => {
    const st = buildStatement({ commitId, commit, files });
    const env = signAttestation(st, [signer]);
    const evil = { ...st, subject: [{ name: 'model/weights.bin', digest: { sha256: sha256Hex('backdoor') } }] };
    const tampered = { ...env, payload: toBase64(new TextEncoder().encode(JSON.stringify(evil))) };
    expect(() => verifyAttestation(tampered, trustList, NOW)).toThrow(expect.objectContaining({ code: 'BAD_SIGNATURE' }));
    expect(() => verifyAttestation(env, emptyTrustList(), NOW)).toThrow(expect.objectContaining({ code: 'UNTRUSTED_SIGNER' }));
    const wrongType = signEnvelope('application/json', payloadBytes(env), [signer]);
    expect(() => verifyAttestation(wrongType, trustList, NOW)).toThrow(expect.objectContaining({ code: 'BAD_SIGNATURE' }));
    const expired = trustKey(emptyTrustList(), { publicKey: publicKeyPem(publicKey), name: 'ci', expires: '2026-01-01' });
    expect(() => verifyAttestation(env, expired, NOW)).toThrow(expect.objectContaining({ code: 'UNTRUSTED_SIGNER' }));
    expect(() => verifyAttestation(encodeEnvelope(env).subarray(0, 100), trustList, NOW)).toThrow(expect.objectContaining({ code: 'BAD_SIGNATURE' }));
  });
});

describe('stock OpenSSL verifies the attestation signature', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlstore-attest-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('openssl pkeyutl -verify -rawin over PAE(application/vnd.in-toto+json, statement)', () => {
    const env = parseEnvelope(encodeEnvelope(signAttestation(buildStatement({ commitId, commit, files }), [signer])));
    const payload = payloadBytes(env);
    writeFileSync(join(dir, 'pae.bin'), pae(env.payloadType, payload));
    writeFileSync(join(dir, 'sig.bin'), fromBase64(env.signatures[0]!.sig, 'sig'));
    writeFileSync(join(dir, 'pub.pem'), publicKeyPem(publicKey));
    const out = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'pub.pem', '-rawin', '-in', 'pae.bin', '-sigfile', 'sig.bin'], { cwd: dir, encoding: 'utf8' });
    expect(out).toContain('Signature Verified Successfully');
    // the PAE prefix is what the docs tell people to build by hand with printf
    expect(new TextDecoder().decode(pae(env.payloadType, payload)).startsWith(`DSSEv1 28 application/vnd.in-toto+json ${payload.length} {`)).toBe(true);
  });
});
