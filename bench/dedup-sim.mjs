#!/usr/bin/env node
// W3 in memory: how many new bytes a new version stores, per FastCDC cut-rule variant, with
// mlstore's gear hash (dist/core/fastcdc.js) — no store, no disk.
//   npx tsc -p tsconfig.build.json && node bench/dedup-sim.mjs [--gib 2] [--overwrites 16]
//     [--append-mib 64] [--bases 4] [--trials 100] [--seed 1] [--variants a,b,…] [--check]
// Defaults are W3 of bench/add.mjs at full scale: v2 = v1 (2 GiB, incompressible) with 16 × 1 MiB
// overwritten at uniform random positions and 64 MiB appended; ratio = new bytes / 80 MiB.
//
// How it stays cheap: the gear hash is position-local, so v2's candidate cuts equal v1's except
// where a hash window touches changed bytes. Each random v1 is generated in 64 MiB pieces and
// scanned with every variant's masks as it goes (never held whole; the trials' overwrite positions
// are drawn first so that the 31 bytes around each are kept). Each trial then rescans only the
// changed regions, walks both cut chains, and counts the v2 chunks that are not a v1 chunk at the
// same place (with random bytes, equal content means equal place). --check compares that shortcut
// with real SHA-256 chunk ids on a small file, and the legacy and current rules' masks and cuts with dist's.
// Overwrite and append bytes come from randomBytes, so figures vary slightly from run to run.
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { DEFAULT_CHUNK_PARAMS, chunkBytes, cutMasks, findCandidates, legacyCutRule } from '../dist/core/fastcdc.js';
import { arg, flag, opt } from './args.mjs';
import { seededRandom } from './random.mjs';

const KiB = 1024, MiB = 1 << 20;
const MIN = 256 * KiB, MAX = 4 * MiB;

/** k bits spread over the 32-bit hash from bit 31 down (docs/chunking.md, "Masks"). */
function spread(k) {
  let m = 0;
  for (let i = 0; i < k; i++) m |= 1 << (31 - Math.floor((i * 32) / k));
  return m | 0;
}

/**
 * A FastCDC variant: strict mask = spread(s), loose = strict minus its s − l lowest bits (so every
 * strict candidate is loose too); strict candidates count in [p+min, p+normal), loose ones in
 * [p+normal, p+max). s = l is unnormalized FastCDC (one mask from p+min on).
 */
function variant(name, s, l, normal) {
  let loose = spread(s);
  for (let i = 0; i < s - l; i++) loose &= loose - 1;
  return { name, s, l, normal, masks: { strict: spread(s), loose: loose | 0 } };
}
const K = (n) => n * KiB;
const VARIANTS = [
  variant('22/18@1024 (legacy rule: level 2, normal size = avg)', 22, 18, MiB),
  variant('21/19@640 (current rule: level 1, normal size (min+avg)/2)', 21, 19, K(640)),
  variant('21/19@1024 (level 1, normal size = avg)', 21, 19, MiB),
  variant('20/20 (level 0)', 20, 20, MiB),
];
const byName = new Map(VARIANTS.map((v) => [v.name, v]));

/** Variants from the command line: "s/l@normalKiB" (e.g. 21/19@768) or a name above. */
function parseVariants(text) {
  return text.split(',').map((t) => {
    const m = /^(\d+)\/(\d+)@(\d+)$/.exec(t.trim());
    if (m) return variant(t.trim(), Number(m[1]), Number(m[2]), K(Number(m[3])));
    const v = byName.get(t.trim());
    if (!v) throw new Error(`unknown variant ${t}`);
    return v;
  });
}

/** Bytes [off, off + len) of a list of saved pieces { at, bytes } that covers them. */
function fromPieces(pieces, off, len) {
  const out = Buffer.alloc(len);
  let covered = 0;
  for (const { at, bytes } of pieces) {
    const s = Math.max(off, at), e = Math.min(off + len, at + bytes.length);
    if (s < e) (bytes.copy(out, s - off, s - at, e - at), (covered += e - s));
  }
  if (covered < len) throw new Error(`bytes ${off}+${len} were not saved`);
  return out;
}

