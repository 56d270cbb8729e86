/**
 * The trust verbs end to end through the library API, as a user would run them: generate keys,
 * trust them, commit (signed automatically), co-sign, verify with a policy, lineage, attest.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultEnv, type Env } from '../env.js';
import { isMlstoreError } from '../errors.js';
import { fromBase64, pae, parseEnvelope, payloadBytes } from '../trust/dsse.js';
import { add } from './add.js';
import { attest } from './attest.js';
import { commit } from './commit.js';
import { init } from './init.js';
import { keyExport, keyGenerate, keyList, keyTrust, keyUntrust } from './key.js';
import { lineage } from './lineage.js';
import { commitSigners, sign } from './sign.js';
import { verify } from './verify.js';

const system = { platform: 'linux', arch: 'x64', node: 'v20.0.0' };
let root: string;
let dir: string;
let env: Env;
let reviewerDir: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'mlstore-trust-api-'));
  dir = join(root, 'repo');
  mkdirSync(join(dir, 'data'), { recursive: true });
  reviewerDir = join(root, 'reviewer-config');
  env = defaultEnv({ vars: { MLSTORE_CONFIG_DIR: join(root, 'config'), HOME: root }, now: () => new Date('2026-06-01T00:00:00Z') });
  await init({ dir, env });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return isMlstoreError(e) ? e.code : `non-mlstore: ${String(e)}`;
  }
  return undefined;
}

describe('trust verbs through the library API', () => {
  let raw: string;
  let model: string;
  let ci: string;
  let reviewer: string;

  it('key generate / list / export / trust, then commit signs automatically', async () => {
    expect(await commitSigners(env)).toEqual([]); // nothing configured: unsigned, not an error
    ci = (await keyGenerate({ env, name: 'ci' })).id;
    reviewer = (await keyGenerate({ env, configDir: reviewerDir, name: 'reviewer' })).id;
    expect((await keyList({ env })).map((k) => k.name)).toEqual(['ci']);
    await keyTrust({ dir, env, publicKeyPem: await keyExport({ env }), name: 'ci', scope: ['refs/heads/*'] });
    await keyTrust({ dir, env, publicKeyPem: await keyExport({ env, configDir: reviewerDir }), name: 'reviewer' });
    expect(JSON.parse(readFileSync(join(dir, 'mlstore-trust.json'), 'utf8')).keys).toHaveLength(2);

    writeFileSync(join(dir, 'data', 'raw.csv'), 'a,b\n1,2\n');
    await add({ dir, env, paths: [join(dir, 'data')] });
    const r1 = await commit({ dir, env, message: 'raw', system, signers: await commitSigners(env) });
    raw = r1.id;
    expect(r1.signedBy).toEqual([ci]);
    writeFileSync(join(dir, 'data', 'model.bin'), 'weights');
    const r2 = await commit({ dir, env, message: 'model', system, inputs: [raw], signers: await commitSigners(env) });
    model = r2.id;
  });

  it('verify: passes by ref and by id, with the decision document', async () => {
    const d = await verify({ dir, env, rev: 'main' });
    expect(d.ok).toBe(true);
    expect(d.refName).toBe('refs/heads/main');
    expect(d.commit).toBe(model);
    expect(d.trustedSigners).toEqual([ci]);
    expect((await verify({ dir, env, rev: raw })).ok).toBe(true);
  });

  it('policy: threshold 2 fails until the reviewer co-signs; signed inputs transitively', async () => {
    const policy = { threshold: 2, requireCleanCode: false, requiredEnvironment: ['os=linux'], requireSignedInputs: true };
    const before = await verify({ dir, env, rev: 'main', policy });
    expect(before.ok).toBe(false);
    expect(before.code).toBe('UNTRUSTED_SIGNER');
    const s = await sign({ dir, env, rev: 'main', configDir: reviewerDir });
    expect(s).toMatchObject({ commit: model, keyId: reviewer, alreadySigned: false });
    expect((await sign({ dir, env, rev: 'main', configDir: reviewerDir })).alreadySigned).toBe(true);
    const mid = await verify({ dir, env, rev: 'main', policy });
    expect(mid.ok).toBe(false); // the input `raw` has only one signer
    expect(mid.checks.find((c) => !c.ok)?.check).toBe('signed-inputs');
    await sign({ dir, env, rev: raw, configDir: reviewerDir });
    const after = await verify({ dir, env, rev: 'main', policy });
    expect(after.ok).toBe(true);
    expect(after.trustedSigners.sort()).toEqual([ci, reviewer].sort());
    expect(after.inputs[raw]).toEqual({ ok: true });
    // clean code: this repository is not in Git
    expect((await verify({ dir, env, rev: 'main', policy: { ...policy, requireCleanCode: true } })).code).toBe('POLICY_VIOLATION');
  });

  it('untrust: the key stops counting; a tampered signature file is BAD_SIGNATURE', async () => {
    await keyUntrust({ dir, env, key: 'reviewer' });
    expect((await verify({ dir, env, rev: 'main', policy: { threshold: 2, requireCleanCode: false, requiredEnvironment: [], requireSignedInputs: false } })).ok).toBe(false);
    expect((await verify({ dir, env, rev: 'main' })).ok).toBe(true);
    const file = join(dir, '.mlstore', 'objects', 'signatures', model, `${ci}.dsse`);
    const envl = JSON.parse(readFileSync(file, 'utf8'));
    const sig = Buffer.from(envl.signatures[0].sig, 'base64');
    sig[0]! ^= 1;
    envl.signatures[0].sig = sig.toString('base64');
    chmodSync(file, 0o644);
    writeFileSync(file, JSON.stringify(envl));
    const d = await verify({ dir, env, rev: 'main' });
    expect(d.ok).toBe(false);
    expect(d.code).toBe('BAD_SIGNATURE');
  });

  it('lineage walks inputs and parents with signature status', async () => {
    const { graph, output } = await lineage({ dir, env, rev: raw, format: 'mermaid' });
    expect(graph.nodes.map((n) => [n.id, n.signature])).toEqual([[raw, 'verified']]);
    expect(output.startsWith('graph LR')).toBe(true);
    const m = await lineage({ dir, env, rev: model, format: 'mlmd' });
    expect(m.graph.nodes.find((n) => n.id === model)?.signature).toBe('invalid');
    expect(m.graph.edges).toEqual(expect.arrayContaining([{ from: raw, to: model, kind: 'parent' }, { from: raw, to: model, kind: 'input' }]));
    expect(JSON.parse(m.output).executions).toHaveLength(2);
  });

  it('attest: in-toto statement over the files, verified by stock openssl', async () => {
    const a = await attest({ dir, env, rev: model, codeRepository: 'git+https://example.com/repo' });
    expect(a.keyId).toBe(ci);
    expect(a.statement.subject.map((s) => s.name)).toEqual(['data/model.bin', 'data/raw.csv']);
    const env2 = parseEnvelope(a.bytes);
    const work = join(root, 'openssl');
    mkdirSync(work);
    writeFileSync(join(work, 'pae.bin'), pae(env2.payloadType, payloadBytes(env2)));
    writeFileSync(join(work, 'sig.bin'), fromBase64(env2.signatures[0]!.sig, 'sig'));
    writeFileSync(join(work, 'pub.pem'), await keyExport({ env }));
    const out = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'pub.pem', '-rawin', '-in', 'pae.bin', '-sigfile', 'sig.bin'], { cwd: work, encoding: 'utf8' });
    expect(out).toContain('Signature Verified Successfully');
  });

  it('a key file readable by others is refused for signing', async () => {
    const keys = await keyList({ env });
    chmodSync(keys[0]!.file, 0o644);
    expect(await codeOf(commitSigners(env))).toBe('INSECURE_KEY');
    expect(await codeOf(sign({ dir, env, rev: 'main' }))).toBe('INSECURE_KEY');
    chmodSync(keys[0]!.file, 0o600);
  });
});
