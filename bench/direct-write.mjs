// Large chunks through LocalBackend: written through the page cache vs with O_DIRECT
// (src/storage/direct-writer.ts), beside `dd` of the same bytes in the same run.
//   npm run build && node bench/direct-write.mjs [--mib 2048] [--chunk-kib 1024] [--inflight 8] [--dir DIR]
// Each run puts --mib MiB of distinct chunks (views of one shared 64 MiB window, as chunkFile
// hands them over) with --inflight puts at a time, then flush()es: what `add` of a big file
// asks of the store. Baselines: dd bs=1M conv=fsync (buffered, durable) and dd oflag=direct.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomFillSync } from 'node:crypto';
import { LocalBackend } from '../dist/storage/index.js';
import { arg, opt } from './args.mjs';

const MIB = opt('mib', 2048);
const CHUNK = opt('chunk-kib', 1024) * 1024;
const INFLIGHT = opt('inflight', 8);
const base = mkdtempSync(join(arg('dir', tmpdir()), 'mlstore-bench-direct-'));
const window = new Uint8Array(new SharedArrayBuffer(64 << 20));
randomFillSync(window);
const count = Math.floor((MIB * 2 ** 20) / CHUNK);
const secs = (t) => Number(process.hrtime.bigint() - t) / 1e9;
const gbps = (s) => `${((count * CHUNK) / s / 1e9).toFixed(2)} GB/s`;
const cpu = () => process.cpuUsage();

async function run(directIo) {
  const root = join(base, directIo ? 'direct' : 'buffered');
  const backend = new LocalBackend(root, { directIo });
  const c0 = cpu();
  const t = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      for (let i = next++; i < count; i = next++) {
        const off = (i * 4099) % (window.length - CHUNK); // distinct bytes: the counter goes into the first 4 bytes
        const view = window.subarray(off, off + CHUNK);
        new DataView(view.buffer, view.byteOffset).setUint32(0, i);
        await backend.put(`objects/chunks/${i.toString(16).padStart(64, '0')}`, view);
      }
    }),
  );
  await backend.flush();
  const s = secs(t);
  const c = cpu(c0);
  await backend.close();
  rmSync(root, { recursive: true, force: true });
  execFileSync('sync');
  return { s, user: c.user / 1e6, sys: c.system / 1e6 };
}

function dd(args) {
  const src = join(base, 'src.bin');
  const t = process.hrtime.bigint();
  spawnSync('dd', [`if=${src}`, `of=${join(base, 'dd.bin')}`, 'bs=1M', ...args, 'status=none']);
  const s = secs(t);
  rmSync(join(base, 'dd.bin'));
  execFileSync('sync');
  return s;
}

try {
  writeFileSync(join(base, 'src.bin'), Buffer.alloc(0));
  execFileSync('sh', ['-c', `head -c ${count * CHUNK} /dev/urandom > "$0"`, join(base, 'src.bin')]);
  execFileSync('sync');
  console.log(`# ${count} chunks of ${CHUNK >> 10} KiB (${MIB} MiB), ${INFLIGHT} puts in flight, in ${base}`);
  const row = (label, s, extra = '') => console.log(`${label.padEnd(44)} ${s.toFixed(2).padStart(6)} s  ${gbps(s)}  ${extra}`);
  for (let round = 0; round < 2; round++) {
    row('dd bs=1M conv=fsync (baseline)', dd(['conv=fsync']));
    row('dd bs=1M oflag=direct + sync (baseline)', dd(['oflag=direct', 'conv=fsync']));
    for (const directIo of [false, true]) {
      const r = await run(directIo);
      row(`LocalBackend put+flush, ${directIo ? 'O_DIRECT' : 'page cache'}`, r.s, `(user ${r.user.toFixed(2)} s, sys ${r.sys.toFixed(2)} s)`);
    }
  }
} finally {
  rmSync(base, { recursive: true, force: true });
}
