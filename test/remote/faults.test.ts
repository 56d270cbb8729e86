/**
 * Faults between mlstore and a real S3 server, injected by a proxy: throttling (503 SlowDown),
 * connection resets, truncated bodies, wrong bytes for a key, slow responses, and a remote that
 * stays down. Transient faults are retried until the transfer succeeds with identical bytes; bad
 * bytes are refused and never stored; a remote that stays down ends the command with exit 3.
 */
import { storedKeys } from '../helpers/store.js';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cliJson, inShare, makeRepo, ok, removeDir, s3, s3Env, slowDown, startFaultProxy, tempDir, treeDigest, type FaultProxy, type S3Env } from './helpers.js';

const config = s3.config;
const suite = config ? describe : describe.skip;

let work: string;
const cleanups: (() => Promise<void>)[] = [];
beforeAll(async () => {
  work = await tempDir('mlstore-faults-');
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

function dataset(n: number): Record<string, number> {
  const files: Record<string, number> = { 'data/big.bin': 2 * 1024 * 1024 + 5 };
  for (let i = 0; i < n; i++) files[`data/part${i % 4}/f${i}.bin`] = 3000 + i * 7;
  return files;
}

const localKeys = storedKeys;

suite(`remote faults (${config?.source ?? 'none'})`, () => {
  it('push succeeds through throttling (503 SlowDown) and connection resets on a share of requests', async () => {
    const { env, proxy } = await setup('push-faults');
    const { dir: a } = await makeRepo(join(work, 'pf-a'), dataset(60));
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', proxy.endpoint], a, env.vars);
    // Every third key fails its first two attempts with 503; another share has its first attempt reset.
    proxy.rule = (r) => {
      if (r.key === '' || r.attempt >= 2) return undefined;
      if (inShare(`503:${r.key}`, 0.35)) return slowDown;
      if (r.attempt === 0 && inShare(`reset:${r.key}`, 0.2)) return { kind: 'reset' };
      return undefined;
    };
    const pushed = await ok(['push', '--jobs', '8'], a, env.vars);
    expect(proxy.log.filter((e) => e.fault === 'status').length).toBeGreaterThan(10);
    expect(proxy.log.filter((e) => e.fault === 'reset').length).toBeGreaterThan(3);
    expect(pushed.objects.uploaded).toBeGreaterThan(60);

    proxy.rule = () => undefined;
    const b = join(work, 'pf-b');
    await ok(['init'], b, env.vars);
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', config!.endpoint], b, env.vars);
    await ok(['pull'], b, env.vars);
    expect(await treeDigest(b)).toEqual(await treeDigest(a));
  });

  it('pull succeeds through 503s, resets, truncated bodies and slow responses (with a request timeout)', async () => {
    const { env, proxy } = await setup('pull-faults');
    const { dir: a } = await makeRepo(join(work, 'pl-a'), dataset(60));
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', config!.endpoint], a, env.vars);
    await ok(['push'], a, env.vars);

    const b = join(work, 'pl-b');
    await ok(['init'], b, env.vars);
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', proxy.endpoint, '--timeout', '1'], b, env.vars);
    proxy.rule = (r) => {
      if (r.method !== 'GET' || r.key === '' || r.attempt > 0) return undefined;
      if (inShare(`503:${r.key}`, 0.2)) return slowDown;
      if (inShare(`reset:${r.key}`, 0.15)) return { kind: 'reset' };
      if (inShare(`trunc:${r.key}`, 0.2)) return { kind: 'truncate' };
      if (inShare(`slow:${r.key}`, 0.05)) return { kind: 'delay', ms: 2500 }; // beyond the 1 s timeout: retried
      if (inShare(`lag:${r.key}`, 0.2)) return { kind: 'delay', ms: 150 };
      return undefined;
    };
    const pulled = await ok(['pull', '--jobs', '8'], b, env.vars);
    const kinds = new Set(proxy.log.filter((e) => e.fault).map((e) => (e.fault === 'delay' ? 'delay' : e.fault)));
    expect([...kinds].sort()).toEqual(['delay', 'reset', 'status', 'truncate']);
    expect(proxy.log.some((e) => e.status === 'truncated' && e.key.startsWith('objects/chunks/'))).toBe(true);
    expect(pulled.objects.downloaded).toBeGreaterThan(60);
    expect(await treeDigest(b)).toEqual(await treeDigest(a));
  });

  it('wrong bytes for a key are refused, never stored, and reported with the file they belong to', async () => {
    const { env, proxy } = await setup('wrong-bytes');
    const { dir: a } = await makeRepo(join(work, 'wb-a'), { 'data/good.bin': 40_000, 'data/victim.bin': 50_000, 'data/also-good.bin': 60_000 });
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', config!.endpoint], a, env.vars);
    await ok(['push'], a, env.vars);
    const victimDigest = (await treeDigest(a))['data/victim.bin']!;
    const victimKey = `objects/chunks/${victimDigest.slice(0, 2)}/${victimDigest.slice(2)}`;

    const b = join(work, 'wb-b');
    await ok(['init'], b, env.vars);
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', proxy.endpoint], b, env.vars);
    proxy.rule = (r) => (r.method === 'GET' && r.key === victimKey ? { kind: 'corrupt' } : undefined);
    const r = await cliJson(['pull'], b, env.vars);
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('CORRUPT_OBJECT');
    expect(r.json.error.message).toContain('data/victim.bin');
    expect(r.json.error.details).toMatchObject({ remote: 'origin', path: 'data/victim.bin', id: victimDigest });
    expect(proxy.log.filter((e) => e.key === victimKey && e.method === 'GET').length).toBe(3); // retried, then refused
    expect(await localKeys(b, 'chunks')).not.toContain(victimKey);
    expect(await localKeys(b, 'meta')).toEqual([]); // no tree or commit is stored while its data is incomplete

    // The same remote object, served correctly again: the pull completes.
    proxy.rule = () => undefined;
    await ok(['pull'], b, env.vars);
    expect(await treeDigest(b)).toEqual(await treeDigest(a));
  });

  it('a remote that stays down fails the command with exit 3 and a clear message', async () => {
    const { env, proxy } = await setup('down');
    const { dir: a } = await makeRepo(join(work, 'down-a'), { 'data/x.bin': 10_000 });
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', proxy.endpoint], a, env.vars);
    await ok(['push'], a, env.vars);

    proxy.rule = () => slowDown;
    const throttled = await cliJson(['fetch'], a, env.vars);
    expect(throttled.code).toBe(3);
    expect(throttled.json.error.code).toBe('REMOTE_UNREACHABLE');
    expect(throttled.json.error.message).toMatch(/remote origin: .*SlowDown/);
    expect(throttled.json.error.details.attempts).toBe(6);

    // Down mid-transfer: the first requests work, then every connection is reset.
    proxy.rule = () => (proxy.log.length > 8 ? { kind: 'reset' } : undefined);
    const b = join(work, 'down-b');
    await ok(['init'], b, env.vars);
    await ok(['remote', 'add', 'origin', env.url, '--endpoint', proxy.endpoint], b, env.vars);
    const mid = await cliJson(['pull'], b, env.vars);
    expect(mid.code).toBe(3);
    expect(mid.json.error.code).toBe('REMOTE_UNREACHABLE');
    expect(mid.json.error.message).toContain('remote origin');

    await proxy.close();
    const gone = await cliJson(['push'], a, env.vars);
    expect([gone.code, gone.json.error.code]).toEqual([3, 'REMOTE_UNREACHABLE']);
  });
});

if (!config) {
  describe('remote faults', () => {
    it.skip(`skipped: ${s3.skipReason}`, () => {});
  });
}