/**
 * v2 = v1 (size1 bytes, read through `v1(off, len)`), then `append` bytes (only a prefix may be
 * materialised), with `overwrites` ({ at, bytes }) on top.
 */
class Version {
  constructor(v1, size1, append, size, overwrites) {
    Object.assign(this, { v1, size1, append, size, overwrites });
  }
  bytes(off, len) {
    const out = Buffer.alloc(len);
    // v1 bytes are read only where no overwrite hides them (the trials save no others)
    let g = off;
    const end1 = Math.min(off + len, this.size1);
    for (const [s, e] of union(this.overwrites.map((w) => [w.at, w.at + w.bytes.length]))) {
      if (e <= g || s >= end1) continue;
      if (s > g) this.v1(g, s - g).copy(out, g - off);
      g = Math.max(g, e);
    }
    if (end1 > g) this.v1(g, end1 - g).copy(out, g - off);
    if (off + len > this.size1) {
      const s = Math.max(off, this.size1);
      this.append.copy(out, s - off, s - this.size1, off + len - this.size1);
    }
    for (const w of this.overwrites) {
      const s = Math.max(off, w.at), e = Math.min(off + len, w.at + w.bytes.length);
      if (s < e) w.bytes.copy(out, s - off, s - w.at, e - w.at);
    }
    return out;
  }
}

/**
 * Candidates for hash positions x in [x0, x1) (cut offsets x0+1 … x1), one list per mask pair;
 * each 64 MiB piece of the version is read once and scanned with every mask pair.
 */
function scan(version, x0, x1, maskList, outs = maskList.map(() => ({ loose: [], strict: [] }))) {
  for (let a = x0; a < x1; a += 64 * MiB) {
    const b = Math.min(x1, a + 64 * MiB);
    const ctx = Math.min(a, 31);
    const bytes = version.bytes(a - ctx, b - a + ctx);
    maskList.forEach((m, i) => findCandidates(bytes, a - ctx, m, ctx, outs[i]));
  }
  return outs;
}

/**
 * A fresh random v1 of `size` bytes, scanned with every mask pair as it is generated (it is never
 * held whole); the byte ranges in `keep` (sorted [a, b)) are saved for the trials. `fill(buf, off)`
 * makes the bytes at file offset `off` (--check passes a known file).
 */
function scanRandomV1(size, maskList, keep, fill = (buf) => randomFillSync(buf)) {
  const outs = maskList.map(() => ({ loose: [], strict: [] }));
  const saved = [];
  const piece = Buffer.alloc(31 + 64 * MiB);
  let k = 0;
  for (let a = 0; a < size; a += 64 * MiB) {
    const n = Math.min(64 * MiB, size - a);
    piece.copy(piece, 0, 64 * MiB, 64 * MiB + 31); // the previous piece's last 31 bytes
    fill(piece.subarray(31, 31 + n), a);
    const ctx = Math.min(a, 31);
    const view = piece.subarray(31 - ctx, 31 + n);
    maskList.forEach((m, i) => findCandidates(view, a - ctx, m, ctx, outs[i]));
    while (k < keep.length && keep[k][0] < a + n) {
      const [s, e] = keep[k];
      if (s < a) throw new Error('keep ranges must not overlap');
      const bytes = Buffer.from(piece.subarray(31 + s - a, 31 + Math.min(e, a + n) - a));
      saved.push({ at: s, bytes });
      if (e > a + n) keep[k] = [a + n, e];
      else k++;
    }
  }
  return { cands: outs, saved };
}

