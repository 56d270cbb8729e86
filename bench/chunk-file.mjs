// Benchmark of chunkFile against `openssl dgst -sha256` on the same file, in the same run.
//
//   npm run build && node bench/chunk-file.mjs [size-in-MiB, default 2048] [runs, default 3]
//
// Creates (or reuses) .bench/data-<size>M, incompressible bytes from /dev/urandom, reads it once
// to warm the page cache, then prints the median of `runs` runs of each: openssl dgst, chunkFile
// with a no-op onChunk (default params 256 KiB / 1 MiB / 4 MiB, threads = availableParallelism),
// the single-thread gear scans over an in-memory buffer (the window-parallel candidate scan, and
// the sequential cut scanner add uses, with its JavaScript and its WebAssembly loop), and the
// peak RSS of this process.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { randomFillSync } from 'node:crypto';
import { chunkFile, defaultChunkPool } from '../dist/workspace/chunk-file.js';
import { DEFAULT_CHUNK_PARAMS, cutMasks, findCandidates } from '../dist/core/fastcdc.js';
import { CutScanner } from '../dist/core/cut-scanner.js';
import { gearMemory, gearSeeker } from '../dist/core/gear-wasm.js';
import { sharedArena } from '../dist/core/shared-arena.js';

const sizeMiB = Number(process.argv[2] ?? 2048);
const runs = Number(process.argv[3] ?? 3);
const size = sizeMiB * 1024 * 1024;
mkdirSync('.bench', { recursive: true });
const file = `.bench/data-${sizeMiB}M`;
if (!existsSync(file) || statSync(file).size !== size) {
  console.log(`creating ${file} …`);
  execFileSync('sh', ['-c', `head -c ${size} /dev/urandom > ${file}`]);
}

function warm() {
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(16 << 20);
  while (readSync(fd, buf) > 0);
  closeSync(fd);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const gbps = (bytes, ms) => bytes / ms / 1e6;

async function time(fn) {
  const ts = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    ts.push(performance.now() - t);
  }
  return median(ts);
}

warm();
const openssl = await time(() => execFileSync('openssl', ['dgst', '-sha256', file]));
let chunks = 0;
// The first call pays for starting the threads and JIT warm-up; shown apart from the median.
let t0 = performance.now();
await chunkFile(file, DEFAULT_CHUNK_PARAMS, { onChunk: async () => {} });
const cold = performance.now() - t0;
const chunked = await time(async () => {
  const r = await chunkFile(file, DEFAULT_CHUNK_PARAMS, { onChunk: async () => {} });
  chunks = r.chunks.length;
});
const rssAfterChunk = process.resourceUsage().maxRSS;
const openssl2 = await time(() => execFileSync('openssl', ['dgst', '-sha256', file]));

const mem = sharedArena().take(256 << 20); // in the arena, so the WebAssembly loop can run on it
randomFillSync(mem);
const masks = cutMasks(DEFAULT_CHUNK_PARAMS);
findCandidates(mem.subarray(0, 1 << 20), 0, masks);
const scan = await time(() => findCandidates(mem, 0, masks));
const seeker = gearSeeker(gearMemory());
const scanner = (wasm) => () => {
  const s = new CutScanner(DEFAULT_CHUNK_PARAMS, wasm ? seeker : undefined);
  for (let o = 0; o < mem.length; o += 4 << 20) s.push(mem.subarray(o, o + (4 << 20)), wasm ? mem.byteOffset + o : undefined);
};
scanner(false)();
scanner(true)();
const cutJs = await time(scanner(false));
const cutWasm = await time(scanner(true));

const base = Math.min(openssl, openssl2);
const row = (what, ms, bytes = size) => console.log(`${what.padEnd(44)} ${(ms / 1000).toFixed(2).padStart(7)} s ${gbps(bytes, ms).toFixed(2).padStart(6)} GB/s`);
console.log(`file ${file}: ${sizeMiB} MiB, ${runs} runs (median), threads ${availableParallelism()}, node ${process.version}`);
row('openssl dgst -sha256 (before / after)', openssl);
row('', openssl2);
row(`chunkFile, no-op onChunk (${chunks} chunks)`, chunked);
row('chunkFile, first (cold) call', cold);
console.log(`${'chunkFile / openssl (better of the two)'.padEnd(44)} ${(base / chunked).toFixed(2)}×`);
row('candidate scan (findCandidates), 256 MiB', scan, mem.length);
row('cut scanner (skips min-32 per chunk), JS', cutJs, mem.length);
row(`cut scanner, WebAssembly${seeker ? '' : ' (unavailable: JS)'}`, cutWasm, mem.length);
console.log(`${'peak RSS through the chunkFile runs'.padEnd(44)} ${(rssAfterChunk / 1024).toFixed(0)} MiB`);
await defaultChunkPool().close();
