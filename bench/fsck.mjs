#!/usr/bin/env node
// Issue-5 benchmark: `mlstore fsck`, every figure beside a baseline measured in the same run.
//   npm run build && node bench/fsck.mjs [--gib 2] [--objects 20000] [--s3-objects 3000] [--runs 3] [--no-s3] [--nice N]
// F1  full fsck of a --gib store (local)    vs  one `openssl dgst -sha256` over the same bytes
//     (target: ≥ 1.3× openssl's throughput; page cache warm for both; peak RSS and CPU seconds reported)
// On a shared machine, --nice N runs both the baseline and fsck under `nice -n N` (same priority
// for both), and the CPU pressure (/proc/pressure/cpu) is printed so the figures can be judged.
// F2  --max-age 1d right after a full run on a store of --objects objects  (target: < 1 s, whole CLI run)
// F3  --fast on the test S3 server: objects/s, beside a full (download + hash) fsck of the same remote
//     (the server: MLSTORE_TEST_S3_* when set, else a radosgw started with test/s3/radosgw.sh)
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { add, commit, defaultEnv, fsck, init, push, remoteAdd } from '../dist/index.js';
import { flag, opt } from './args.mjs';

const GIB = opt('gib', 2);
const OBJECTS = opt('objects', 20000);
const S3_OBJECTS = opt('s3-objects', 3000);
const RUNS = opt('runs', 3);
const WITH_S3 = !flag('no-s3');
const NICE = flag('nice') ? ['nice', '-n', String(opt('nice', 0))] : [];
const pressure = () => {
  try {
    return readFileSync('/proc/pressure/cpu', 'utf8').split('\n')[0].replace('some ', '');
  } catch {
    return 'n/a';
  }
};
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'mlstore');
const base = mkdtempSync(join(tmpdir(), 'mlstore-bench-fsck-'));
const vars = { ...process.env, MLSTORE_AUTHOR_NAME: 'bench', MLSTORE_AUTHOR_EMAIL: 'bench@example.com' };
const env = defaultEnv({ vars });
const system = { platform: process.platform, arch: process.arch, node: process.version };

const gbps = (bytes, s) => `${(bytes / s / 1e9).toFixed(2)} GB/s`;
const row = (label, secs, extra = '') => console.log(`${label.padEnd(52)} ${secs.toFixed(3).padStart(8)} s  ${extra}`);
/** Runs a command under /usr/bin/time: wall seconds, peak RSS (KiB), stdout. */
function timed(cmd, argv, cwd, extraEnv = {}, input) {
  const pre = NICE.length ? [...NICE.slice(1), '/usr/bin/time'] : [];
  const r = spawnSync(NICE.length ? 'nice' : '/usr/bin/time', [...pre, '-f', '%e %M %U %S', cmd, ...argv], { cwd, env: { ...vars, ...extraEnv }, encoding: 'utf8', maxBuffer: 1 << 28, ...(input ? { input } : {}) });
  const m = /(\d+\.\d+) (\d+) (\d+\.\d+) (\d+\.\d+)\s*$/.exec(r.stderr);
  if (!m) throw new Error(`${cmd} ${argv.join(' ')}: no timing (${r.status}): ${r.stderr.slice(-2000)}`);
  return { secs: Number(m[1]), rssKiB: Number(m[2]), cpu: Number(m[3]) + Number(m[4]), stdout: r.stdout, status: r.status, stderr: r.stderr };
}
/** Precise wall time of a command (hrtime around spawnSync). */
function wall(cmd, argv, cwd, extraEnv = {}) {
  const t = process.hrtime.bigint();
  const r = spawnSync(NICE.length ? 'nice' : cmd, NICE.length ? [...NICE.slice(1), cmd, ...argv] : argv, { cwd, env: { ...vars, ...extraEnv }, encoding: 'utf8', maxBuffer: 1 << 28 });
  const secs = Number(process.hrtime.bigint() - t) / 1e9;
  return { secs, status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const fsckJson = (r) => {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`fsck printed no JSON (exit ${r.status}): ${r.stderr}`);
  }
};
function writeRandom(path, bytes) {
  const fd = openSync(path, 'w');
  const block = 16 << 20;
  for (let off = 0; off < bytes; off += block) writeSync(fd, randomBytes(Math.min(block, bytes - off)));
  closeSync(fd);
}

