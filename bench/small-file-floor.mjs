#!/usr/bin/env node
// The floor of "one file per object" for many small files: the system calls mlstore's add makes
// per file (lstat; open/fstat/read/fstat/close of the source; SHA-256; create/write/close of a
// temp file; rename), in a bare single-threaded script with synchronous calls, then made
// durable three ways. Baselines in the same run: cp -r, and cp -r + syncfs.
//   node bench/small-file-floor.mjs DIR [files=20000]   (DIR: an empty directory on the fs to test,
//   ideally a fresh loop-mounted ext4 as bench/add.mjs makes)
process.env.UV_THREADPOOL_SIZE ??= '64'; // before the first asynchronous fs call starts the pool
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { join } from 'node:path';

const dir = process.argv[2];
const N = Number(process.argv[3] ?? 20000);
if (!dir) throw new Error('usage: node bench/small-file-floor.mjs DIR [files]');
const src = join(dir, 'src');
for (let d = 0; d < 100; d++) {
  fs.mkdirSync(join(src, `d${d}`), { recursive: true });
  for (let f = 0; f < N / 100; f++) fs.writeFileSync(join(src, `d${d}`, `f${f}.bin`), randomBytes(1024 + ((d * 131 + f * 977) % (15 * 1024))));
}
execFileSync('sync');
const time = (fn) => { const t = performance.now(); fn(); return (performance.now() - t) / 1000; };
const row = (label, s) => console.log(`${label.padEnd(52)} ${s.toFixed(2).padStart(6)} s  ${Math.round(N / s)} files/s`);

const tCp = time(() => execFileSync('cp', ['-r', src, join(dir, 'cp1')]));
execFileSync('sync');
const tCpSync = time(() => { execFileSync('cp', ['-r', src, join(dir, 'cp2')]); execFileSync('sync', ['--file-system', join(dir, 'cp2')]); });
row('cp -r (baseline)', tCp);
row('cp -r + sync --file-system (baseline)', tCpSync);

async function run(mode) {
  const store = join(dir, `store-${mode}`);
  fs.mkdirSync(join(store, 'tmp'), { recursive: true });
  execFileSync('sync');
  const t0 = performance.now();
  const staged = [];
  const dirs = new Set();
  let n = 0;
  for (const d of fs.readdirSync(src)) {
    for (const f of fs.readdirSync(join(src, d))) {
      const p = join(src, d, f);
      fs.lstatSync(p, { bigint: true });
      const fd = fs.openSync(p, 'r');
      const size = Number(fs.fstatSync(fd, { bigint: true }).size);
      const bytes = new Uint8Array(size);
      fs.readSync(fd, bytes, 0, size, 0);
      fs.fstatSync(fd, { bigint: true });
      fs.closeSync(fd);
      const id = createHash('sha256').update(bytes).digest('hex');
      const tmp = join(store, 'tmp', `${(n++).toString(36)}.tmp`);
      const out = fs.openSync(tmp, 'wx');
      fs.writeSync(out, bytes);
      if (mode === 'fsync each (serial)') fs.fsyncSync(out);
      fs.closeSync(out);
      staged.push([tmp, join(store, 'chunks', id.slice(0, 2), id)]);
    }
  }
  if (mode === 'syncfs, rename, syncfs') execFileSync('sync', ['--file-system', store]);
  if (mode === 'fsync each, 64 concurrent, then rename') {
    let i = 0;
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (i < staged.length) { const fh = await fsp.open(staged[i++][0], 'r'); await fh.sync(); await fh.close(); }
    }));
  }
  for (const [tmp, final] of staged) {
    const fan = join(final, '..');
    if (!dirs.has(fan)) { fs.mkdirSync(fan, { recursive: true }); dirs.add(fan); }
    fs.renameSync(tmp, final);
  }
  if (mode === 'syncfs, rename, syncfs') execFileSync('sync', ['--file-system', store]);
  row(`bare script: ${mode}`, (performance.now() - t0) / 1000);
}
for (const mode of ['no sync', 'syncfs, rename, syncfs', 'fsync each, 64 concurrent, then rename']) await run(mode);
