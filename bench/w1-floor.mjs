#!/usr/bin/env node
// What W1 (add of one big incompressible file) could cost at best here, beside what it costs:
// each line is one child process, the lines alternate round by round, medians are printed with
// their ratio to `openssl dgst -sha256` of the same file in the same rounds.
//   npm run build && node bench/w1-floor.mjs [--gib 2] [--rounds 3] [--dir DIR]
// Run it on the file system the store would use (bench/add.mjs uses a prefilled loop image).
//   openssl          openssl dgst -sha256 (the baseline)
//   dd-direct        dd oflag=direct of the file + sync -f: writing its bytes durably, no hashing
//   chunk            chunkFile with a no-op onChunk: both SHA-256 passes and the cuts, no store
//   chunk+loose      chunkFile, each chunk its own O_DIRECT file (synchronous create and close,
//                    tail through the page cache, as LocalBackend's direct writer does), one
//                    sync -f: the store's I/O, without its bookkeeping, renames and batches
//   chunk+pack       chunkFile, every chunk appended to one file with O_DIRECT from 8 aligned
//                    4 MiB slots, one fdatasync: the one-pack layout the store does not have
//   mlstore add      the CLI (init first, not timed), default and with MLSTORE_DIRECT_IO=1
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, rmSync, statSync, write, writeSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { arg, opt } from './args.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const bin = join(here, '..', 'bin', 'mlstore');
const variant = arg('variant', undefined);

if (variant) {
  // child: one variant, prints its seconds on stdout
  const file = arg('file', '');
  const out = arg('out', '');
  const { chunkFile } = await import('../dist/workspace/chunk-file.js');
  const { sharedArena } = await import('../dist/core/shared-arena.js');
  const { DEFAULT_CHUNK_PARAMS } = await import('../dist/core/fastcdc.js');
  const t = performance.now();
  if (variant === 'chunk') {
    await chunkFile(file, DEFAULT_CHUNK_PARAMS, { onChunk: async () => {} });
  } else if (variant === 'chunk+loose') {
    await mkdir(out);
    const slots = Array.from({ length: 4 }, () => sharedArena().take(4 << 20));
    const waiting = [];
    let n = 0;
    await chunkFile(file, DEFAULT_CHUNK_PARAMS, {
      onChunk: async (_id, bytes) => {
        while (slots.length === 0) await new Promise((r) => waiting.push(r));
        const slot = slots.pop();
        try {
          const path = join(out, String(n++));
          const whole = bytes.length - (bytes.length % 4096);
          const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o644);
          sharedArena().copy(slot.subarray(0, whole), bytes.subarray(0, whole));
          await new Promise((resolve, reject) => write(fd, slot, 0, whole, 0, (e) => (e ? reject(e) : resolve())));
          if (whole < bytes.length) {
            const tail = openSync(path, constants.O_WRONLY);
            writeSync(tail, bytes, whole, bytes.length - whole, whole);
            closeSync(tail);
          }
          closeSync(fd);
        } finally {
          slots.push(slot);
          waiting.shift()?.();
        }
      },
    });
    execFileSync('sync', ['-f', out]);
  } else if (variant === 'chunk+pack') {
    const SLOT = 4 << 20;
    const fh = await open(out, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o644);
    const free = Array.from({ length: 8 }, () => sharedArena().take(SLOT));
    const waiting = [];
    const writes = new Set();
    let slot = free.pop();
    let fill = 0;
    let end = 0;
    const submit = (buf, len) => {
      const at = end;
      end += len;
      const w = fh.write(buf, 0, len, at).then(() => {
        free.push(buf);
        waiting.shift()?.();
      });
      writes.add(w);
      w.finally(() => writes.delete(w));
    };
    await chunkFile(file, DEFAULT_CHUNK_PARAMS, {
      onChunk: async (_id, bytes) => {
        for (let done = 0; done < bytes.length; ) {
          const n = Math.min(SLOT - fill, bytes.length - done);
          sharedArena().copy(slot.subarray(fill, fill + n), bytes.subarray(done, done + n));
          fill += n;
          done += n;
          if (fill === SLOT) {
            submit(slot, SLOT);
            fill = 0;
            while (free.length === 0) await new Promise((r) => waiting.push(r));
            slot = free.pop();
          }
        }
      },
    });
    const whole = fill - (fill % 4096);
    if (whole > 0) submit(slot, whole);
    await Promise.all(writes);
    await fh.close();
    const tail = await open(out, constants.O_WRONLY);
    if (fill > whole) await tail.write(slot, whole, fill - whole, end);
    await tail.datasync();
    await tail.close();
  } else {
    throw new Error(`unknown variant ${variant}`);
  }
  console.log(((performance.now() - t) / 1000).toFixed(3));
  process.exit(0);
}

