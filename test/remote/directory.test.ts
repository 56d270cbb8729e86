/**
 * Remotes on a shared directory, through the CLI as a user runs it: remote add/list/remove, push,
 * clone by init + remote add + pull, fetch and remote-tracking refs, fast-forward rules, the format
 * marker, and a remote that corrupts or loses objects.
 */
import { mkdir, readFile, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, cliJson, commitFiles, listFiles, makeRepo, ok, removeDir, tempDir, treeDigest } from './helpers.js';

let work: string;
beforeAll(async () => {
  work = await tempDir('mlstore-dirremote-');
});
afterAll(async () => {
  await removeDir(work);
});

const FILES = {
  'data/big.bin': 3 * 1024 * 1024 + 17, // several chunks → a file manifest
  'data/sub/a.txt': 'alpha\n',
  'data/sub/b.txt': 'beta\n',
  'data/empty.txt': '',
  'models/m.bin': 300_000,
};

describe('directory remote', () => {
  it('push, then init + remote add + pull in a fresh directory gives identical bytes', async () => {
    const { dir: a, id } = await makeRepo(join(work, 'rt-a'), FILES);
    const remote = join(work, 'rt-remote');
    const added = await ok(['remote', 'add', 'origin', remote], a);
    expect(added.remote).toMatchObject({ name: 'origin', url: remote });

    const pushed = await ok(['push'], a);
    expect(pushed.refs).toEqual([{ ref: 'refs/heads/main', old: null, new: id, status: 'created' }]);
    expect(pushed.objects.uploaded).toBeGreaterThan(5);
    const keys = await listFiles(remote);
    expect(keys).toContain('mlstore-remote.json');
    expect(keys).toContain('refs/heads/main');
    expect(JSON.parse(await readFile(join(remote, 'mlstore-remote.json'), 'utf8'))).toMatchObject({ format: 1 });

    // Re-push of an unchanged repository sends nothing.
    const again = await ok(['push'], a);
    expect(again.refs[0].status).toBe('up-to-date');
    expect(again.objects.uploaded).toBe(0);

    const b = join(work, 'rt-b');
    await ok(['init'], b);
    await ok(['remote', 'add', 'origin', '../rt-remote'], b); // relative to the working directory
    const pulled = await ok(['pull'], b);
    expect(pulled).toMatchObject({ id, ref: 'refs/heads/main', local: { ref: 'refs/heads/main', old: null, status: 'created' } });
    expect(await treeDigest(b)).toEqual(await treeDigest(a));
    const log = await ok(['log'], b);
    expect(JSON.stringify(log)).toContain(id);
    const list = await ok(['remote', 'list'], b);
    expect(list.remotes[0]).toMatchObject({ name: 'origin', url: remote, refs: { 'refs/heads/main': id } });
  });

  it('fetch records remote-tracking refs, pull fast-forwards, diverged branches and moved tags are refused', async () => {
    const { dir: a, id: v1 } = await makeRepo(join(work, 'ff-a'), { 'data/x.txt': 'one\n' });
    const remote = join(work, 'ff-remote');
    await ok(['remote', 'add', 'origin', remote], a);
    await ok(['tag', 'v1'], a);
    await ok(['push', 'origin', 'main', 'v1'], a);

    const b = join(work, 'ff-b');
    await ok(['init'], b);
    await ok(['remote', 'add', 'origin', remote], b);
    const fetched = await ok(['fetch'], b);
    expect(fetched.refs).toEqual([
      { ref: 'refs/heads/main', old: null, new: v1 },
      { ref: 'refs/tags/v1', old: null, new: v1 },
    ]);
    expect((await ok(['branch'], b)).branches).toEqual([]); // fetch moves no local branch
    await ok(['pull'], b);

    // a moves on and pushes; b pulls: fast-forward.
    const v2 = await commitFiles(a, { 'data/x.txt': 'two\n' }, 'v2');
    const p2 = await ok(['push'], a);
    expect(p2.refs[0]).toMatchObject({ old: v1, new: v2, status: 'fast-forward' });
    const pulled = await ok(['pull'], b);
    expect(pulled.local).toMatchObject({ old: v1, status: 'fast-forward' });
    expect(await readFile(join(b, 'data/x.txt'), 'utf8')).toBe('two\n');

    // b commits on top, a commits something else: a's push is refused as non-fast-forward.
    await commitFiles(b, { 'data/x.txt': 'three-b\n' }, 'v3b');
    const ba = await ok(['push'], b);
    expect(ba.refs[0].status).toBe('fast-forward');
    const v3a = await commitFiles(a, { 'data/x.txt': 'three-a\n' }, 'v3a');
    const refused = await cliJson(['push'], a);
    expect(refused.code).toBe(2);
    expect(refused.json.error.code).toBe('NOT_FAST_FORWARD');
    expect(refused.json.error.message).toContain('remote origin');
    // and pulling into a diverged local branch is refused too, leaving the workspace alone
    const pullRefused = await cliJson(['pull'], a);
    expect(pullRefused.json.error.code).toBe('NOT_FAST_FORWARD');
    expect(await readFile(join(a, 'data/x.txt'), 'utf8')).toBe('three-a\n');
    // --force overwrites
    const forced = await ok(['push', '--force'], a);
    expect(forced.refs[0]).toMatchObject({ new: v3a, status: 'forced' });

    // Tags never move without --force.
    await ok(['tag', '-d', 'v1'], a);
    await ok(['tag', 'v1', v3a], a);
    const tagMove = await cliJson(['push', 'origin', 'v1'], a);
    expect(tagMove.json.error.code).toBe('NOT_FAST_FORWARD');
    expect((await ok(['push', 'origin', 'v1', '--force'], a)).refs[0].status).toBe('forced');

    // fetch notices the remote moved main and v1
    const f2 = await ok(['fetch'], b);
    expect(f2.refs.find((r: { ref: string }) => r.ref === 'refs/heads/main')).toMatchObject({ new: v3a });
  });

  it('push --all sends every branch and tag; checkout --remote fetches one version without history', async () => {
    const { dir: a, id: v1 } = await makeRepo(join(work, 'all-a'), { 'data/p/1.bin': 50_000, 'data/q/2.bin': 60_000 });
    const v2 = await commitFiles(a, { 'data/p/1.bin': 70_000 }, 'v2');
    await ok(['branch', 'old', v1], a);
    await ok(['tag', 'release', v2], a);
    const remote = join(work, 'all-remote');
    await ok(['remote', 'add', 'nas', remote], a);
    const r = await ok(['push', 'nas', '--all'], a);
    expect(r.refs.map((x: { ref: string }) => x.ref).sort()).toEqual(['refs/heads/main', 'refs/heads/old', 'refs/tags/release']);

    const c = join(work, 'all-c');
    await ok(['init'], c);
    await ok(['remote', 'add', 'nas', remote], c);
    const co = await ok(['checkout', '--remote', 'nas', 'old', 'data/q'], c);
    expect(co.written).toEqual(['data/q/2.bin']);
    expect(Object.keys(await treeDigest(c))).toEqual(['data/q/2.bin']);
    // only v1 was fetched, not its child
    expect((await cliJson(['show', v2], c)).code).not.toBe(0);
  });

  it('never writes through a symlink planted in a shared directory remote (refs/, objects/chunks/, tmp/): BAD_PATH, nothing written elsewhere', async () => {
    const { dir: a } = await makeRepo(join(work, 'sym-a'), { 'data/x.txt': 'x1\n' });
    const remote = join(work, 'sym-remote');
    const victim = join(work, 'sym-victim');
    await mkdir(victim);
    await ok(['remote', 'add', 'origin', remote], a);
    await ok(['push'], a);
    let n = 0;
    for (const planted of ['refs', 'objects/chunks', 'tmp']) {
      const real = join(remote, planted);
      await rename(real, `${real}.moved`);
      await symlink(victim, real);
      await commitFiles(a, { [`data/new-${n++}.txt`]: `new bytes ${n}\n` }, `v${n}`);
      const r = await cliJson(['push'], a);
      expect(r.code, `${planted}: ${r.stderr}`).toBe(2);
      expect(r.json.error.code).toBe('BAD_PATH');
      expect(await readdir(victim), planted).toEqual([]);
      await rm(real);
      await rename(`${real}.moved`, real);
    }
    const pushed = await ok(['push'], a); // with the symlinks gone the same push goes through
    expect(pushed.refs[0].status).toBe('fast-forward');
  });

  it('remote add validates, list shows, remove forgets', async () => {
    const { dir: a } = await makeRepo(join(work, 'cfg-a'), { 'data/x.txt': 'x\n' });
    expect((await cliJson(['remote', 'add', 'bad name', '/tmp/x'], a)).json.error.code).toBe('BAD_NAME');
    expect((await cliJson(['remote', 'add', 'r', 'ftp://host/x'], a)).json.error.code).toBe('BAD_CONFIG');
    expect((await cliJson(['remote', 'add', 'r', 's3://Bad_Bucket/x'], a)).json.error.code).toBe('BAD_CONFIG');
    expect((await cliJson(['remote', 'add', 'r', '/tmp/x', '--endpoint', 'http://x'], a)).json.error.code).toBe('USAGE');
    await ok(['remote', 'add', 's3r', 's3://my-bucket/team/a', '--endpoint', 'http://127.0.0.1:9', '--region', 'eu-west-1', '--path-style'], a);
    await ok(['remote', 'add', 'dir', 'file:///srv/mlstore'], a);
    expect((await cliJson(['remote', 'add', 'dir', '/elsewhere'], a)).json.error.code).toBe('ALREADY_EXISTS');
    const list = await ok(['remote', 'list'], a);
    expect(list.remotes).toEqual([
      { name: 'dir', url: '/srv/mlstore', options: {}, refs: {}, updated: null },
      { name: 's3r', url: 's3://my-bucket/team/a', options: { endpoint: 'http://127.0.0.1:9', region: 'eu-west-1', pathStyle: true }, refs: {}, updated: null },
    ]);
    const text = await cli(['remote'], a);
    expect(text.stdout).toContain('s3r\ts3://my-bucket/team/a');
    // Two remotes, none named origin: a bare push must name one.
    expect((await cliJson(['push'], a)).json.error.code).toBe('USAGE');
    expect((await cliJson(['push', 'nope'], a)).json.error.code).toBe('NO_SUCH_REMOTE');
    await ok(['remote', 'remove', 'dir'], a);
    expect((await ok(['remote', 'list'], a)).remotes.map((r: { name: string }) => r.name)).toEqual(['s3r']);
    expect((await cliJson(['remote', 'remove', 'dir'], a)).json.error.code).toBe('NO_SUCH_REMOTE');
  });

  it('refuses a remote written by a newer format, and a directory that does not exist', async () => {
    const { dir: a } = await makeRepo(join(work, 'fmt-a'), { 'data/x.txt': 'x\n' });
    const remote = join(work, 'fmt-remote');
    await ok(['remote', 'add', 'origin', remote], a);
    const missing = await cliJson(['fetch'], a);
    expect(missing.code).toBe(3);
    expect(missing.json.error.code).toBe('REMOTE_NOT_FOUND');
    await ok(['push'], a);
    await writeFile(join(remote, 'mlstore-remote.json'), JSON.stringify({ format: 2 }));
    for (const args of [['fetch'], ['push'], ['pull']]) {
      const r = await cliJson(args, a);
      expect(r.code).toBe(3);
      expect(r.json.error.code).toBe('REMOTE_FORMAT');
      expect(r.json.error.message).toMatch(/remote origin: .*format 2.*reads format 1/);
    }
    await writeFile(join(remote, 'mlstore-remote.json'), 'garbage');
    expect((await cliJson(['fetch'], a)).json.error.code).toBe('REMOTE_FORMAT');
  });

  it('refuses corrupt bytes from the remote and never stores them; push --verify-remote repairs a remote that lost objects', async () => {
    const { dir: a } = await makeRepo(join(work, 'bad-a'), { 'data/one.bin': 200_000, 'data/two.bin': 210_000 });
    const remote = join(work, 'bad-remote');
    await ok(['remote', 'add', 'origin', remote], a);
    await ok(['push'], a);
    const chunkKeys = (await listFiles(remote)).filter((k) => k.startsWith('objects/chunks/'));
    expect(chunkKeys.length).toBe(2);
    const victim = join(remote, chunkKeys[0]!);
    const good = await readFile(victim);
    const bad = Buffer.from(good);
    bad[1000]! ^= 1;
    await rm(victim);
    await writeFile(victim, bad);

    const b = join(work, 'bad-b');
    await ok(['init'], b);
    await ok(['remote', 'add', 'origin', remote], b);
    const r = await cliJson(['pull'], b);
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('CORRUPT_OBJECT');
    expect(r.json.error.message).toMatch(/needed for data\/(one|two)\.bin/);
    expect(r.json.error.details.remote).toBe('origin');
    const localKeys = await listFiles(join(b, '.mlstore'));
    expect(localKeys).not.toContain(chunkKeys[0]);
    expect(localKeys).toContain(chunkKeys[1]); // the good one was kept

    // Lose the object entirely: a plain push trusts its index and sends nothing …
    await rm(victim);
    expect((await ok(['push'], a)).objects.uploaded).toBe(0);
    // … --verify-remote re-checks every object and re-sends the missing one.
    const v = await ok(['push', '--verify-remote'], a);
    expect(v.objects.uploaded).toBe(1);
    expect(await readFile(victim)).toEqual(good);
    const pulled = await ok(['pull'], b);
    expect(pulled.objects.downloaded).toBeGreaterThanOrEqual(1);
    expect(await treeDigest(b)).toEqual(await treeDigest(a));
  });
});

