/**
 * Signed ref state on a directory remote, through the CLI as a user runs it: push publishes a
 * signed snapshot of every remote ref; fetch / pull / checkout --remote verify it before using
 * any ref and refuse rollback, a deleted snapshot, expiry, ref files that disagree with it, and a
 * snapshot by an untrusted key; a remote that never had one is used with a warning unless
 * --require-signed-refs.
 */
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTrustList, verifyRefState } from '../../src/trust/index.js';
import { runCli } from '../helpers/cli.js';
import { cli, cliJson, commitFiles, makeRepo, ok, removeDir, tempDir } from './helpers.js';

let work: string;
let keys: string;
let vars: Record<string, string>;
let publisher: string; // repository A: pushes, signs with alice (the default key)
let consumer: string; // repository B: trusts alice only
let remote: string;
let aliceId: string;

const errorOf = async (args: string[], cwd: string, extra: Record<string, string> = {}) => {
  const r = await cliJson<{ ok: boolean; error?: { code: string } }>(args, cwd, { ...vars, ...extra });
  return { code: r.code, error: r.json.error?.code, stderr: r.stderr };
};

beforeAll(async () => {
  work = await tempDir('mlstore-refstate-');
  keys = join(work, 'keys');
  vars = { MLSTORE_CONFIG_DIR: keys };
  remote = join(work, 'remote');
  aliceId = (await ok<{ key: { id: string } }>(['key', 'generate', '--name', 'alice'], work, vars)).key.id;
  await ok(['key', 'generate', '--name', 'mallory'], work, vars);
  const pem = await cli(['key', 'export', 'alice'], work, vars);
  expect(pem.stdout).toContain('BEGIN PUBLIC KEY');
  await writeFile(join(work, 'alice.pem'), pem.stdout);

  publisher = (await makeRepo(join(work, 'a'), { 'data/x.txt': 'one\n' }, vars)).dir;
  await ok(['remote', 'add', 'origin', remote], publisher, vars);
  consumer = join(work, 'b');
  await ok(['init'], consumer, vars);
  await ok(['remote', 'add', 'origin', remote], consumer, vars);
  await ok(['key', 'trust', join(work, 'alice.pem'), '--name', 'alice'], consumer, vars);
});
afterAll(async () => {
  await removeDir(work);
});

