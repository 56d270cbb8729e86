#!/usr/bin/env node
// How many new bytes a new version stores, for FastCDC normalization levels 2 (mlstore), 1 and 0,
// with mlstore's gear hash and 256 KiB / 1 MiB / 4 MiB chunks — in memory, no store.
//   npm run build && node bench/dedup-sim.mjs [MiB=512] [overwrites=4] [appendMiB=16] [trials=4]
// The defaults are W3 of bench/add.mjs scaled by 1/4 (same proportions: 16 × 1 MiB + 64 MiB per 2 GiB).
// The baseline is the bytes that changed; the ratio is new bytes stored / bytes changed.
import { createHash, randomBytes } from 'node:crypto';
import { cutMasks, findCandidates } from '../dist/core/fastcdc.js';

const MiB = 1 << 20;
const MIN = 256 * 1024, AVG = MiB, MAX = 4 * MiB;
const [size, overwrites, append, trials] = [Number(process.argv[2] ?? 512) * MiB, Number(process.argv[3] ?? 4), Number(process.argv[4] ?? 16) * MiB, Number(process.argv[5] ?? 4)];

/** Level L: the strict mask has log2(avg) + L bits, the loose one log2(avg) − L (mlstore: L = 2). */
function masksFor(level) {
  const strict = cutMasks({ min: 64, avg: AVG * 2 ** (level - 2), max: MAX * 2 ** level }).strict;
  let loose = strict;
  for (let i = 0; i < 2 * level; i++) loose &= loose - 1;
  return { strict, loose: loose | 0 };
}

/** FastCDC cut rule (docs/chunking.md): first strict candidate in [p+min, p+avg), else first loose in [p+avg, p+max), else p+max. */
function cuts(buf, masks) {
  const { strict, loose } = findCandidates(buf, 0, masks);
  const out = [];
  let p = 0, si = 0, li = 0;
  while (p < buf.length) {
    if (buf.length - p <= MIN) { out.push(buf.length); break; }
    while (si < strict.length && strict[si] < p + MIN) si++;
    let cut;
    if (si < strict.length && strict[si] < p + AVG) cut = strict[si];
    else {
      while (li < loose.length && loose[li] < p + AVG) li++;
      cut = li < loose.length && loose[li] < p + MAX ? loose[li] : p + MAX;
    }
    p = Math.min(cut, buf.length);
    out.push(p);
  }
  return out;
}

function chunkIds(buf, cutList) {
  const ids = new Map();
  let p = 0;
  for (const c of cutList) {
    ids.set(createHash('sha256').update(buf.subarray(p, c)).digest('hex'), c - p);
    p = c;
  }
  return ids;
}

const v1 = randomBytes(size);
const changed = overwrites * MiB + append;
console.log(`# ${size / MiB} MiB, ${overwrites} × 1 MiB overwrites + ${append / MiB} MiB appended = ${changed / MiB} MiB changed, ${trials} trials`);
for (const level of [2, 1, 0]) {
  const masks = masksFor(level);
  const c1 = cuts(v1, masks);
  const old = chunkIds(v1, c1);
  const ratios = [];
  for (let t = 0; t < trials; t++) {
    const v2 = Buffer.alloc(size + append);
    v1.copy(v2);
    randomBytes(append).copy(v2, size);
    for (let i = 0; i < overwrites; i++) randomBytes(MiB).copy(v2, Math.floor(Math.random() * (size - MiB)));
    let fresh = 0;
    for (const [id, n] of chunkIds(v2, cuts(v2, masks))) if (!old.has(id)) fresh += n;
    ratios.push(fresh / changed);
  }
  const lens = c1.map((c, i) => c - (i ? c1[i - 1] : 0));
  const mean = lens.reduce((a, b) => a + b, 0) / lens.length;
  const sd = Math.sqrt(lens.reduce((a, b) => a + (b - mean) ** 2, 0) / lens.length);
  const avgRatio = ratios.reduce((a, b) => a + b, 0) / ratios.length;
  console.log(`level ${level}${level === 2 ? ' (mlstore)' : ''}: chunks mean ${(mean / MiB).toFixed(2)} MiB, sd ${(sd / MiB).toFixed(2)} MiB; new bytes / changed bytes: ${ratios.map((r) => r.toFixed(2)).join(' ')} → mean ${avgRatio.toFixed(2)}×`);
}