describe('directory remote: signatures and progress', () => {
  it('signatures travel with push and fetch (co-signatures added later too); a malformed envelope on the remote is refused', async () => {
    const config = join(work, 'sig-config');
    const vars = { MLSTORE_CONFIG_DIR: config };
    const { dir: a, id } = await makeRepo(join(work, 'sig-a'), { 'data/x.bin': 30_000 }, vars);
    await ok(['key', 'generate', '--name', 'alice'], a, vars);
    await ok(['key', 'generate', '--name', 'bob'], a, vars);
    await ok(['sign', 'HEAD', '--key', 'alice'], a, vars);
    const remote = join(work, 'sig-remote');
    await ok(['remote', 'add', 'origin', remote], a, vars);
    await ok(['push'], a, vars);
    const sigKeys = () => listFiles(join(remote, 'objects/signatures', id));
    expect((await sigKeys()).length).toBe(1);

    const b = join(work, 'sig-b');
    await ok(['init'], b, vars);
    await ok(['remote', 'add', 'origin', remote], b, vars);
    await ok(['pull'], b, vars);
    const pem = (await cli(['key', 'export', 'alice'], a, vars)).stdout;
    await writeFile(join(b, 'alice.pem'), pem);
    await ok(['key', 'trust', 'alice.pem', '--name', 'alice'], b, vars);
    expect((await cliJson(['verify', 'HEAD'], b, vars)).code).toBe(0);

    // A co-signature made after the push goes up with the next push, and down with the next fetch.
    await ok(['sign', 'HEAD', '--key', 'bob'], a, vars);
    const again = await ok(['push'], a, vars);
    expect(again.refs[0].status).toBe('up-to-date');
    expect(again.objects.uploaded).toBe(1);
    expect((await sigKeys()).length).toBe(2);
    // A junk envelope planted on the remote under a plausible name is not taken.
    await writeFile(join(remote, 'objects/signatures', id, `${'e'.repeat(64)}.dsse`), '{"not":"an envelope"}');
    const f = await ok(['fetch'], b, vars);
    expect(f.objects.downloaded).toBe(1);
    expect(f.objects.rejectedSignatures).toBe(1);
    expect((await listFiles(join(b, '.mlstore/objects/signatures', id))).length).toBe(2);
  });

  it('shows progress on a terminal (objects, bytes, rate) and nothing in a pipe', async () => {
    const { run } = await import('../../src/cli/main.js');
    const { defaultEnv } = await import('../../src/env.js');
    const { dir: a } = await makeRepo(join(work, 'prog-a'), { 'data/p.bin': 2_000_000, 'data/q.bin': 1_000 });
    await ok(['remote', 'add', 'origin', join(work, 'prog-remote')], a);
    let err = '';
    let out = '';
    const code = await run(['push'], {
      cwd: a,
      stdout: { write: (s: string) => ((out += s), true) },
      stderr: { write: (s: string) => ((err += s), true), isTTY: true },
      env: defaultEnv({ vars: { PATH: process.env.PATH } }),
      signal: new AbortController().signal,
      system: { platform: process.platform, arch: process.arch, node: process.version },
    });
    expect(code).toBe(0);
    expect(err).toMatch(/uploading \d+\/\d+ .*(KiB|MiB)/);
    expect(out).toContain('Uploaded');
    const piped = await cli(['push'], a);
    expect(piped.stderr).toBe('');
  });
});
