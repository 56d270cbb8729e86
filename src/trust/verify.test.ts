import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../core/digest.js';
import { encodeCommit, environmentDigest, type Commit } from '../model/commit.js';
import { COMMIT_PAYLOAD_TYPE, ed25519Signer, encodeEnvelope, signCommit, signEnvelope, toBase64, type Envelope, type Signer } from './dsse.js';
import { keyIdOf, publicKeyPem } from './keys.js';
import { defaultPolicy, type Policy } from './policy.js';
import { emptyTrustList, trustKey, type TrustList } from './trust-list.js';
import { assertVerified, verifyCommit, verifyCommitTree, type Decision } from './verify.js';

const NOW = new Date('2026-06-01T00:00:00Z');
const A = 'a'.repeat(64);

function newKey(name: string) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const id = keyIdOf(publicKey);
  return { id, name, pem: publicKeyPem(publicKey), signer: ed25519Signer(id, privateKey) as Signer };
}

function makeCommit(over: Partial<Commit> = {}): { id: string; bytes: Uint8Array; commit: Commit } {
  const components = { os: 'linux', arch: 'x86_64', 'file:requirements.txt': 'b'.repeat(64) };
  const commit: Commit = {
    type: 'commit',
    tree: A,
    parents: [],
    author: { name: 'Ada', email: 'ada@example.com' },
    time: '2026-05-01T12:00:00Z',
    message: 'train split v1',
    code: { commit: 'c'.repeat(40), dirty: false, diff: null },
    environment: { digest: environmentDigest(components), components },
    inputs: [],
    ...over,
  };
  const bytes = encodeCommit(commit);
  return { id: sha256Hex(bytes), bytes, commit };
}

const alice = newKey('alice');
const bob = newKey('bob');
const mallory = newKey('mallory');

function trust(...entries: { pem: string; name: string; expires?: string; scope?: string[] }[]): TrustList {
  return entries.reduce((l, e) => trustKey(l, { publicKey: e.pem, name: e.name, ...(e.expires ? { expires: e.expires } : {}), ...(e.scope ? { scope: e.scope } : {}) }), emptyTrustList());
}

function policy(over: Partial<Policy> = {}): Policy {
  return { ...defaultPolicy(), ...over };
}

function run(c: ReturnType<typeof makeCommit>, envelopes: (Uint8Array | Envelope)[], trustList: TrustList, p: Policy = policy(), refName?: string): Decision {
  return verifyCommit({ commitId: c.id, commitBytes: c.bytes, envelopes, trustList, policy: p, now: NOW, ...(refName ? { refName } : {}) });
}

function failed(d: Decision): string[] {
  return d.checks.filter((c) => !c.ok).map((c) => c.check);
}

describe('verifyCommit: positive', () => {
  it('a commit signed by a trusted key passes, with a decision listing every check', () => {
    const c = makeCommit();
    const d = run(c, [encodeEnvelope(signCommit(c.bytes, alice.signer))], trust(alice));
    expect(d.ok).toBe(true);
    expect(d.code).toBeUndefined();
    expect(d.trustedSigners).toEqual([alice.id]);
    expect(d.signers).toEqual([{ keyId: alice.id, name: 'alice', envelope: 0, counted: true, reason: expect.any(String) }]);
    expect(d.checks.map((x) => x.check)).toEqual(['commit-id', 'commit-format', 'envelope', 'payload-type', 'payload-digest', 'key-id', 'signature', 'trusted', 'expiry', 'threshold']);
    expect(d.checks.every((x) => x.ok && x.reason.length > 0)).toBe(true);
    expect(JSON.parse(JSON.stringify(d))).toEqual(d); // the decision is plain JSON for OPA
    expect(() => assertVerified(d)).not.toThrow();
  });

  it('two distinct trusted keys meet threshold 2; an unknown co-signer is reported but harmless', () => {
    const c = makeCommit();
    const envs = [alice, bob, mallory].map((k) => signCommit(c.bytes, k.signer));
    const d = run(c, envs, trust(alice, bob), policy({ threshold: 2 }));
    expect(d.ok).toBe(true);
    expect(d.trustedSigners).toEqual([alice.id, bob.id].sort());
    expect(d.checks.find((x) => x.check === 'trusted' && !x.ok)?.keyId).toBe(mallory.id);
  });

  it('a signature without keyid is matched against the trusted keys', () => {
    const c = makeCommit();
    const env = signCommit(c.bytes, alice.signer);
    const d = run(c, [{ ...env, signatures: [{ keyid: '', sig: env.signatures[0]!.sig }] }], trust(alice));
    expect(d.ok).toBe(true);
  });

  it('clean code, required environment (name and name=value) and scope satisfied', () => {
    const c = makeCommit();
    const p = policy({ requireCleanCode: true, requiredEnvironment: ['os', 'arch=x86_64', 'file:requirements.txt'] });
    const d = run(c, [signCommit(c.bytes, alice.signer)], trust({ ...alice, scope: ['refs/heads/main', 'refs/tags/*'] }), p, 'refs/tags/v1');
    expect(d.ok).toBe(true);
    expect(d.checks.filter((x) => x.check === 'environment')).toHaveLength(3);
  });
});

