// Benchmark: mlstore push / fetch / checkout against an S3 server, beside a plain
// @aws-sdk/client-s3 PutObject / GetObject loop over the very same objects at the same
// concurrency, measured in the same run. Also: a re-push with nothing new (target < 2 s).
//
//   npm run build && node bench/push-pull.mjs [--size 1GiB] [--files 20000] [--jobs 32] [--reps 1] [--dir DIR]
//
// With --reps N each measurement is repeated N times, mlstore and the baseline alternating which
// goes first, and medians are printed (on a shared machine single runs swing by ±40%).
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
import { open, readFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { add, checkout, commit, defaultEnv, fetch, init, push, remoteAdd } from '../dist/index.js';
import { arg } from './args.mjs';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

function parseSize(text) {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kib|mib|gib|k|m|g)?$/i.exec(text);
  if (!m) throw new Error(`bad size ${text}`);
  const mult = { b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase()];
  return Math.round(Number(m[1]) * mult);
}
const bigBytes = parseSize(arg('size', '1GiB'));
const smallFiles = Number(arg('files', '20000'));
const jobs = Number(arg('jobs', '32'));
const reps = Number(arg('reps', '1'));
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
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmtS = (ms) => `${(ms / 1000).toFixed(2)} s`;
const rows = [];

