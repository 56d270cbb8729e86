import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';
import { describeBackendContract } from './backend-contract.js';
import { LimitBackend, LocalBackend, MemoryBackend, RetryBackend } from '../../src/storage/index.js';
import { S3Backend } from '../../src/storage/s3-backend.js';
import { s3Config } from '../s3/s3-config.js';

describeBackendContract('memory', async () => ({ backend: new MemoryBackend() }));

describeBackendContract('limit(retry(memory))', async () => ({
  backend: new LimitBackend(new RetryBackend(new MemoryBackend()), { concurrency: 3 }),
}));

describeBackendContract('local directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mlstore-local-'));
  const backend = new LocalBackend(join(dir, 'store'));
  return { backend, cleanup: () => rm(dir, { recursive: true, force: true }) };
});

// Two LocalBackend instances on one directory behave like two processes (no shared memory).
describeBackendContract('local directory, CAS across instances', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mlstore-local2-'));
  const a = new LocalBackend(dir);
  const b = new LocalBackend(dir);
  let i = 0;
  const backend = new Proxy(a, {
    get(target, prop) {
      if (prop === 'putIfVersion' || prop === 'getVersioned' || prop === 'delete') {
        const which = i++ % 2 === 0 ? a : b;
        const fn = (which as unknown as Record<string | symbol, (...args: unknown[]) => unknown>)[prop]!;
        return fn.bind(which);
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { backend, cleanup: () => rm(dir, { recursive: true, force: true }) };
});

const { config: s3, skipReason } = s3Config();
if (s3) {
  const client = (pageSize?: number) =>
    new S3Backend({
      bucket: s3.bucket,
      prefix: `contract-${randomBytes(6).toString('hex')}/`,
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
      credentialSource: s3.source,
      ...(pageSize ? { pageSize } : {}),
    });
  const cleanup = (backend: S3Backend) => async () => {
    const keys: string[] = [];
    for await (const o of backend.list('')) keys.push(o.key);
    await Promise.all(keys.map((k) => backend.delete(k)));
    await backend.close();
  };
  // Real pagination: more than one 1000-key page.
  describeBackendContract(`S3 (${s3.source})`, async () => {
    const backend = client();
    return { backend, cleanup: cleanup(backend) };
  }, { manyKeys: 1100 });
  describeBackendContract(`S3 small pages (${s3.source})`, async () => {
    const backend = client(7);
    return { backend: new LimitBackend(new RetryBackend(backend), { concurrency: 16 }), cleanup: cleanup(backend) };
  });
} else {
  describe('Backend contract: S3', () => {
    it.skip(`skipped: ${skipReason}`, () => {});
  });
}