/** The cut rule of a variant over candidate lists: first strict in [p+min, p+normal), else first loose in [p+normal, p+max), else p+max, else the end. */
function cuts(cand, size, normal) {
  const { strict, loose } = cand;
  const out = [];
  let p = 0, si = 0, li = 0;
  while (p < size) {
    while (si < strict.length && strict[si] < p + MIN) si++;
    let cut;
    if (si < strict.length && strict[si] < p + normal) cut = strict[si];
    else {
      while (li < loose.length && loose[li] < p + normal) li++;
      cut = li < loose.length && loose[li] < p + MAX ? loose[li] : p + MAX;
    }
    p = Math.min(cut, size);
    out.push(p);
  }
  return out;
}

/** Sorted merge: `keep` minus offsets in the dirty cut ranges (a, b], plus `fresh`. */
function splice(keep, dirty, fresh) {
  const out = [];
  let d = 0, f = 0;
  for (const c of keep) {
    while (d < dirty.length && dirty[d][1] < c) d++;
    if (d < dirty.length && c > dirty[d][0]) continue;
    while (f < fresh.length && fresh[f] < c) out.push(fresh[f++]);
    out.push(c);
  }
  while (f < fresh.length) out.push(fresh[f++]);
  return out;
}

/** Intervals [a, b) sorted and merged. */
function union(intervals) {
  const s = [...intervals].sort((x, y) => x[0] - y[0]);
  const out = [];
  for (const [a, b] of s) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/**
 * New bytes of v2: its chunks that touch changed bytes or are not a v1 chunk at the same place.
 * Also, for each run of new chunks around exactly one 1 MiB overwrite, what the run costs on the
 * left (the rest of the chunk the overwrite starts in) and on the right (until the chains merge).
 */
function freshBytes(cuts1, cuts2, changed) {
  const v1 = new Map();
  let p = 0;
  for (const c of cuts1) (v1.set(p, c), (p = c));
  let fresh = 0, k = 0;
  const runs = [];
  p = 0;
  for (const c of cuts2) {
    while (k < changed.length && changed[k][1] <= p) k++;
    const touches = k < changed.length && changed[k][0] < c;
    if (touches || v1.get(p) !== c) {
      fresh += c - p;
      const last = runs[runs.length - 1];
      if (last && last[1] === p) last[1] = c;
      else runs.push([p, c]);
    }
    p = c;
  }
  const sides = [];
  for (const [rs, re] of runs) {
    const inside = changed.filter(([a, b]) => a < re && b > rs);
    if (inside.length === 1 && inside[0][1] - inside[0][0] === MiB && inside[0][1] < cuts2[cuts2.length - 1]) {
      sides.push([inside[0][0] - rs, re - inside[0][1]]);
    }
  }
  return { fresh, sides };
}

/** Where a trial's overwrites start: `n` uniform positions in [0, size1 − 1 MiB), as bench/add.mjs. */
function positions(size1, n, seed) {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => Math.floor(random() * (size1 - MiB)));
}

/** The v1 bytes a trial reads: the 31 bytes on each side of every overwrite, and before the end. */
function contextRanges(size1, at) {
  return [...at.flatMap((a) => [[Math.max(0, a - 31), a], [a + MiB, Math.min(size1, a + MiB + 31)]]), [size1 - 31, size1]];
}

function makeTrial(v1, size1, at, append) {
  const overwrites = at.map((a) => ({ at: a, bytes: randomBytes(MiB) }));
  // Hash positions whose 32-byte window touches a changed byte. Of the appended bytes only the
  // first 2 × max are made and scanned: every chunk touching them is new whatever its cuts, and
  // cuts past size1 + max cannot change which chunk holds the old tail.
  const tail = Math.min(append, 2 * MAX);
  const v2 = new Version(v1, size1, randomBytes(tail), size1 + append, overwrites);
  const dirtyX = union([...at.map((a) => [a, a + MiB + 31]), [size1, size1 + tail]]).map(([a, b]) => [a, Math.min(b, v2.size)]);
  const changed = union([...at.map((a) => [a, a + MiB]), [size1, v2.size]]);
  return { v2, dirtyX, changed };
}