describe('signed ref state on a directory remote', () => {
  const snapshot = () => join(remote, 'refstate.json');
  const mainRef = () => join(remote, 'refs', 'heads', 'main');
  let v1: { state: Buffer; ref: Buffer; version: number };

  it('push publishes a signed snapshot of the remote refs that verifies with the trust list', async () => {
    const pushed = await ok(['push'], publisher, vars);
    expect(pushed.refState.version).toBe(1);
    expect(Date.parse(pushed.refState.expires) - Date.now()).toBeGreaterThan(6.9 * 86400_000); // default 7 days

    const trust = parseTrustList(await readFile(join(consumer, 'mlstore-trust.json')));
    const verified = verifyRefState({ envelope: new Uint8Array(await readFile(snapshot())), trustList: trust, now: new Date() });
    expect(verified.state.refs).toEqual({ 'refs/heads/main': pushed.refs[0].new });
    expect(verified.signers).toEqual([aliceId]);

    const seen = JSON.parse(await readFile(join(publisher, '.mlstore', 'refstate-seen.json'), 'utf8'));
    expect(seen[remote]).toMatchObject({ version: 1 });

    const fetched = await ok(['fetch'], consumer, vars);
    expect(fetched.refState).toMatchObject({ version: 1, signers: [aliceId] });
    v1 = { state: await readFile(snapshot()), ref: await readFile(mainRef()), version: 1 };
  });

  it('a second push publishes a higher version, and fetch accepts it', async () => {
    await commitFiles(publisher, { 'data/x.txt': 'two\n' }, 'v2', vars);
    const pushed = await ok(['push', '--refs-ttl', '1h'], publisher, vars);
    expect(pushed.refState.version).toBe(2);
    const ttl = Date.parse(pushed.refState.expires) - Date.now();
    expect(ttl).toBeGreaterThan(3500_000);
    expect(ttl).toBeLessThan(3700_000);
    const fetched = await ok(['fetch'], consumer, vars);
    expect(fetched.refState.version).toBe(2);
    expect(fetched.refs[0]).toMatchObject({ ref: 'refs/heads/main', new: pushed.refs[0].new });
  });

  it('a remote rolled back to an older snapshot (and ref) is refused with ROLLBACK by fetch, pull and checkout --remote', async () => {
    const current = { state: await readFile(snapshot()), ref: await readFile(mainRef()) };
    await writeFile(snapshot(), v1.state);
    await writeFile(mainRef(), v1.ref);
    try {
      expect(await errorOf(['fetch'], consumer)).toMatchObject({ code: 1, error: 'ROLLBACK' });
      expect(await errorOf(['pull'], consumer)).toMatchObject({ code: 1, error: 'ROLLBACK' });
      expect(await errorOf(['checkout', '--remote', 'origin', 'main'], consumer)).toMatchObject({ code: 1, error: 'ROLLBACK' });
      // A client that never saw version 2 accepts the old (still valid) state: rollback protection is per client.
      const fresh = join(work, 'fresh');
      await ok(['init'], fresh, vars);
      await ok(['remote', 'add', 'origin', remote], fresh, vars);
      await copyFile(join(consumer, 'mlstore-trust.json'), join(fresh, 'mlstore-trust.json'));
      expect((await ok(['fetch'], fresh, vars)).refState.version).toBe(1);
    } finally {
      await writeFile(snapshot(), current.state);
      await writeFile(mainRef(), current.ref);
    }
    expect((await ok(['fetch'], consumer, vars)).refState.version).toBe(2);
  });

  it('a ref file that disagrees with the snapshot (mixed refs) is refused with TAMPERED', async () => {
    const current = await readFile(mainRef());
    await writeFile(mainRef(), v1.ref); // an older, genuinely signed commit, but not the one in the snapshot
    try {
      expect(await errorOf(['fetch'], consumer)).toMatchObject({ code: 1, error: 'TAMPERED' });
      expect(await errorOf(['pull'], consumer)).toMatchObject({ code: 1, error: 'TAMPERED' });
    } finally {
      await writeFile(mainRef(), current);
    }
    // An extra ref that the snapshot does not list is refused too.
    await mkdir(join(remote, 'refs', 'tags'), { recursive: true });
    await writeFile(join(remote, 'refs', 'tags', 'injected'), v1.ref);
    try {
      expect(await errorOf(['fetch'], consumer)).toMatchObject({ code: 1, error: 'TAMPERED' });
    } finally {
      await rm(join(remote, 'refs', 'tags', 'injected'));
    }
    expect((await ok(['fetch'], consumer, vars)).refState.version).toBe(2);
  });

  it('an expired snapshot is refused with EXPIRED (clock injected two hours ahead)', async () => {
    const later = new Date(Date.now() + 2 * 3600_000);
    const r = await runCli(['fetch', '--json'], { cwd: consumer, vars, env: { now: () => later } });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe('EXPIRED');
    expect((await ok(['fetch'], consumer, vars)).refState.version).toBe(2); // still valid now
  });

  it('a snapshot signed only by an untrusted key is refused with UNTRUSTED_SIGNER', async () => {
    const pushed = await ok(['push', '--key', 'mallory'], publisher, vars);
    expect(pushed.refState.version).toBe(3);
    expect(await errorOf(['fetch'], consumer)).toMatchObject({ code: 1, error: 'UNTRUSTED_SIGNER' });
    expect(await errorOf(['pull'], consumer)).toMatchObject({ code: 1, error: 'UNTRUSTED_SIGNER' });
    // The trusted publisher re-signs: accepted again, at a higher version.
    expect((await ok(['push'], publisher, vars)).refState.version).toBe(4);
    expect((await ok(['fetch'], consumer, vars)).refState.version).toBe(4);
  });

  it('a bit flipped in the snapshot signature is refused with BAD_SIGNATURE', async () => {
    const good = await readFile(snapshot());
    const env = JSON.parse(good.toString('utf8')) as { signatures: { sig: string }[] };
    const sig = Buffer.from(env.signatures[0]!.sig, 'base64');
    sig[5] = sig[5]! ^ 1;
    env.signatures[0]!.sig = sig.toString('base64');
    await writeFile(snapshot(), JSON.stringify(env));
    try {
      expect(await errorOf(['fetch'], consumer)).toMatchObject({ code: 1, error: 'BAD_SIGNATURE' });
    } finally {
      await writeFile(snapshot(), good);
    }
  });

  it('a snapshot deleted after it was seen is a downgrade: ROLLBACK', async () => {
    const good = await readFile(snapshot());
    await rm(snapshot());
    try {
      expect(await errorOf(['fetch'], consumer)).toMatchObject({ code: 1, error: 'ROLLBACK' });
      expect(await errorOf(['pull'], consumer)).toMatchObject({ code: 1, error: 'ROLLBACK' });
    } finally {
      await writeFile(snapshot(), good);
    }
    // pull works once the snapshot is back, and the workspace gets the signed version.
    const pulled = await ok(['pull'], consumer, vars);
    expect(pulled.refState.version).toBe(4);
    expect(await readFile(join(consumer, 'data', 'x.txt'), 'utf8')).toBe('two\n');
  });

  it('a client that trusts no key at all uses a signed remote with a warning; --require-signed-refs refuses it', async () => {
    const naive = join(work, 'naive');
    await ok(['init'], naive, vars);
    await ok(['remote', 'add', 'origin', remote], naive, vars);
    const r = await cliJson(['fetch'], naive, vars);
    expect(r.code).toBe(0);
    expect(r.json.refState).toBeNull();
    expect(r.stderr).toMatch(/warning: .*no key is trusted/);
    const strict = await cliJson<{ error?: { code: string } }>(['fetch', '--require-signed-refs'], naive, vars);
    expect(strict.code).toBe(1);
    expect(strict.json.error?.code).toBe('UNTRUSTED_SIGNER');
    // Trusting only another key is not "no trust": the snapshot must then be signed by a trusted key.
    const malloryPem = (await cli(['key', 'export', 'mallory'], naive, vars)).stdout;
    await writeFile(join(naive, 'mallory.pem'), malloryPem);
    await ok(['key', 'trust', 'mallory.pem', '--name', 'mallory'], naive, vars);
    expect(await errorOf(['fetch'], naive)).toMatchObject({ code: 1, error: 'UNTRUSTED_SIGNER' });
  });

  it('an unsigned push to a signed remote warns that clients will refuse it', async () => {
    await commitFiles(publisher, { 'data/x.txt': 'three\n' }, 'v3', vars);
    const r = await cliJson(['push', '--no-sign'], publisher, vars);
    expect(r.code).toBe(0);
    expect(r.json.refState).toBeNull();
    expect(r.stderr).toMatch(/not signed/);
    expect(await errorOf(['fetch'], consumer)).toMatchObject({ code: 1, error: 'TAMPERED' });
    expect((await ok(['push'], publisher, vars)).refState.version).toBe(5);
    expect((await ok(['fetch'], consumer, vars)).refState.version).toBe(5);
  });
});