const GIB = opt('gib', 2);
const ROUNDS = opt('rounds', 3);
const base = mkdtempSync(join(arg('dir', tmpdir()), 'mlstore-w1-floor-'));
const file = join(base, 'repo', 'big.bin');
const out = join(base, 'out');
await mkdir(dirname(file));
execFileSync('sh', ['-c', `head -c ${Math.round(GIB * 2 ** 30)} /dev/urandom > "${file}"`]);
const size = statSync(file).size;

const seconds = (cmd, argv, env) => {
  const t = performance.now();
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env: { ...process.env, ...env }, cwd: dirname(file), maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')}: ${r.stderr}`);
  return (performance.now() - t) / 1000;
};
const fresh = () => {
  rmSync(out, { recursive: true, force: true });
  rmSync(join(dirname(file), '.mlstore'), { recursive: true, force: true });
  rmSync(join(dirname(file), '.gitignore'), { force: true });
  execFileSync('sync');
  execFileSync('cat', [file], { stdio: ['ignore', 'ignore', 'inherit'] }); // warm cache, as for openssl
};
const child = (v) => () => seconds('node', [fileURLToPath(import.meta.url), '--variant', v, '--file', file, '--out', out]);
const mlstoreAdd = (env) => () => {
  execFileSync('node', [bin, 'init'], { cwd: dirname(file), stdio: 'ignore' });
  return seconds('node', [bin, 'add', 'big.bin'], env);
};
const variants = [
  ['openssl dgst -sha256', () => seconds('openssl', ['dgst', '-sha256', file])],
  ['dd oflag=direct + sync -f', () => seconds('sh', ['-c', 'dd if="$0" of="$1" bs=4M oflag=direct status=none && sync -f "$1"', file, out])],
  ['chunkFile, no store', child('chunk')],
  ['chunkFile + loose O_DIRECT files', child('chunk+loose')],
  ['chunkFile + one O_DIRECT pack', child('chunk+pack')],
  ['mlstore add', mlstoreAdd({})],
  ['mlstore add, MLSTORE_DIRECT_IO=1', mlstoreAdd({ MLSTORE_DIRECT_IO: '1' })],
];

console.log(`# ${(size / 2 ** 30).toFixed(2)} GiB incompressible, ${ROUNDS} rounds, in ${base}`);
const times = variants.map(() => []);
for (let r = 0; r < ROUNDS; r++) {
  variants.forEach(([, run], i) => {
    fresh();
    times[i].push(run());
  });
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const openssl = median(times[0]);
for (const [i, [name]] of variants.entries()) {
  const m = median(times[i]);
  const all = times[i].map((s) => s.toFixed(2)).join(' ');
  console.log(`${name.padEnd(36)} ${m.toFixed(2)} s  ${(openssl / m).toFixed(2)}× openssl  (${all})`);
}
console.log(`target: 0.6× openssl = ${(openssl / 0.6).toFixed(2)} s`);
fresh();
rmSync(base, { recursive: true, force: true });
if (existsSync(base)) console.log(`# could not remove ${base}`);
