import { describe, expect, it } from 'vitest';
import { MlstoreError } from '../../src/errors.js';
import { LimitBackend, MemoryBackend, RetryBackend, isRetryable, openBackend, parseLocation } from '../../src/storage/index.js';
import { S3Backend } from '../../src/storage/s3-backend.js';
import { expectCode } from './backend-contract.js';
import { s3Config } from '../s3/s3-config.js';

const transient = () => new MlstoreError('REMOTE_UNREACHABLE', '503 SlowDown', { details: { retryable: true, status: 503 } });

function fakeTime() {
  let t = 0;
  const sleeps: number[] = [];
  return { now: () => t, sleep: async (ms: number) => void (sleeps.push(ms), (t += ms)), sleeps, random: () => 0.5 };
}

describe('RetryBackend', () => {
  it('retries retryable errors with capped exponential backoff and full jitter', async () => {
    const mem = new MemoryBackend();
    await mem.put('objects/a', new Uint8Array([7]));
    mem.failWith('get', transient, 3);
    const time = fakeTime();
    const b = new RetryBackend(mem, { ...time, baseDelayMs: 100, maxDelayMs: 300 });
    expect((await b.get('objects/a'))[0]).toBe(7);
    expect(time.sleeps).toEqual([50, 100, 150]); // 0.5 × min(300, 100·2^n)
  });

  it('gives up after maxAttempts and after maxTotalMs, recording attempts', async () => {
    const mem = new MemoryBackend();
    mem.failWith('put', transient, 100);
    const e = await expectCode(new RetryBackend(mem, { ...fakeTime(), maxAttempts: 4 }).put('objects/a', new Uint8Array()), 'REMOTE_UNREACHABLE');
    expect(e.details.attempts).toBe(4);
    const e2 = await expectCode(new RetryBackend(mem, { ...fakeTime(), maxAttempts: 100, baseDelayMs: 1000, maxDelayMs: 1000, maxTotalMs: 2500 }).put('objects/a', new Uint8Array()), 'REMOTE_UNREACHABLE');
    expect(e2.details.attempts).toBeLessThanOrEqual(6);
  });

  it('never retries no-space, auth, forbidden, missing, corrupt or unmarked errors', async () => {
    for (const code of ['NO_SPACE', 'REMOTE_AUTH', 'REMOTE_FORBIDDEN', 'MISSING_OBJECT', 'CORRUPT_OBJECT', 'IO_ERROR'] as const) {
      const mem = new MemoryBackend();
      // even when wrongly marked retryable, these codes are final (except IO_ERROR, unmarked here)
      mem.failWith('get', () => new MlstoreError(code, code, { details: { retryable: code !== 'IO_ERROR' } }), 5);
      const time = fakeTime();
      await expectCode(new RetryBackend(mem, time).get('objects/a'), code);
      expect(time.sleeps).toEqual([]);
    }
    expect(isRetryable(new Error('plain'))).toBe(false);
  });

  it('does not retry flush, and stops with INTERRUPTED when aborted during backoff', async () => {
    const mem = new MemoryBackend();
    mem.failWith('flush', transient, 1);
    await expectCode(new RetryBackend(mem, fakeTime()).flush(), 'REMOTE_UNREACHABLE');
    const ac = new AbortController();
    mem.failWith('stat', transient, 10);
    const b = new RetryBackend(mem, { sleep: async () => ac.abort() });
    await expectCode(b.stat('objects/a', { signal: ac.signal }), 'INTERRUPTED');
  });

  it('restarts a failed listing without yielding duplicates', async () => {
    const mem = new MemoryBackend();
    for (let i = 0; i < 5; i++) await mem.put(`k/${i}`, new Uint8Array([i]));
    let calls = 0;
    const flaky = Object.create(mem) as MemoryBackend;
    flaky.list = async function* (prefix: string) {
      let n = 0;
      for await (const o of mem.list(prefix)) {
        if (calls === 0 && ++n === 3) {
          calls++;
          throw transient();
        }
        yield o;
      }
    };
    const keys: string[] = [];
    for await (const o of new RetryBackend(flaky, fakeTime()).list('k/')) keys.push(o.key);
    expect(keys.sort()).toEqual(['k/0', 'k/1', 'k/2', 'k/3', 'k/4']);
  });
});