describe('concurrent signed pushes', () => {
  it('two publishers pushing different branches at the same time leave one consistent snapshot', async () => {
    const shared = join(work, 'race-remote');
    const { dir: a } = await makeRepo(join(work, 'race-a'), { 'data/a.txt': 'a0\n' }, vars);
    const { dir: c } = await makeRepo(join(work, 'race-c'), { 'data/c.txt': 'c0\n' }, vars);
    await ok(['branch', 'other'], c, vars);
    for (const d of [a, c]) await ok(['remote', 'add', 'origin', shared], d, vars);
    await ok(['push'], a, vars); // creates the remote and its format marker once
    let rounds = 0;
    for (let i = 1; i <= 3; i++) {
      await commitFiles(a, { 'data/a.txt': `a${i}\n` }, `a${i}`, vars);
      await commitFiles(c, { 'data/c.txt': `c${i}\n` }, `c${i}`, vars);
      await ok(['branch', '-d', 'other'], c, vars); // move `other` to the new commit
      await ok(['branch', 'other'], c, vars);
      const [ra, rc] = await Promise.all([ok(['push'], a, vars), ok(['push', 'origin', 'other'], c, vars)]);
      expect(new Set([ra.refState.version, rc.refState.version]).size).toBe(2); // never the same number twice
      rounds++;
    }
    const b = join(work, 'race-b');
    await ok(['init'], b, vars);
    await ok(['remote', 'add', 'origin', shared], b, vars);
    await ok(['key', 'trust', join(work, 'alice.pem'), '--name', 'alice'], b, vars);
    const fetched = await ok(['fetch'], b, vars);
    expect(fetched.refState.version).toBe(1 + 2 * rounds);
    expect(fetched.refs.map((r: { ref: string }) => r.ref)).toEqual(['refs/heads/main', 'refs/heads/other']);
  });
});

describe('a remote that never had a signed ref state', () => {
  it('is used with a warning on stderr, and refused with --require-signed-refs (exit 1)', async () => {
    const unsignedRemote = join(work, 'unsigned-remote');
    const noKeys = { MLSTORE_CONFIG_DIR: join(work, 'no-keys') };
    const { dir: a } = await makeRepo(join(work, 'u-a'), { 'data/y.txt': 'why\n' }, noKeys);
    await ok(['remote', 'add', 'origin', unsignedRemote], a, noKeys);
    const pushed = await ok(['push'], a, noKeys);
    expect(pushed.refState).toBeNull();

    const b = join(work, 'u-b');
    await ok(['init'], b, noKeys);
    await ok(['remote', 'add', 'origin', unsignedRemote], b, noKeys);
    const r = await cliJson(['fetch'], b, noKeys);
    expect(r.code).toBe(0);
    expect(r.json.refState).toBeNull();
    expect(r.stderr).toMatch(/warning: .*no signed ref state/);

    const strict = await cliJson<{ error?: { code: string } }>(['fetch', '--require-signed-refs'], b, noKeys);
    expect(strict.code).toBe(1);
    expect(strict.json.error?.code).toBe('MISSING_OBJECT');
    const strictPull = await cliJson<{ error?: { code: string } }>(['pull', '--require-signed-refs'], b, noKeys);
    expect(strictPull.code).toBe(1);
    const pulled = await cliJson(['pull'], b, noKeys);
    expect(pulled.code).toBe(0);
    expect(pulled.stderr).toMatch(/warning: .*no signed ref state/);
    expect(await readFile(join(b, 'data', 'y.txt'), 'utf8')).toBe('why\n');
  });
});
