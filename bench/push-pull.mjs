// Benchmark: mlstore push / fetch / checkout against an S3 server, beside a plain
// @aws-sdk/client-s3 PutObject / GetObject loop over the very same objects at the same
// concurrency, measured in the same run. Also: a re-push with nothing new (target < 2 s).
//
//   npm run build && node bench/push-pull.mjs [--size 1GiB] [--files 20000] [--jobs 32] [--dir DIR]
//
// Workloads: BIG = --size of incompressible data in 4 files (1 MiB average chunks);
// SMALL = --files files of 1–16 KiB in 100 directories (--files 0 or --size 0 skips one).
// The server: MLSTORE_TEST_S3_ENDPOINT/_ACCESS_KEY/_SECRET_KEY/_BUCKET when set (e.g. from
// `bash test/s3/radosgw.sh start`), otherwise a radosgw started here with test/s3/radosgw.sh
// (and stopped at the end). Everything is written under --dir (default: a temp dir) and deleted.
// Many-file timings depend on the file system (see ../shared/facts/performance.md): pass a
// freshly made file system as --dir for stable SMALL figures.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { add, checkout, commit, defaultEnv, fetch, init, push, remoteAdd } from '../dist/index.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}
function parseSize(text) {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kib|mib|gib|k|m|g)?$/i.exec(text);
  if (!m) throw new Error(`bad size ${text}`);
  const mult = { b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase()];
  return Math.round(Number(m[1]) * mult);
}
const bigBytes = parseSize(arg('size', '1GiB'));
const smallFiles = Number(arg('files', '20000'));
const jobs = Number(arg('jobs', '32'));
const base = mkdtempSync(join(arg('dir', tmpdir()), 'mlstore-bench-'));

// ---- the server ----
let stopServer = () => {};
let s3cfg = {
  endpoint: process.env.MLSTORE_TEST_S3_ENDPOINT,
  accessKey: process.env.MLSTORE_TEST_S3_ACCESS_KEY,
  secretKey: process.env.MLSTORE_TEST_S3_SECRET_KEY,
  bucket: process.env.MLSTORE_TEST_S3_BUCKET,
};
if (!s3cfg.endpoint) {
  const rgwDir = join(base, 'rgw');
  const env = { ...process.env, MLSTORE_RGW_DIR: rgwDir };
  console.log('starting radosgw (test/s3/radosgw.sh start) …');
  const out = execFileSync('bash', [join(root, 'test/s3/radosgw.sh'), 'start'], { env, encoding: 'utf8' });
  const v = Object.fromEntries([...out.matchAll(/(MLSTORE_TEST_S3_[A-Z_]+)=(\S+)/g)].map((m) => [m[1], m[2]]));
  s3cfg = { endpoint: v.MLSTORE_TEST_S3_ENDPOINT, accessKey: v.MLSTORE_TEST_S3_ACCESS_KEY, secretKey: v.MLSTORE_TEST_S3_SECRET_KEY, bucket: v.MLSTORE_TEST_S3_BUCKET };
  stopServer = () => execFileSync('bash', [join(root, 'test/s3/radosgw.sh'), 'stop'], { env, stdio: 'ignore' });
}
const vars = {
  ...process.env,
  AWS_ACCESS_KEY_ID: s3cfg.accessKey,
  AWS_SECRET_ACCESS_KEY: s3cfg.secretKey,
  MLSTORE_AUTHOR_NAME: 'bench',
  MLSTORE_AUTHOR_EMAIL: 'bench@example.com',
};
const env = defaultEnv({ vars });
const system = { platform: process.platform, arch: process.arch, node: process.version };
const client = new S3Client({
  endpoint: s3cfg.endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: s3cfg.accessKey, secretAccessKey: s3cfg.secretKey },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  maxAttempts: 3,
  requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: Math.max(64, jobs) }) },
});

// ---- helpers ----
const now = () => performance.now();
const mb = (bytes, ms) => bytes / 1e6 / (ms / 1000);
const fmtS = (ms) => `${(ms / 1000).toFixed(2)} s`;
const rows = [];
function report(workload, op, ms, bytes, objects, baseMs) {
  const row = { workload, op, seconds: +(ms / 1000).toFixed(3), MBps: +mb(bytes, ms).toFixed(1), objectsPerS: Math.round(objects / (ms / 1000)) };
  if (baseMs !== undefined) {
    row.baselineSeconds = +(baseMs / 1000).toFixed(3);
    row.baselineMBps = +mb(bytes, baseMs).toFixed(1);
    row.baselineObjectsPerS = Math.round(objects / (baseMs / 1000));
    row.ratio = +(baseMs / ms).toFixed(2);
  }
  rows.push(row);
  const b = baseMs === undefined ? '' : `   | aws-sdk loop ${fmtS(baseMs)} ${row.baselineMBps} MB/s ${row.baselineObjectsPerS} obj/s   → mlstore at ${row.ratio}× the baseline`;
  console.log(`  ${op.padEnd(22)} ${fmtS(ms).padStart(9)} ${String(row.MBps).padStart(7)} MB/s ${String(row.objectsPerS).padStart(6)} obj/s${b}`);
}

function storeObjects(repoDir) {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push({ key: relative(join(repoDir, '.mlstore'), p), path: p });
    }
  };
  walk(join(repoDir, '.mlstore/objects'));
  return out;
}

