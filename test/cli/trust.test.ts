/**
 * The trust commands as a user runs them: key generate/export/trust, commits signed
 * automatically, verify (exit 0 / 1, decision document), co-signing, revocation, tampering,
 * lineage and attest.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { readdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, parseJson } from '../helpers/cli.js';
import { newRepo, tempDir, writeFiles } from '../helpers/repo.js';

describe('trust through the CLI', () => {
  let root: string;
  let vars: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, { cwd: root, vars });

  beforeAll(async () => {
    root = await newRepo();
    vars = { MLSTORE_CONFIG_DIR: await tempDir('mlstore-keys-') };
    await writeFiles(root, { 'data/a.txt': 'alpha\n', 'data/b.txt': 'beta\n' });
    expect((await cli('key', 'generate', '--name', 'alice')).code).toBe(0);
    expect((await cli('key', 'generate', '--name', 'bob')).code).toBe(0);
    for (const name of ['alice', 'bob']) {
      const pem = await cli('key', 'export', name);
      expect(pem.stdout).toContain('BEGIN PUBLIC KEY');
      await writeFile(join(root, `${name}.pem`), pem.stdout);
    }
    expect((await cli('key', 'trust', 'alice.pem', '--name', 'alice')).code).toBe(0);
    expect((await cli('add', 'data')).code).toBe(0);
  });

  it('signs commits with the default key and verifies them (exit 0)', async () => {
    const c = parseJson<{ signedBy: string[] }>(await cli('commit', '-m', 'v1', '--json'));
    expect(c.signedBy).toHaveLength(1);
    const v = await cli('verify', 'HEAD', '--json');
    expect(v.code).toBe(0);
    const d = parseJson<{ ok: boolean; trustedSigners: string[] }>(v);
    expect(d.ok).toBe(true);
    expect(d.trustedSigners).toEqual(c.signedBy);
  });

  it('a policy threshold of 2 fails (exit 1) until a second trusted key co-signs', async () => {
    await writeFile(join(root, 'policy.json'), JSON.stringify({ threshold: 2 }));
    expect((await cli('verify', 'HEAD', '--policy', 'policy.json')).code).toBe(1);
    expect((await cli('sign', 'HEAD', '--key', 'bob')).code).toBe(0);
    expect((await cli('verify', 'HEAD', '--policy', 'policy.json')).code).toBe(1); // bob is not trusted yet
    expect((await cli('key', 'trust', 'bob.pem', '--name', 'bob')).code).toBe(0);
    expect((await cli('verify', 'HEAD', '--policy', 'policy.json')).code).toBe(0);
  });

  it('revoking a key makes its signatures stop counting', async () => {
    await writeFiles(root, { 'data/c.txt': 'gamma\n' });
    expect((await cli('commit', '-m', 'v2', '--key', 'bob')).code).toBe(0);
    expect((await cli('verify')).code).toBe(0);
    expect((await cli('key', 'untrust', 'bob')).code).toBe(0);
    const r = await cli('verify', '--json');
    expect(r.code).toBe(1);
    expect(parseJson<{ code: string }>(r).code).toBe('UNTRUSTED_SIGNER');
  });

  it('a tampered signature file is refused with BAD_SIGNATURE (exit 1)', async () => {
    const id = parseJson<{ id: string }>(await cli('show', 'HEAD~1', '--json')).id;
    const sigDir = join(root, '.mlstore', 'objects', 'signatures', id);
    const keys = parseJson<{ keys: { id: string; name: string }[] }>(await cli('key', 'list', '--json')).keys;
    const alice = keys.find((k) => k.name === 'alice')!.id;
    expect(await readdir(sigDir)).toContain(`${alice}.dsse`);
    const path = join(sigDir, `${alice}.dsse`); // the only trusted signature on v1
    const env = JSON.parse(await readFile(path, 'utf8')) as { signatures: { sig: string }[] };
    const sig = Buffer.from(env.signatures[0]!.sig, 'base64');
    sig[0] = sig[0]! ^ 1;
    env.signatures[0]!.sig = sig.toString('base64');
    await chmod(path, 0o644);
    await writeFile(path, JSON.stringify(env));
    const r = await cli('verify', 'HEAD~1', '--json');
    expect(r.code).toBe(1);
    expect(parseJson<{ checks: { check: string; ok: boolean }[] }>(r).checks.some((c) => c.check === 'signature' && !c.ok)).toBe(true);
  });

  it('--no-sign commits are unsigned and fail verification', async () => {
    await writeFiles(root, { 'data/d.txt': 'delta\n' });
    expect((await cli('commit', '-m', 'v3', '--no-sign')).code).toBe(0);
    expect((await cli('verify')).code).toBe(1);
  });

  it('lineage renders every format; attest writes a DSSE in-toto envelope', async () => {
    for (const format of ['json', 'dot', 'mermaid', 'mlmd']) {
      const r = await cli('lineage', 'HEAD', '--format', format);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(20);
    }
    expect((await cli('lineage', '--format', 'svg')).code).toBe(2);
    const a = await cli('attest', 'HEAD~1', '--key', 'alice', '-o', 'att.json');
    expect(a.code, a.stderr).toBe(0);
    const env = JSON.parse(await readFile(join(root, 'att.json'), 'utf8')) as { payloadType: string; payload: string };
    expect(env.payloadType).toBe('application/vnd.in-toto+json');
    const statement = JSON.parse(Buffer.from(env.payload, 'base64').toString()) as { subject: { name: string }[] };
    expect(statement.subject.map((s) => s.name).sort()).toEqual(['data/a.txt', 'data/b.txt', 'data/c.txt']);
  });

  it('checkout --verify refuses an unverified version before writing anything, and allows a verified one', async () => {
    await writeFiles(root, { 'data/e.txt': 'epsilon\n' });
    expect((await cli('commit', '-m', 'v4')).code).toBe(0); // signed by alice (default key)
    // HEAD~1 (v3) is unsigned: refused, and the workspace keeps v4's files.
    const refused = await cli('checkout', 'HEAD~1', '--verify', '--force', '--json');
    expect(refused.code).toBe(1);
    expect(parseJson<{ error: { code: string } }>(refused).error.code).toBe('UNTRUSTED_SIGNER');
    expect(await readFile(join(root, 'data/e.txt'), 'utf8')).toBe('epsilon\n');
    expect((await cli('checkout', 'HEAD~1', '--policy', 'policy.json')).code).toBe(2); // --policy needs --verify
    expect((await cli('checkout', 'HEAD~1')).code).toBe(0);
    await expect(readFile(join(root, 'data/e.txt'), 'utf8')).rejects.toThrow();
    const ok = await cli('checkout', 'main', '--verify');
    expect(ok.code, ok.stderr).toBe(0);
    expect(await readFile(join(root, 'data/e.txt'), 'utf8')).toBe('epsilon\n');
  });
});