describe('verifyCommit: every check has a case that must fail', () => {
  it('tampered payload (signature no longer verifies)', () => {
    const c = makeCommit();
    const env = signCommit(c.bytes, alice.signer);
    // keep the claimed payload equal to the commit but corrupt the signature bits…
    const sig = Buffer.from(env.signatures[0]!.sig, 'base64');
    sig[5]! ^= 0x01;
    const d1 = run(c, [{ ...env, signatures: [{ keyid: alice.id, sig: sig.toString('base64') }] }], trust(alice));
    expect(d1.ok).toBe(false);
    expect(failed(d1)).toContain('signature');
    expect(d1.code).toBe('BAD_SIGNATURE');
    // …and a tampered commit whose stored bytes were changed along with the envelope payload
    const evil = makeCommit({ message: 'train split v1 (poisoned)' });
    const forged = { ...env, payload: toBase64(evil.bytes) };
    const d2 = run(evil, [forged], trust(alice));
    expect(d2.ok).toBe(false);
    expect(failed(d2)).toContain('signature');
    expect(d2.code).toBe('BAD_SIGNATURE');
  });

  it('commit bytes that do not hash to the id', () => {
    const c = makeCommit();
    const d = verifyCommit({ commitId: A, commitBytes: c.bytes, envelopes: [signCommit(c.bytes, alice.signer)], trustList: trust(alice), policy: policy(), now: NOW });
    expect(d.ok).toBe(false);
    expect(failed(d)).toEqual(expect.arrayContaining(['commit-id', 'payload-digest']));
  });

  it('valid signature from an untrusted key', () => {
    const c = makeCommit();
    const d = run(c, [signCommit(c.bytes, mallory.signer)], trust(alice));
    expect(d.ok).toBe(false);
    expect(failed(d)).toEqual(['trusted', 'threshold']);
    expect(d.code).toBe('UNTRUSTED_SIGNER');
    expect(d.trustedSigners).toEqual([]);
  });

  it('unsigned commit', () => {
    const c = makeCommit();
    const d = run(c, [], trust(alice));
    expect(d.ok).toBe(false);
    expect(failed(d)).toEqual(['threshold']);
  });

  it('right key, wrong payload type', () => {
    const c = makeCommit();
    const env = signEnvelope('application/vnd.in-toto+json', c.bytes, [alice.signer]);
    const d = run(c, [env], trust(alice));
    expect(d.ok).toBe(false);
    expect(failed(d)).toEqual(['payload-type', 'threshold']);
    expect(d.code).toBe('BAD_SIGNATURE');
    // relabelling the type without re-signing breaks the signature instead
    const relabelled = { ...env, payloadType: COMMIT_PAYLOAD_TYPE };
    expect(failed(run(c, [relabelled], trust(alice)))).toContain('signature');
  });

  it('a signature copied from another commit', () => {
    const c1 = makeCommit({ message: 'one' });
    const c2 = makeCommit({ message: 'two' });
    const d = run(c2, [signCommit(c1.bytes, alice.signer)], trust(alice));
    expect(d.ok).toBe(false);
    expect(failed(d)).toEqual(['payload-digest', 'threshold']);
    expect(d.checks.find((x) => x.check === 'payload-digest')!.reason).toContain(c1.id);
  });

  it('expired key', () => {
    const c = makeCommit();
    const d = run(c, [signCommit(c.bytes, alice.signer)], trust({ ...alice, expires: '2026-05-31T23:59:59Z' }));
    expect(d.ok).toBe(false);
    expect(failed(d)).toEqual(['expiry', 'threshold']);
    expect(d.code).toBe('EXPIRED');
    expect(run(c, [signCommit(c.bytes, alice.signer)], trust({ ...alice, expires: '2026-06-01T00:00:01Z' })).ok).toBe(true);
  });

  it('out-of-scope key', () => {
    const c = makeCommit();
    const t = trust({ ...alice, scope: ['refs/heads/dev'] });
    const d = run(c, [signCommit(c.bytes, alice.signer)], t, policy(), 'refs/heads/main');
    expect(d.ok).toBe(false);
    expect(failed(d)).toEqual(['scope', 'threshold']);
    expect(d.code).toBe('UNTRUSTED_SIGNER');
    expect(run(c, [signCommit(c.bytes, alice.signer)], t, policy(), 'refs/heads/dev').ok).toBe(true);
  });

  it('threshold not met: two signatures from the SAME key count once', () => {
    const c = makeCommit();
    const one = signCommit(c.bytes, alice.signer);
    const twice = signEnvelope(COMMIT_PAYLOAD_TYPE, c.bytes, [alice.signer, alice.signer]);
    const d = run(c, [one, one, twice], trust(alice, bob), policy({ threshold: 2 }));
    expect(d.ok).toBe(false);
    expect(d.signers.filter((s) => s.counted)).toHaveLength(4);
    expect(d.trustedSigners).toEqual([alice.id]);
    expect(failed(d)).toEqual(['threshold']);
    expect(d.checks.find((x) => x.check === 'threshold')!.reason).toMatch(/^1 distinct trusted signer\(s\), 2 required/);
  });

  it('dirty code when the policy requires clean code, and no recorded code at all', () => {
    const dirty = makeCommit({ code: { commit: 'c'.repeat(40), dirty: true, diff: 'd'.repeat(64) } });
    const d = run(dirty, [signCommit(dirty.bytes, alice.signer)], trust(alice), policy({ requireCleanCode: true }));
    expect(d.ok).toBe(false);
    expect(failed(d)).toEqual(['clean-code']);
    expect(d.code).toBe('POLICY_VIOLATION');
    expect(run(dirty, [signCommit(dirty.bytes, alice.signer)], trust(alice)).ok).toBe(true); // policy off
    const none = makeCommit({ code: { commit: null, dirty: false, diff: null } });
    expect(failed(run(none, [signCommit(none.bytes, alice.signer)], trust(alice), policy({ requireCleanCode: true })))).toEqual(['clean-code']);
  });

  it('required environment component missing or with another value', () => {
    const c = makeCommit();
    const d = run(c, [signCommit(c.bytes, alice.signer)], trust(alice), policy({ requiredEnvironment: ['file:Dockerfile', 'arch=arm64', 'os'] }));
    expect(d.ok).toBe(false);
    expect(d.checks.filter((x) => x.check === 'environment').map((x) => x.ok)).toEqual([false, false, true]);
  });

  it('malformed and truncated envelopes fail the decision with BAD_SIGNATURE', () => {
    const c = makeCommit();
    const good = encodeEnvelope(signCommit(c.bytes, alice.signer));
    const d = run(c, [good, good.subarray(0, good.length - 20), new TextEncoder().encode('{"payloadType":1}')], trust(alice));
    expect(d.ok).toBe(false);
    expect(d.checks.filter((x) => x.check === 'envelope' && !x.ok).map((x) => x.envelope)).toEqual([1, 2]);
    expect(d.code).toBe('BAD_SIGNATURE');
  });

  it('a trust list entry whose id is not its key', () => {
    const c = makeCommit();
    const forged: TrustList = { version: 1, keys: [{ id: alice.id, name: 'alice', publicKey: bob.pem }] };
    const d = run(c, [signCommit(c.bytes, alice.signer)], forged);
    expect(failed(d)).toEqual(['key-id', 'threshold']);
  });

  it('assertVerified throws the decision code with the decision in details', () => {
    const c = makeCommit();
    const d = run(c, [signCommit(c.bytes, mallory.signer)], trust(alice));
    expect(() => assertVerified(d)).toThrow(expect.objectContaining({ code: 'UNTRUSTED_SIGNER', details: { decision: d } }));
  });
});

