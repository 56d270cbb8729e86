// 20,000 objects of 1–16 KiB through LocalBackend (put ×N + flush), beside `cp -r` of the same
// bytes as plain files (and `cp -r` + `sync -f`, its durable equivalent), on a freshly made ext4
// when we can loop-mount one (see the many-file trap in the performance notes), else in $TMPDIR.
//   npm run build && node bench/local-put.mjs [count]      (UV_THREADPOOL_SIZE=64 to widen the fs pool)
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBackend } from '../dist/storage/index.js';

const N = Number(process.argv[2] ?? 20_000);
const CONCURRENCY = 64;
const base = mkdtempSync(join(tmpdir(), 'mlstore-bench-local-'));
let mnt = base;
let mounted = false;
try {
  execFileSync('truncate', ['-s', '3G', join(base, 'fs.img')]);
  execFileSync('mkfs.ext4', ['-q', '-F', join(base, 'fs.img')]);
  mnt = join(base, 'mnt');
  mkdirSync(mnt);
  execFileSync('mount', ['-o', 'loop', join(base, 'fs.img'), mnt], { stdio: 'pipe' });
  mounted = true;
} catch {
  mnt = base;
}
const where = mounted ? `fresh loop-mounted ext4 (${mnt})` : `${base} (could not loop-mount a fresh ext4; numbers may suffer from the many-file trap)`;

const objects = Array.from({ length: N }, (_, i) => {
  const bytes = randomBytes(1024 + ((i * 7919) % (15 * 1024)));
  const id = createHash('sha256').update(bytes).digest('hex');
  return { key: `objects/${id.slice(0, 2)}/${id.slice(2)}`, bytes };
});
const totalBytes = objects.reduce((s, o) => s + o.bytes.length, 0);

async function pool(items, c, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: c }, async () => { while (next < items.length) await fn(items[next++]); }));
}
const rate = (ms) => `${Math.round(N / (ms / 1000)).toLocaleString('en')} files/s`;

async function runBackend(durability) {
  const root = join(mnt, `store-${durability}`);
  const b = new LocalBackend(root, { durability });
  const t0 = performance.now();
  await pool(objects, CONCURRENCY, (o) => b.put(o.key, o.bytes));
  const t1 = performance.now();
  await b.flush();
  const t2 = performance.now();
  rmSync(root, { recursive: true, force: true });
  return { puts: t1 - t0, flush: t2 - t1, total: t2 - t0 };
}

function runCp() {
  const src = join(mnt, 'plain-src');
  for (const o of objects) {
    mkdirSync(join(src, o.key, '..'), { recursive: true });
    writeFileSync(join(src, o.key), o.bytes);
  }
  execFileSync('sync', ['-f', src]);
  const t0 = performance.now();
  execFileSync('cp', ['-r', src, join(mnt, 'plain-dst')]);
  const t1 = performance.now();
  execFileSync('sync', ['-f', join(mnt, 'plain-dst')]);
  const t2 = performance.now();
  rmSync(src, { recursive: true, force: true });
  rmSync(join(mnt, 'plain-dst'), { recursive: true, force: true });
  return { cp: t1 - t0, cpSync: t2 - t0 };
}

try {
  console.log(`local-put: ${N} objects, ${(totalBytes / 2 ** 20).toFixed(1)} MiB, concurrency ${CONCURRENCY}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`);
  console.log(`ran on: ${where}`);
  const cp = runCp();
  const durable = await runBackend('fsync');
  const none = await runBackend('none');
  console.log(`cp -r                          ${cp.cp.toFixed(0).padStart(6)} ms  ${rate(cp.cp)}`);
  console.log(`cp -r + sync -f                ${cp.cpSync.toFixed(0).padStart(6)} ms  ${rate(cp.cpSync)}`);
  console.log(`LocalBackend fsync  (put+flush)${durable.total.toFixed(0).padStart(6)} ms  ${rate(durable.total)}  (puts ${durable.puts.toFixed(0)} ms, flush ${durable.flush.toFixed(0)} ms)`);
  console.log(`LocalBackend none   (no fsync) ${none.total.toFixed(0).padStart(6)} ms  ${rate(none.total)}`);
  console.log(`ratio durable LocalBackend / (cp -r + sync -f): ${(cp.cpSync / durable.total).toFixed(2)}×`);
} finally {
  if (mounted) execFileSync('umount', [mnt]);
  rmSync(base, { recursive: true, force: true });
}