console.log(`# mlstore fsck benchmark — ${new Date().toISOString()}, node ${process.version}, ${cpus().length} cores, ${base}`);
console.log(`# load average at start: ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
let stopServer = () => {};
try {
  // ---- F1: full local fsck vs openssl
  const big = join(base, 'big');
  mkdirSync(join(big, 'data'), { recursive: true });
  const files = [];
  const per = 256 << 20;
  for (let left = Math.round(GIB * 2 ** 30), i = 0; left > 0; left -= per, i++) {
    const p = join(big, 'data', `part-${i}.bin`);
    writeRandom(p, Math.min(per, left));
    files.push(p);
  }
  await init({ dir: big, env });
  await add({ dir: big, paths: ['data'], env });
  await commit({ dir: big, message: 'bench', env, system });
  const warm = fsckJson(wall('node', [bin, 'fsck', '--json'], big));
  const bytes = warm.counts.storedBytes.chunks;
  console.log(`F1 store: ${files.length} files, ${warm.counts.objects.chunks} chunks, ${(bytes / 2 ** 30).toFixed(2)} GiB; ok=${warm.ok}`);
  const objectFiles = [];
  for (const fan of readdirSync(join(big, '.mlstore', 'objects', 'chunks'))) {
    for (const n of readdirSync(join(big, '.mlstore', 'objects', 'chunks', fan))) objectFiles.push(join('.mlstore', 'objects', 'chunks', fan, n));
  }
  const best = { fsck: Infinity, openssl: Infinity, opensslObjects: Infinity, rss: 0, fsckCpu: Infinity, opensslCpu: Infinity };
  console.log(`# CPU pressure before F1: ${pressure()}${NICE.length ? `; both run under ${NICE.join(' ')}` : ''}`);
  for (let run = 0; run < RUNS; run++) {
    const o = timed('openssl', ['dgst', '-sha256', ...files], big);
    if (o.status !== 0) throw new Error(o.stderr);
    best.openssl = Math.min(best.openssl, o.secs);
    best.opensslCpu = Math.min(best.opensslCpu, o.cpu);
    const ox = timed('xargs', ['-0', 'openssl', 'dgst', '-sha256'], big, {}, objectFiles.join('\0'));
    best.opensslObjects = Math.min(best.opensslObjects, ox.secs);
    const f = timed('node', [bin, 'fsck', '--json', '--signature-severity', 'off'], big);
    const rep = fsckJson(f);
    if (!rep.ok || rep.counts.verified.chunks !== rep.counts.objects.chunks) throw new Error('fsck did not verify everything');
    best.fsck = Math.min(best.fsck, f.secs);
    best.fsckCpu = Math.min(best.fsckCpu, f.cpu);
    best.rss = Math.max(best.rss, f.rssKiB);
  }
  row('openssl dgst -sha256 over the data files (1 proc)', best.openssl, `${gbps(bytes, best.openssl)}  CPU ${best.opensslCpu.toFixed(2)} s`);
  row('openssl dgst -sha256 over the object files', best.opensslObjects, gbps(bytes, best.opensslObjects));
  row('mlstore fsck (full, local, whole CLI run)', best.fsck, `${gbps(bytes, best.fsck)}  CPU ${best.fsckCpu.toFixed(2)} s  peak RSS ${(best.rss / 1024).toFixed(0)} MiB`);
  // The same check through the library API in this (already started) process: the checker's own
  // throughput, without Node's start-up and the CLI loading every command's modules.
  let bestApi = Infinity;
  for (let run = 0; run < RUNS; run++) {
    const t = process.hrtime.bigint();
    const rep = await fsck({ dir: big, env, signatureSeverity: 'off' });
    if (!rep.ok) throw new Error('fsck (API) found problems');
    bestApi = Math.min(bestApi, Number(process.hrtime.bigint() - t) / 1e9);
  }
  row('fsck() through the library API (in-process)', bestApi, gbps(bytes, bestApi));
  const cliStart = Math.min(...Array.from({ length: RUNS }, () => wall('node', [bin, '--version'], big).secs));
  row('  of which not fsck: `mlstore --version`', cliStart, 'Node start-up + loading the CLI');
  console.log(`F1 fsck / openssl throughput: CLI ${(best.openssl / best.fsck).toFixed(2)}×, API ${(best.openssl / bestApi).toFixed(2)}×  (target ≥ 1.30×; best of ${RUNS}); CPU pressure after: ${pressure()}\n`);
  rmSync(join(big, 'data'), { recursive: true, force: true });

  // ---- F2: --max-age after a full run on a store of OBJECTS objects
  const many = join(base, 'many');
  const dirs = 100;
  for (let d = 0; d < dirs; d++) mkdirSync(join(many, 'data', `d${d}`), { recursive: true });
  const fileCount = OBJECTS - dirs - 3; // + one tree per directory, the data tree, the root tree, the commit
  for (let i = 0; i < fileCount; i++) writeFileSync(join(many, 'data', `d${i % dirs}`, `f${i}.bin`), randomBytes(1024 + (i % 3072)));
  await init({ dir: many, env });
  await add({ dir: many, paths: ['data'], env });
  await commit({ dir: many, message: 'many', env, system });
  const full = fsckJson(wall('node', [bin, 'fsck', '--json', '--signature-severity', 'off'], many));
  const total = full.counts.objects.chunks + full.counts.objects.meta;
  let bestFull = Infinity;
  let bestAge = Infinity;
  let ageReport;
  for (let run = 0; run < RUNS; run++) {
    const f = wall('node', [bin, 'fsck', '--json', '--signature-severity', 'off'], many);
    bestFull = Math.min(bestFull, f.secs);
    const a = wall('node', [bin, 'fsck', '--json', '--signature-severity', 'off', '--max-age', '1d'], many);
    ageReport = fsckJson(a);
    bestAge = Math.min(bestAge, a.secs);
  }
  const startup = Math.min(...Array.from({ length: RUNS }, () => wall('node', [bin, '--version'], many).secs));
  console.log(`# CPU pressure during F2: ${pressure()}`);
  console.log(`F2 store: ${total} objects (${full.counts.objects.chunks} chunks, ${full.counts.objects.meta} metadata)`);
  row('mlstore --version (node start-up, baseline)', startup);
  row('mlstore fsck, full', bestFull, `${((total / bestFull) | 0)} objects/s`);
  row('mlstore fsck --max-age 1d right after', bestAge, `skipped ${ageReport.counts.skipped.recent} chunks, re-read ${ageReport.counts.verified.chunks}; metadata ${ageReport.counts.verified.meta}`);
  console.log(`F2 --max-age run: ${bestAge.toFixed(3)} s (target < 1 s)\n`);

  // ---- F3: --fast on S3
  if (!WITH_S3) {
    console.log('F3 skipped (--no-s3)');
  } else {
    let s3 = {
      endpoint: process.env.MLSTORE_TEST_S3_ENDPOINT,
      accessKey: process.env.MLSTORE_TEST_S3_ACCESS_KEY,
      secretKey: process.env.MLSTORE_TEST_S3_SECRET_KEY,
      bucket: process.env.MLSTORE_TEST_S3_BUCKET,
    };
    if (!s3.endpoint && existsSync('/usr/bin/radosgw')) {
      const rgwEnv = { ...process.env, MLSTORE_RGW_DIR: join(base, 'rgw') };
      console.log('starting radosgw (test/s3/radosgw.sh start) …');
      const out = execFileSync('bash', [join(root, 'test/s3/radosgw.sh'), 'start'], { env: rgwEnv, encoding: 'utf8' });
      const v = Object.fromEntries([...out.matchAll(/(MLSTORE_TEST_S3_[A-Z_]+)=(\S+)/g)].map((m) => [m[1], m[2]]));
      s3 = { endpoint: v.MLSTORE_TEST_S3_ENDPOINT, accessKey: v.MLSTORE_TEST_S3_ACCESS_KEY, secretKey: v.MLSTORE_TEST_S3_SECRET_KEY, bucket: v.MLSTORE_TEST_S3_BUCKET };
      stopServer = () => execFileSync('bash', [join(root, 'test/s3/radosgw.sh'), 'stop'], { env: rgwEnv, stdio: 'ignore' });
    }
    if (!s3.endpoint) {
      console.log('F3 skipped: no S3 server (set MLSTORE_TEST_S3_* or install radosgw)');
    } else {
      const creds = { AWS_ACCESS_KEY_ID: s3.accessKey, AWS_SECRET_ACCESS_KEY: s3.secretKey };
      const s3env = defaultEnv({ vars: { ...vars, ...creds } });
      const url = `s3://${s3.bucket}/bench-fsck-${randomBytes(4).toString('hex')}`;
      const remoteRepo = join(base, 's3src');
      for (let d = 0; d < 10; d++) mkdirSync(join(remoteRepo, 'data', `d${d}`), { recursive: true });
      for (let i = 0; i < S3_OBJECTS - 13; i++) writeFileSync(join(remoteRepo, 'data', `d${i % 10}`, `f${i}.bin`), randomBytes(4096 + (i % 4096)));
      await init({ dir: remoteRepo, env });
      await add({ dir: remoteRepo, paths: ['data'], env });
      await commit({ dir: remoteRepo, message: 's3', env, system });
      await remoteAdd({ dir: remoteRepo, name: 'bench', url, endpoint: s3.endpoint, env: s3env });
      const tp = process.hrtime.bigint();
      await push({ dir: remoteRepo, remote: 'bench', env: s3env });
      console.log(`F3 pushed ${S3_OBJECTS} objects to ${s3.endpoint} in ${(Number(process.hrtime.bigint() - tp) / 1e9).toFixed(1)} s`);
      const fast = wall('node', [bin, 'fsck', '--remote', 'bench', '--fast', '--json', '--signature-severity', 'off'], remoteRepo, creds);
      const fastRep = fsckJson(fast);
      const dl = wall('node', [bin, 'fsck', '--remote', 'bench', '--json', '--signature-severity', 'off'], remoteRepo, creds);
      const dlRep = fsckJson(dl);
      const n = fastRep.counts.objects.chunks;
      row('fsck --remote (full: GET + SHA-256 every chunk)', dl.secs, `${((n / dl.secs) | 0)} chunks/s; ok=${dlRep.ok}`);
      row('fsck --remote --fast (HEAD, stored checksum)', fast.secs, `${((n / fast.secs) | 0)} chunks/s`);
      const noSum = fastRep.problems.find((p) => p.code === 'NO_STORED_CHECKSUM');
      console.log(noSum
        ? `F3 note: this server keeps no SHA-256 checksum, so --fast verified nothing and said so (NO_STORED_CHECKSUM for ${noSum.facts.objects} objects); the rate is what HEAD costs`
        : `F3 --fast verified ${fastRep.counts.verified.chunks} chunks against the server's stored checksums`);
    }
  }
} finally {
  try {
    stopServer();
  } catch {}
  rmSync(base, { recursive: true, force: true });
}