describe('LimitBackend', () => {
  it('never runs more than `concurrency` operations at once', async () => {
    let active = 0;
    let peak = 0;
    const mem = new MemoryBackend();
    const slow = Object.create(mem) as MemoryBackend;
    slow.put = async (k, b) => {
      peak = Math.max(peak, ++active);
      await new Promise((r) => setTimeout(r, 5));
      active--;
      return mem.put(k, b);
    };
    const b = new LimitBackend(slow, { concurrency: 3 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => b.put(`k/${i}`, new Uint8Array())));
    expect(peak).toBe(3);
  });
});

describe('openBackend / parseLocation', () => {
  it('parses s3 URLs with parameters', () => {
    expect(parseLocation('s3://my-bucket/data/sets?endpoint=http://127.0.0.1:9000&region=eu-west-1&path-style=true')).toEqual({
      kind: 's3', bucket: 'my-bucket', prefix: 'data/sets/', endpoint: 'http://127.0.0.1:9000', region: 'eu-west-1', forcePathStyle: true,
    });
    expect(parseLocation('s3://bkt')).toEqual({ kind: 's3', bucket: 'bkt', prefix: '' });
    expect(openBackend('s3://bkt/p/?endpoint=http://127.0.0.1:1').location).toBe('s3://bkt/p/');
  });

  it('parses file URLs and plain paths', () => {
    expect(parseLocation('file:///srv/store')).toEqual({ kind: 'local', path: '/srv/store' });
    expect(parseLocation('/srv/store/')).toEqual({ kind: 'local', path: '/srv/store' });
    expect(parseLocation('rel/dir', '/home/u')).toEqual({ kind: 'local', path: '/home/u/rel/dir' });
  });

  it('rejects malformed locations with BAD_CONFIG', async () => {
    for (const url of ['', 'rel/dir', 'http://example.com/x', 'gs://b/p', 's3://Bad_Bucket/p', 's3://bkt/p?foo=1', 's3://bkt/p?endpoint=ftp://x',
      's3://bkt/p?path-style=yes', 's3://key:secret@bkt/p', 's3://bkt/a//b', 's3://bkt/../x', 'file://host/x']) {
      await expectCode(() => parseLocation(url), 'BAD_CONFIG');
    }
    // credentials in the URL (or its endpoint) are refused without being echoed into logs
    for (const url of ['s3://AKIAEXAMPLE:topsecret@bkt/p', 's3://AKIAEXAMPLE:topsecret@Bad_Bucket/p', 's3://bkt/p?endpoint=http://AKIAEXAMPLE:topsecret@host:9000', 's3://bkt/p?endpoint=http%3A%2F%2FAKIAEXAMPLE%3Atopsecret%40host']) {
      const e = (await expectCode(() => parseLocation(url), 'BAD_CONFIG')) as Error & { details: unknown };
      expect(`${e.message} ${JSON.stringify(e.details)}`).not.toMatch(/AKIAEXAMPLE|topsecret/);
    }
  });
});

describe('S3 error mapping (real server)', () => {
  const { config: s3, skipReason } = s3Config();
  it.skipIf(!s3)(`maps unreachable, bad credentials, missing bucket${s3 ? '' : ` (skipped: ${skipReason})`}`, async () => {
    const base = { endpoint: s3!.endpoint, region: s3!.region, forcePathStyle: true, credentialSource: 'test credentials' };
    const good = { accessKeyId: s3!.accessKey, secretAccessKey: s3!.secretKey };
    const unreachable = await expectCode(new S3Backend({ ...base, bucket: s3!.bucket, endpoint: 'http://127.0.0.1:1' , credentials: good }).get('x'), 'REMOTE_UNREACHABLE');
    expect(unreachable.message).toContain('127.0.0.1:1');
    expect(isRetryable(unreachable)).toBe(true);
    const auth = await expectCode(new S3Backend({ ...base, bucket: s3!.bucket, credentials: { ...good, secretAccessKey: 'wrong' } }).get('x'), 'REMOTE_AUTH');
    expect(auth.message).toContain('test credentials');
    expect(auth.hint).toContain('AWS_ACCESS_KEY_ID');
    await expectCode(new S3Backend({ ...base, bucket: s3!.bucket, credentials: { ...good, accessKeyId: 'nobody' } }).stat('x'), 'REMOTE_AUTH');
    await expectCode(new S3Backend({ ...base, bucket: 'mlstore-no-such-bucket', credentials: good }).get('x'), 'REMOTE_NOT_FOUND');
    const caps = await new S3Backend({ ...base, bucket: s3!.bucket, credentials: good, prefix: 'caps/' }).capabilities();
    expect(caps.atomicCompareAndSwap).toBe(true);
  });
});