/** New bytes of v2, per variant of `base`. */
function trialFresh(base, trial) {
  const fresh = base.variants.map(() => ({ loose: [], strict: [] }));
  for (const [a, b] of trial.dirtyX) scan(trial.v2, a, b, base.variants.map((v) => v.masks), fresh);
  return base.variants.map((v, i) => {
    // a dirty hash position x gives the cut offset x + 1: offsets in (a, b] are replaced
    const cand2 = { loose: splice(v.cand.loose, trial.dirtyX, fresh[i].loose), strict: splice(v.cand.strict, trial.dirtyX, fresh[i].strict) };
    return freshBytes(v.cuts1, cuts(cand2, trial.v2.size, v.normal), trial.changed);
  });
}

const stats = (xs) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  const sorted = [...xs].sort((a, b) => a - b);
  return { mean, sd, max: sorted[sorted.length - 1], p95: sorted[Math.floor(0.95 * (sorted.length - 1))], over: xs.filter((x) => x > 1.4).length / xs.length };
};

// --check: the shortcut against real chunk ids on a small file, and the cut rule against dist.
function check() {
  const size1 = 96 * MiB, append = 24 * MiB;
  const v1b = randomBytes(size1);
  const v1 = (off, len) => v1b.subarray(off, off + len);
  const whole = new Version(v1, size1, Buffer.alloc(0), size1, []);
  // the simulator's masks and cut rule are dist's, for the legacy and the current rule
  for (const [v, params] of [[VARIANTS[0], { ...DEFAULT_CHUNK_PARAMS, ...legacyCutRule(MiB) }], [VARIANTS[1], DEFAULT_CHUNK_PARAMS]]) {
    const m = cutMasks(params);
    const ref = chunkBytes(v1b, params);
    const mine = cuts(scan(whole, 0, size1, [v.masks])[0], size1, v.normal);
    const same = m.strict === v.masks.strict && m.loose === v.masks.loose && JSON.stringify(ref) === JSON.stringify(mine);
    console.log(`${v.name}: masks and cuts vs dist on ${size1 / MiB} MiB: ${same ? 'same' : 'DIFFERENT'} (${ref.length} cuts)`);
  }
  const ids = (b, cs) => {
    const m = new Map();
    let p = 0;
    for (const c of cs) (m.set(createHash('sha256').update(b.subarray(p, c)).digest('hex'), c - p), (p = c));
    return m;
  };
  for (const v of VARIANTS) {
    const [cand] = scan(whole, 0, size1, [v.masks]);
    const cuts1 = cuts(cand, size1, v.normal);
    const base = { variants: [{ ...v, cand, cuts1 }] };
    for (let t = 0; t < 3; t++) {
      // overwrites close together too, so that overlapping and near-adjacent ones are covered
      const at = [...positions(size1, 4, 1000 + t), 5 * MiB, 5 * MiB + 100, 7 * MiB + 10, 8 * MiB + 20];
      const trial = makeTrial(v1, size1, at, append);
      const [{ fresh: shortcut }] = trialFresh(base, trial);
      // the same trial through the main path: v1 streamed, only the context bytes kept
      const streamed = scanRandomV1(size1, [v.masks], union(contextRanges(size1, at)), (buf, off) => v1b.copy(buf, 0, off, off + buf.length));
      const partial = (off, len) => fromPieces(streamed.saved, off, len);
      const again = { ...trial, v2: new Version(partial, size1, trial.v2.append, trial.v2.size, trial.v2.overwrites) };
      const [{ fresh: viaPieces }] = trialFresh({ variants: [{ ...v, cand: streamed.cands[0], cuts1 }] }, again);
      // the real thing: all of v2, every chunk hashed (the append tail made in full)
      const v2b = Buffer.concat([v1b, trial.v2.append, randomBytes(append - trial.v2.append.length)]);
      for (const w of trial.v2.overwrites) w.bytes.copy(v2b, w.at);
      const v2 = (off, len) => v2b.subarray(off, off + len);
      const cuts2 = cuts(scan(new Version(v2, v2b.length, Buffer.alloc(0), v2b.length, []), 0, v2b.length, [v.masks])[0], v2b.length, v.normal);
      const old = ids(v1b, cuts1);
      let real = 0;
      for (const [id, n] of ids(v2b, cuts2)) if (!old.has(id)) real += n;
      const same = shortcut === real && viaPieces === real;
      console.log(`${v.name}, trial ${t}: shortcut ${shortcut} B (streamed v1: ${viaPieces} B), real chunk ids ${real} B: ${same ? 'same' : 'DIFFERENT'}`);
    }
  }
}

