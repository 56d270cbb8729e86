// Uploads through S3Backend + LimitBackend vs a plain @aws-sdk/client-s3 PutObject loop at the
// same concurrency, on the test server (MLSTORE_TEST_S3_* or a radosgw started here).
//   npm run build && node bench/s3-put.mjs [concurrency]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LimitBackend, S3Backend } from '../dist/storage/index.js';

const C = Number(process.argv[2] ?? 32);
const script = join(dirname(fileURLToPath(import.meta.url)), '../test/s3/radosgw.sh');
let env = process.env;
let stop = () => {};
if (!env.MLSTORE_TEST_S3_ENDPOINT) {
  const dir = mkdtempSync(join(tmpdir(), 'mlstore-bench-rgw-'));
  const senv = { ...process.env, MLSTORE_RGW_DIR: dir };
  const out = execFileSync('bash', [script, 'start'], { env: senv, encoding: 'utf8' });
  env = { ...env, ...Object.fromEntries([...out.matchAll(/(MLSTORE_TEST_S3_[A-Z_]+)=(\S+)/g)].map((m) => [m[1], m[2]])) };
  stop = () => execFileSync('bash', [script, 'stop'], { env: senv, stdio: 'ignore' });
}
const conf = {
  endpoint: env.MLSTORE_TEST_S3_ENDPOINT,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: env.MLSTORE_TEST_S3_ACCESS_KEY, secretAccessKey: env.MLSTORE_TEST_S3_SECRET_KEY },
};
const bucket = env.MLSTORE_TEST_S3_BUCKET;
const run = randomBytes(4).toString('hex');

async function pool(items, c, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: c }, async () => { while (next < items.length) await fn(items[next++]); }));
}

async function viaBackend(name, objs) {
  const backend = new LimitBackend(new S3Backend({ ...conf, bucket, prefix: `bench-${run}/${name}/`, maxSockets: C }), { concurrency: C });
  const t0 = performance.now();
  await Promise.all(objs.map((o) => backend.put(o.key, o.bytes)));
  const ms = performance.now() - t0;
  await backend.close();
  return ms;
}

async function viaSdk(name, objs) {
  const client = new S3Client({ ...conf, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  const t0 = performance.now();
  await pool(objs, C, (o) => client.send(new PutObjectCommand({ Bucket: bucket, Key: `bench-${run}/sdk-${name}/${o.key}`, Body: o.bytes })));
  const ms = performance.now() - t0;
  client.destroy();
  return ms;
}

const fmt = (objs, ms) => {
  const bytes = objs.reduce((s, o) => s + o.bytes.length, 0);
  return `${(bytes / 2 ** 20 / (ms / 1000)).toFixed(1).padStart(7)} MiB/s ${Math.round(objs.length / (ms / 1000)).toString().padStart(6)} objects/s`;
};

try {
  console.log(`s3-put against ${conf.endpoint} (bucket ${bucket}), concurrency ${C}`);
  for (const [name, n, size] of [['1MiB', 256, 1 << 20], ['4KiB', 5000, 4096]]) {
    const objs = Array.from({ length: n }, (_, i) => ({ key: `o/${i}`, bytes: randomBytes(size) }));
    // warm both paths (connections), then measure backend, sdk, backend, sdk and keep the best of each
    const backendMs = [], sdkMs = [];
    for (let round = 0; round < 2; round++) {
      backendMs.push(await viaBackend(`${name}-${round}`, objs));
      sdkMs.push(await viaSdk(`${name}-${round}`, objs));
    }
    const b = Math.min(...backendMs), s = Math.min(...sdkMs);
    console.log(`${String(n).padStart(5)} × ${name.padEnd(5)} S3Backend+LimitBackend ${fmt(objs, b)}`);
    console.log(`${String(n).padStart(5)} × ${name.padEnd(5)} plain SDK PutObject     ${fmt(objs, s)}`);
    console.log(`${' '.repeat(14)}ratio backend/plain: ${(s / b).toFixed(2)}×`);
  }
} finally {
  stop();
}
