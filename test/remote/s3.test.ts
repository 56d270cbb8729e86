/**
 * Remotes on a real S3 server (radosgw started by test/s3/global-setup.ts, or MinIO/AWS through
 * MLSTORE_TEST_S3_*), through the CLI. A recording proxy between mlstore and the server checks
 * what went over the wire: dependency order and ChecksumSHA256 of uploads, the GETs of a partial
 * checkout, and the requests of a re-push with nothing new.
 */
import { readFile, readdir } from 'node:fs/promises';
import { storedKeys } from '../helpers/store.js';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cliJson,
  commitFiles,
  makeRepo,
  ok,
  removeDir,
  s3,
  s3Env,
  startFaultProxy,
  tempDir,
  treeDigest,
  type FaultProxy,
  type S3Env,
} from './helpers.js';

const config = s3.config;
const suite = config ? describe : describe.skip;

let work: string;
const cleanups: (() => Promise<void>)[] = [];
beforeAll(async () => {
  work = await tempDir('mlstore-s3remote-');
});
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
afterAll(async () => {
  await removeDir(work);
});

async function setup(name: string): Promise<{ env: S3Env; proxy: FaultProxy }> {
  const env = s3Env(config!, name);
  const proxy = await startFaultProxy(config!.endpoint, env.prefix, config!.bucket);
  cleanups.push(() => proxy.close(), () => env.cleanup());
  return { env, proxy };
}

/** Keys each stored object references (independent decoding of the local store's JSON). */
async function childrenOf(repoDir: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const metaDir = join(repoDir, '.mlstore/objects/meta');
  for (const d of await readdir(metaDir)) {
    for (const f of await readdir(join(metaDir, d))) {
      const id = d + f;
      const obj = JSON.parse(await readFile(join(metaDir, d, f), 'utf8')) as Record<string, any>;
      const meta = (x: string) => `objects/meta/${x.slice(0, 2)}/${x.slice(2)}`;
      const chunk = (x: string) => `objects/chunks/${x.slice(0, 2)}/${x.slice(2)}`;
      let kids: string[] = [];
      if (obj.type === 'commit') kids = [meta(obj.tree), ...obj.parents.map(meta)];
      if (obj.type === 'file') kids = obj.chunks.map((c: [string, number]) => chunk(c[0]));
      if (obj.type === 'tree') kids = obj.entries.map((e: any) => (e.type === 'tree' ? meta(e.id) : e.manifest ? meta(e.manifest) : chunk(e.digest)));
      out.set(meta(id), kids);
    }
  }
  return out;
}