async function deletePrefix(prefix) {
  let token;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: s3cfg.bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key }));
    if (keys.length) await client.send(new DeleteObjectsCommand({ Bucket: s3cfg.bucket, Delete: { Objects: keys, Quiet: true } }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** The same objects with a plain PutObject loop (read from disk, like mlstore reads its store). */
async function baselinePut(objects, prefix) {
  const limit = pLimit(jobs);
  const t = now();
  await Promise.all(objects.map((o) => limit(async () => {
    const body = await readFile(o.path);
    await client.send(new PutObjectCommand({ Bucket: s3cfg.bucket, Key: `${prefix}${o.key}`, Body: body, ContentLength: body.length }));
  })));
  return now() - t;
}

/** …and a plain GetObject loop reading each body into memory. */
async function baselineGet(objects, prefix) {
  const limit = pLimit(jobs);
  const t = now();
  let bytes = 0;
  await Promise.all(objects.map((o) => limit(async () => {
    const r = await client.send(new GetObjectCommand({ Bucket: s3cfg.bucket, Key: `${prefix}${o.key}` }));
    bytes += (await r.Body.transformToByteArray()).length;
  })));
  return { ms: now() - t, bytes };
}

async function workload(name, writeData) {
  const tag = `bench-${randomBytes(4).toString('hex')}-${name}`;
  const url = `s3://${s3cfg.bucket}/${tag}`;
  const src = join(base, `${name}-src`);
  const dst = join(base, `${name}-dst`);
  mkdirSync(src, { recursive: true });
  const description = writeData(src);
  console.log(`\n${name}: ${description}, --jobs ${jobs}`);
  await init({ dir: src, env });
  let t = now();
  await add({ dir: src, paths: ['data'], env });
  const c = await commit({ dir: src, message: name, env, system });
  console.log(`  (add + commit ${fmtS(now() - t)}; commit ${c.id.slice(0, 12)})`);
  await remoteAdd({ dir: src, name: 'origin', url, endpoint: s3cfg.endpoint, env });
  const objects = storeObjects(src);

  t = now();
  const p = await push({ dir: src, jobs, env });
  const pushMs = now() - t;
  if (p.objects.uploaded !== objects.length) console.log(`  note: pushed ${p.objects.uploaded} objects, the store holds ${objects.length}`);
  const basePutMs = await baselinePut(objects, `${tag}-baseline/`);
  report(name, 'push', pushMs, p.objects.bytes, p.objects.uploaded, basePutMs);

  t = now();
  const again = await push({ dir: src, jobs, env });
  const repushMs = now() - t;
  report(name, 're-push (nothing new)', repushMs, 0, again.objects.uploaded);
  console.log(`  re-push sent ${again.objects.uploaded} objects: ${repushMs < 2000 ? 'OK' : 'ABOVE'} the 2 s target`);

  mkdirSync(dst, { recursive: true });
  await init({ dir: dst, env });
  await remoteAdd({ dir: dst, name: 'origin', url, endpoint: s3cfg.endpoint, env });
  t = now();
  const f = await fetch({ dir: dst, jobs, env });
  const fetchMs = now() - t;
  const g = await baselineGet(objects, `${tag}-baseline/`);
  report(name, 'fetch (verify + store)', fetchMs, f.objects.bytes, f.objects.downloaded, g.ms);
  t = now();
  const co = await checkout({ dir: dst, rev: c.id, env });
  const coMs = now() - t;
  report(name, 'checkout (write files)', coMs, co.bytesWritten, co.written.length);
  report(name, 'pull = fetch + checkout', fetchMs + coMs, f.objects.bytes, f.objects.downloaded, g.ms);

  await Promise.all([deletePrefix(`${tag}/`), deletePrefix(`${tag}-baseline/`)]);
  rmSync(src, { recursive: true, force: true });
  rmSync(dst, { recursive: true, force: true });
}

try {
  console.log(`mlstore push/pull bench — server ${s3cfg.endpoint} bucket ${s3cfg.bucket}; work dir ${base}`);
  if (bigBytes > 0) {
    await workload('big', (dir) => {
      const per = Math.floor(bigBytes / 4);
      const buf = Buffer.allocUnsafe(Math.min(per, 64 << 20));
      mkdirSync(join(dir, 'data'), { recursive: true });
      for (let i = 0; i < 4; i++) {
        const path = join(dir, 'data', `shard-${i}.bin`);
        writeFileSync(path, '');
        for (let off = 0; off < per; off += buf.length) {
          const n = Math.min(buf.length, per - off);
          randomFillSync(buf, 0, n);
          writeFileSync(path, buf.subarray(0, n), { flag: 'a' });
        }
      }
      return `${(bigBytes / 2 ** 30).toFixed(2)} GiB in 4 files`;
    });
  }
  if (smallFiles > 0) {
    await workload('small', (dir) => {
      for (let d = 0; d < 100; d++) mkdirSync(join(dir, 'data', `d${d}`), { recursive: true });
      for (let i = 0; i < smallFiles; i++) writeFileSync(join(dir, 'data', `d${i % 100}`, `f${i}.bin`), randomBytes(1024 + ((i * 7919) % (15 * 1024))));
      return `${smallFiles} files of 1–16 KiB in 100 directories`;
    });
  }
  console.log('\nJSON:', JSON.stringify(rows));
} finally {
  client.destroy();
  rmSync(base, { recursive: true, force: true });
  stopServer();
}