if (flag('check')) {
  check();
} else {
  const size1 = Math.round(opt('gib', 2) * 1024) * MiB;
  const nOverwrites = opt('overwrites', 16);
  const append = opt('append-mib', 64) * MiB;
  const bases = opt('bases', 4);
  const trials = opt('trials', 100);
  const seed = opt('seed', 1);
  const variants = arg('variants') ? parseVariants(arg('variants')) : VARIANTS;
  const changedBytes = nOverwrites * MiB + append;
  console.log(`# v1 ${size1 / MiB} MiB; v2: ${nOverwrites} × 1 MiB overwrites + ${append / MiB} MiB appended = ${changedBytes / MiB} MiB changed`);
  console.log(`# ${bases} random v1 × ${trials} trials each (overwrite positions seeded from ${seed}); min ${MIN / KiB} KiB, max ${MAX / MiB} MiB`);
  const ratios = variants.map(() => []);
  const sides = variants.map(() => []);
  const lens = variants.map(() => []);
  for (let b = 0; b < bases; b++) {
    const plans = Array.from({ length: trials }, (_, t) => positions(size1, nOverwrites, seed * 1e6 + b * 1e4 + t));
    const keep = union(plans.flatMap((at) => contextRanges(size1, at)));
    const { cands, saved } = scanRandomV1(size1, variants.map((v) => v.masks), keep);
    const base = {
      variants: variants.map((v, i) => {
        const cuts1 = cuts(cands[i], size1, v.normal);
        for (let k = 0; k < cuts1.length - 1; k++) lens[i].push(cuts1[k] - (k ? cuts1[k - 1] : 0)); // the last is cut by EOF
        return { ...v, cand: cands[i], cuts1 };
      }),
    };
    const v1 = (off, len) => fromPieces(saved, off, len);
    for (const at of plans) {
      trialFresh(base, makeTrial(v1, size1, at, append)).forEach(({ fresh, sides: s }, i) => {
        ratios[i].push(fresh / changedBytes);
        sides[i].push(...s);
      });
    }
    process.stderr.write(`# v1 ${b + 1}/${bases} done\n`);
  }
  console.log('| variant (strict/loose bits @ normal size) | trials | ratio mean | sd | p95 | max | > 1.4 | chunk mean | chunk sd | E[L²]/2E[L] | left, right of a lone overwrite (mean) |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  variants.forEach((v, i) => {
    const r = stats(ratios[i]);
    const l = stats(lens[i]);
    const resid = lens[i].reduce((a, x) => a + x * x, 0) / lens[i].reduce((a, x) => a + x, 0) / 2;
    const f = (x) => x.toFixed(3);
    const m = (x) => `${(x / MiB).toFixed(3)} MiB`;
    const side = (j) => sides[i].reduce((a, x) => a + x[j], 0) / sides[i].length;
    console.log(`| ${v.name} | ${ratios[i].length} | ${f(r.mean)} | ${f(r.sd)} | ${f(r.p95)} | ${f(r.max)} | ${(100 * r.over).toFixed(1)} % | ${m(l.mean)} | ${m(l.sd)} | ${m(resid)} | ${(side(0) / MiB).toFixed(3)}, ${m(side(1))} |`);
  });
}