suite(`S3 remote (${config?.source ?? 'none'})`, () => {
  it('push → fresh clone (init + remote add + pull) gives identical bytes; uploads are checksummed and in dependency order', async () => {
    const { env, proxy } = await setup('roundtrip');
    const { dir: a, id } = await makeRepo(join(work, 'rt-a'), {
      'data/big.bin': 5 * 1024 * 1024 + 3,
      'data/sub/a.txt': 'alpha\n',
      'data/sub/deeper/b.txt': 'beta\n',
      'data/empty': '',
      'models/m.bin': 123_456,
    });
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', proxy.endpoint], a, env.vars);
    const pushed = await ok(['push'], a, env.vars);
    expect(pushed.refs).toEqual([{ ref: 'refs/heads/main', old: null, new: id, status: 'created' }]);
    expect(pushed.atomicCompareAndSwap).toBe(true);
    expect(pushed.warnings).toEqual([]);

    // Every object PUT carried the SHA-256 of its body, and came after everything it references.
    const puts = proxy.log.filter((e) => e.method === 'PUT' && e.status === 200 && e.key.startsWith('objects/'));
    expect(puts.length).toBe(pushed.objects.uploaded);
    for (const p of puts) expect(p.checksum).toBe(p.bodySha256);
    const doneAt = new Map(puts.map((p) => [p.key, p.end!]));
    const kids = await childrenOf(a);
    let checked = 0;
    for (const p of puts) {
      for (const k of kids.get(p.key) ?? []) {
        expect(doneAt.get(k), `${k} must be stored before ${p.key}`).toBeLessThan(p.start);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(8);
    const refPut = proxy.log.find((e) => e.method === 'PUT' && e.key === 'refs/heads/main')!;
    for (const p of puts) expect(p.end!).toBeLessThan(refPut.start);
    expect(await env.keys()).toContain('mlstore-remote.json');

    const b = join(work, 'rt-b');
    await ok(['init'], b, env.vars);
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', config!.endpoint], b, env.vars);
    const pulled = await ok(['pull'], b, env.vars);
    expect(pulled).toMatchObject({ id, local: { ref: 'refs/heads/main', status: 'created' } });
    expect(await treeDigest(b)).toEqual(await treeDigest(a));
  });

  it('a re-push with nothing new sends no object and costs a handful of requests', async () => {
    const { env, proxy } = await setup('repush');
    const files: Record<string, number> = {};
    for (let i = 0; i < 300; i++) files[`data/d${i % 10}/f${i}.bin`] = 1000 + i;
    const { dir: a } = await makeRepo(join(work, 'rp-a'), files);
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', proxy.endpoint], a, env.vars);
    const first = await ok(['push'], a, env.vars);
    expect(first.objects.uploaded).toBeGreaterThan(300);
    proxy.log.length = 0;
    const again = await ok(['push'], a, env.vars);
    expect(again.objects.uploaded).toBe(0);
    expect(again.refs[0].status).toBe('up-to-date');
    expect(proxy.log.filter((e) => e.key.startsWith('objects/')).length).toBe(0);
    expect(proxy.log.length).toBeLessThan(15); // marker, capability probe, ref listing

    // One more file: only it, its tree path and the commit go up.
    await commitFiles(a, { 'data/d3/new.bin': 4321 }, 'v2');
    proxy.log.length = 0;
    const third = await ok(['push'], a, env.vars);
    expect(third.objects.uploaded).toBe(1 + 3 + 1); // the chunk; trees data/d3, data and the root; the commit
  });

  it('checkout --remote REV PATH downloads only the chunks under PATH', async () => {
    const { env, proxy } = await setup('partial');
    const files: Record<string, number> = { 'data/sub/big.bin': 3 * 1024 * 1024 };
    for (let i = 0; i < 5; i++) files[`data/sub/s${i}.bin`] = 5000 + i;
    for (let i = 0; i < 40; i++) files[`data/other/o${i}.bin`] = 7000 + i;
    files['models/m.bin'] = 600_000;
    const { dir: a, id } = await makeRepo(join(work, 'pc-a'), files);
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', config!.endpoint], a, env.vars);
    await ok(['tag', 'dataset-v1'], a, env.vars);
    await ok(['push', 'origin', 'dataset-v1'], a, env.vars);

    const c = join(work, 'pc-c');
    await ok(['init'], c, env.vars);
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', proxy.endpoint], c, env.vars);
    const co = await ok(['checkout', '--remote', 'origin', 'dataset-v1', 'data/sub'], c, env.vars);
    expect(co.id).toBe(id);
    expect(co.written.sort()).toEqual(Object.keys(files).filter((p) => p.startsWith('data/sub/')).sort());

    const want = await treeDigest(a);
    const got = await treeDigest(c);
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).filter((p) => p.startsWith('data/sub/')).sort());
    for (const [p, d] of Object.entries(got)) expect(d).toBe(want[p]);

    const chunkGets = proxy.log.filter((e) => e.method === 'GET' && e.key.startsWith('objects/chunks/'));
    const localChunks = await storedKeys(c, 'chunks');
    // Exactly the chunks of data/sub were downloaded, each once: 5 small files + the big file's chunks.
    expect(new Set(chunkGets.map((g) => g.key)).size).toBe(chunkGets.length);
    expect(chunkGets.map((g) => g.key).sort()).toEqual(localChunks.sort());
    expect(chunkGets.length).toBeGreaterThan(5 + 1);
    expect(chunkGets.length).toBeLessThan(5 + 12);
    for (const [p, digest] of Object.entries(want)) {
      if (!p.startsWith('data/sub/')) expect(localChunks).not.toContain(`objects/chunks/${digest.slice(0, 2)}/${digest.slice(2)}`);
    }
  });

  it('two concurrent pushes of diverging commits: exactly one wins, the other gets a clear conflict', async () => {
    const { env, proxy } = await setup('race');
    const { dir: a } = await makeRepo(join(work, 'race-a'), { 'data/x.txt': 'base\n' });
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', proxy.endpoint], a, env.vars);
    await ok(['push'], a, env.vars);
    const b = join(work, 'race-b');
    await ok(['init'], b, env.vars);
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', proxy.endpoint], b, env.vars);
    await ok(['pull'], b, env.vars);

    for (let round = 0; round < 3; round++) {
      const ia = await commitFiles(a, { 'data/x.txt': `a${round}\n` }, `a${round}`, env.vars);
      const ib = await commitFiles(b, { 'data/x.txt': `b${round}\n` }, `b${round}`, env.vars);
      // Slow the commit uploads down so both pushes read the remote ref before either moves it.
      proxy.rule = (r) => (r.method === 'PUT' && r.key.startsWith('objects/meta/') ? { kind: 'delay', ms: 400 } : undefined);
      const [ra, rb] = await Promise.all([cliJson(['push'], a, env.vars), cliJson(['push'], b, env.vars)]);
      proxy.rule = () => undefined;
      const results = [ra, rb];
      const winners = results.filter((r) => r.code === 0);
      const losers = results.filter((r) => r.code !== 0);
      expect(winners.length).toBe(1);
      expect(losers.length).toBe(1);
      const err = losers[0]!.json.error;
      expect(['NOT_FAST_FORWARD', 'REF_CONFLICT']).toContain(err.code);
      expect(err.message).toContain('remote origin');
      expect(err.details.concurrent).toBe(true); // refused at the compare-and-swap, not before
      const winnerId = winners[0] === ra ? ia : ib;
      const fetched = await ok(['fetch'], a, env.vars);
      expect(fetched.refs.find((r: { ref: string }) => r.ref === 'refs/heads/main').new).toBe(winnerId);
      // Bring both back in line for the next round: the loser takes the winner's commit.
      for (const dir of [a, b]) await ok(['pull', '--force'], dir, env.vars);
    }
  });

  it('clear errors: wrong credentials, missing bucket, unreachable endpoint, no permission, newer format', async () => {
    const { env, proxy } = await setup('errors');
    const { dir: a } = await makeRepo(join(work, 'err-a'), { 'data/x.txt': 'x\n' });
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', config!.endpoint], a, env.vars);
    await ok(['remote', 'add', 'nobucket', `s3://no-such-bucket-${env.prefix}/p`, '--endpoint', config!.endpoint], a, env.vars);
    await ok(['remote', 'add', 'down', env.url, '--endpoint', 'http://127.0.0.1:9'], a, env.vars);
    await ok(['remote', 'add', 'proxied', env.url, '--endpoint', proxy.endpoint], a, env.vars);

    const auth = await cliJson(['push', 'origin'], a, { ...env.vars, AWS_SECRET_ACCESS_KEY: 'wrong-secret' });
    expect(auth.code).toBe(3);
    expect(auth.json.error.code).toBe('REMOTE_AUTH');
    expect(auth.json.error.message).toContain('remote origin');
    expect(auth.json.error.message).toContain('AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables');

    const bucket = await cliJson(['fetch', 'nobucket'], a, env.vars);
    expect([bucket.code, bucket.json.error.code]).toEqual([3, 'REMOTE_NOT_FOUND']);
    expect(bucket.json.error.message).toContain('remote nobucket');

    const down = await cliJson(['push', 'down'], a, env.vars);
    expect([down.code, down.json.error.code]).toEqual([3, 'REMOTE_UNREACHABLE']);
    expect(down.json.error.message).toMatch(/remote down: Could not reach S3 endpoint http:\/\/127\.0\.0\.1:9/);

    proxy.rule = () => ({ kind: 'status', status: 403, code: 'AccessDenied' });
    const forbidden = await cliJson(['push', 'proxied'], a, env.vars);
    expect([forbidden.code, forbidden.json.error.code]).toEqual([3, 'REMOTE_FORBIDDEN']);
    expect(forbidden.json.error.message).toContain('remote proxied');
    proxy.rule = () => undefined;

    await ok(['push', 'origin'], a, env.vars);
    await env.client.send(new PutObjectCommand({ Bucket: config!.bucket, Key: `${env.prefix}/mlstore-remote.json`, Body: JSON.stringify({ format: 7 }) }));
    const newer = await cliJson(['fetch', 'origin'], a, env.vars);
    expect([newer.code, newer.json.error.code]).toEqual([3, 'REMOTE_FORMAT']);
    expect(newer.json.error.message).toContain('format 7');
    const pushNewer = await cliJson(['push', 'origin'], a, env.vars);
    expect(pushNewer.json.error.code).toBe('REMOTE_FORMAT');
  });

  it('an empty remote: fetch says so, pull names what is missing', async () => {
    const { env } = await setup('empty');
    const b = join(work, 'empty-b');
    await ok(['init'], b, env.vars);
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', config!.endpoint], b, env.vars);
    const f = await ok(['fetch'], b, env.vars);
    expect(f).toMatchObject({ empty: true, refs: [] });
    const p = await cliJson(['pull'], b, env.vars);
    expect([p.code, p.json.error.code]).toEqual([2, 'UNKNOWN_REV']);
  });
});

if (!config) {
  describe('S3 remote', () => {
    it.skip(`skipped: ${s3.skipReason}`, () => {});
  });
}