/** One line: mlstore's median beside each baseline's median, as rates and as a ratio. */
function report(workload, op, bytes, objects, ms, baselines = {}) {
  const m = median(ms);
  const row = { workload, op, objects, bytes, seconds: ms.map((x) => +(x / 1000).toFixed(3)), MBps: +(bytes / 1e6 / (m / 1000)).toFixed(1), objectsPerS: Math.round(objects / (m / 1000)) };
  let line = `  ${op.padEnd(24)} ${fmtS(m).padStart(8)} ${String(row.MBps).padStart(7)} MB/s ${String(row.objectsPerS).padStart(6)} obj/s`;
  for (const [name, bms] of Object.entries(baselines)) {
    const b = median(bms);
    row[name] = { seconds: bms.map((x) => +(x / 1000).toFixed(3)), ratio: +(b / m).toFixed(2) };
    line += `  | ${name} ${fmtS(b)} ${(bytes / 1e6 / (b / 1000)).toFixed(1)} MB/s → ${row[name].ratio}×`;
  }
  rows.push(row);
  console.log(line);
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

/** …and a plain GetObject loop: bodies into memory, or each written to its own file and fsynced (what a durable download must do). */
async function baselineGet(objects, prefix, toDir) {
  const limit = pLimit(jobs);
  if (toDir) mkdirSync(toDir, { recursive: true });
  const t = now();
  await Promise.all(objects.map((o, i) => limit(async () => {
    const r = await client.send(new GetObjectCommand({ Bucket: s3cfg.bucket, Key: `${prefix}${o.key}` }));
    const body = await r.Body.transformToByteArray();
    if (!toDir) return;
    const fh = await open(join(toDir, `o${i}`), 'w');
    await fh.write(body);
    await fh.sync();
    await fh.close();
  })));
  const ms = now() - t;
  if (toDir) rmSync(toDir, { recursive: true, force: true });
  return ms;
}

/** A freshly started server is slow on its first writes: pay that before measuring. */
async function warmUp() {
  const prefix = `bench-warmup-${randomBytes(4).toString('hex')}/`;
  const body = randomBytes(1 << 20);
  const limit = pLimit(jobs);
  await Promise.all(Array.from({ length: 256 }, (_, i) => limit(() => client.send(new PutObjectCommand({ Bucket: s3cfg.bucket, Key: `${prefix}${i}`, Body: body })))));
  await Promise.all(Array.from({ length: 256 }, (_, i) => limit(async () => (await client.send(new GetObjectCommand({ Bucket: s3cfg.bucket, Key: `${prefix}${i}` }))).Body.transformToByteArray())));
  await deletePrefix(prefix);
}

async function workload(name, writeData) {
  const tag = `bench-${randomBytes(4).toString('hex')}-${name}`;
  const src = join(base, `${name}-src`);
  mkdirSync(src, { recursive: true });
  const description = writeData(src);
  console.log(`\n${name}: ${description}; --jobs ${jobs}, ${reps} alternating repetition(s), medians`);
  await init({ dir: src, env });
  let t = now();
  await add({ dir: src, paths: ['data'], env });
  const c = await commit({ dir: src, message: name, env, system });
  console.log(`  (add + commit ${fmtS(now() - t)}; commit ${c.id.slice(0, 12)})`);
  const objects = storeObjects(src);
  const m = { push: [], put: [], repush: [], fetch: [], getMem: [], getFsync: [], checkout: [] };
  let pushed;
  let fetched;
  let co;
  for (let rep = 0; rep < reps; rep++) {
    const remote = `r${rep}`;
    const url = `s3://${s3cfg.bucket}/${tag}-${rep}`;
    const basePrefix = `${tag}-${rep}-baseline/`;
    await remoteAdd({ dir: src, name: remote, url, endpoint: s3cfg.endpoint, env });
    const runPush = async () => {
      t = now();
      pushed = await push({ dir: src, remote, jobs, env });
      m.push.push(now() - t);
    };
    const runPut = async () => m.put.push(await baselinePut(objects, basePrefix));
    if (rep % 2 === 0) await runPush().then(runPut);
    else await runPut().then(runPush);
    if (pushed.objects.uploaded !== objects.length) console.log(`  note: pushed ${pushed.objects.uploaded} objects, the store holds ${objects.length}`);

    t = now();
    const again = await push({ dir: src, remote, jobs, env });
    m.repush.push(now() - t);
    if (again.objects.uploaded !== 0) console.log(`  note: the re-push sent ${again.objects.uploaded} objects`);

    const dst = join(base, `${name}-dst-${rep}`);
    mkdirSync(dst, { recursive: true });
    await init({ dir: dst, env });
    await remoteAdd({ dir: dst, name: 'origin', url, endpoint: s3cfg.endpoint, env });
    const runFetch = async () => {
      t = now();
      fetched = await fetch({ dir: dst, jobs, env });
      m.fetch.push(now() - t);
    };
    const runGets = async () => {
      m.getMem.push(await baselineGet(objects, basePrefix));
      m.getFsync.push(await baselineGet(objects, basePrefix, join(base, `${name}-get-${rep}`)));
    };
    if (rep % 2 === 0) await runFetch().then(runGets);
    else await runGets().then(runFetch);
    t = now();
    co = await checkout({ dir: dst, rev: c.id, env });
    m.checkout.push(now() - t);
    await Promise.all([deletePrefix(`${tag}-${rep}/`), deletePrefix(basePrefix)]);
    rmSync(dst, { recursive: true, force: true });
  }
  const n = objects.length;
  report(name, 'push', pushed.objects.bytes, n, m.push, { 'PutObject loop': m.put });
  report(name, 're-push (nothing new)', 0, 0, m.repush);
  console.log(`  re-push: ${median(m.repush) < 2000 ? 'within' : 'ABOVE'} the 2 s target`);
  report(name, 'fetch (verify + store)', fetched.objects.bytes, n, m.fetch, { 'GetObject→memory': m.getMem, 'GetObject→file+fsync': m.getFsync });
  report(name, 'checkout (write files)', co.bytesWritten, co.written.length, m.checkout);
  const pull = m.fetch.map((f, i) => f + m.checkout[i]);
  report(name, 'pull = fetch + checkout', fetched.objects.bytes, n, pull, { 'GetObject→file+fsync': m.getFsync });
  rmSync(src, { recursive: true, force: true });
}

try {
  console.log(`mlstore push/pull bench — server ${s3cfg.endpoint} bucket ${s3cfg.bucket}; work dir ${base}`);
  await warmUp();
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