describe('verifyCommitTree: signed inputs, transitively', () => {
  function store(entries: { c: ReturnType<typeof makeCommit>; envs: Envelope[] }[]) {
    const commits = new Map(entries.map((e) => [e.c.id, e]));
    return {
      loadCommit: async (id: string) => {
        const e = commits.get(id);
        if (!e) throw Object.assign(new Error(`missing ${id}`), {});
        return e.c.bytes;
      },
      loadEnvelopes: async (id: string) => commits.get(id)?.envs ?? [],
    };
  }

  const raw = makeCommit({ message: 'raw data' });
  const unsignedRaw = makeCommit({ message: 'raw data, unsigned' });
  const features = makeCommit({ message: 'features', inputs: [{ commit: raw.id, path: 'raw/' }] });
  const badFeatures = makeCommit({ message: 'features from unsigned', inputs: [{ commit: unsignedRaw.id }] });

  it('passes when every input is signed all the way down', async () => {
    const model = makeCommit({ message: 'model', inputs: [{ commit: features.id }] });
    const s = store([
      { c: raw, envs: [signCommit(raw.bytes, alice.signer)] },
      { c: features, envs: [signCommit(features.bytes, bob.signer)] },
      { c: model, envs: [signCommit(model.bytes, alice.signer)] },
    ]);
    const d = await verifyCommitTree({ commitId: model.id, trustList: trust(alice, bob), policy: policy({ requireSignedInputs: true }), now: NOW, ...s });
    expect(d.ok).toBe(true);
    expect(Object.keys(d.inputs).sort()).toEqual([raw.id, features.id].sort());
  });

  it('fails when an input two levels down is unsigned', async () => {
    const model = makeCommit({ message: 'model2', inputs: [{ commit: badFeatures.id }] });
    const s = store([
      { c: unsignedRaw, envs: [] },
      { c: badFeatures, envs: [signCommit(badFeatures.bytes, alice.signer)] },
      { c: model, envs: [signCommit(model.bytes, alice.signer)] },
    ]);
    const d = await verifyCommitTree({ commitId: model.id, trustList: trust(alice), policy: policy({ requireSignedInputs: true }), now: NOW, ...s });
    expect(d.ok).toBe(false);
    expect(failed(d)).toEqual(['signed-inputs']);
    expect(d.code).toBe('POLICY_VIOLATION');
    expect(d.inputs[unsignedRaw.id]?.ok).toBe(false);
    expect(d.inputs[badFeatures.id]?.ok).toBe(false);
  });

  it('fails when an input is missing, and without the policy inputs are not walked', async () => {
    const model = makeCommit({ message: 'model3', inputs: [{ commit: A }] });
    const s = store([{ c: model, envs: [signCommit(model.bytes, alice.signer)] }]);
    const d = await verifyCommitTree({ commitId: model.id, trustList: trust(alice), policy: policy({ requireSignedInputs: true }), now: NOW, ...s });
    expect(d.ok).toBe(false);
    expect(d.inputs[A]?.reason).toContain('could not load');
    const d2 = await verifyCommitTree({ commitId: model.id, trustList: trust(alice), policy: policy(), now: NOW, ...s });
    expect(d2.ok).toBe(true);
    expect(d2.inputs).toEqual({});
  });

  it('bounds the walk', async () => {
    const model = makeCommit({ message: 'model4', inputs: [{ commit: features.id }] });
    const s = store([
      { c: raw, envs: [signCommit(raw.bytes, alice.signer)] },
      { c: features, envs: [signCommit(features.bytes, alice.signer)] },
      { c: model, envs: [signCommit(model.bytes, alice.signer)] },
    ]);
    const d = await verifyCommitTree({ commitId: model.id, trustList: trust(alice), policy: policy({ requireSignedInputs: true }), now: NOW, maxDepth: 1, ...s });
    expect(d.ok).toBe(false);
    expect(d.inputs[features.id]?.ok).toBe(false);
  });
});
