#!/usr/bin/env node
// W3 of bench/add.mjs alone, through the real CLI, for the current cut rule and the legacy one
// side by side (same file, same edits, same run):
//   npx tsc -p tsconfig.build.json && node bench/dedup-cli.mjs [--gib 2] [--versions 3] [--seed 1] [--keep]
// v1 = --gib GiB of random bytes; each next version overwrites 16 × 1 MiB at seeded positions
// (mulberry32, as bench/add.mjs) and appends 64 MiB = 80 MiB changed. After `add` + `commit` of
// each version, the growth of .mlstore/objects and .mlstore/packs is the bytes stored; ratio = stored / 80 MiB.
// Two repositories share the data file (a hard link): one as `mlstore init` makes it (current
// rule), one whose config.json has its rule removed (what older repositories have: legacy rule).
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, linkSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flag, opt } from './args.mjs';
import { seededRandom } from './random.mjs';

const MiB = 1 << 20;
const GIB = opt('gib', 2);
const VERSIONS = opt('versions', 3);
const random = seededRandom(opt('seed', 1));
const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'mlstore');
const mls = (cwd, ...argv) => {
  const r = spawnSync('node', [bin, ...argv], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mlstore ${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
};
/** Bytes of the objects a store holds: loose files under objects/ and packs (small chunks) under packs/. */
const storeBytes = (store) => {
  let n = 0;
  for (const dir of [join(store, 'objects'), join(store, 'packs')]) {
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n += statSync(join(e.parentPath ?? e.path, e.name)).size;
  }
  return n;
};

const base = mkdtempSync(join(tmpdir(), 'mlstore-dedup-'));
try {
  const repos = { current: join(base, 'current'), legacy: join(base, 'legacy') };
  const big = join(repos.current, 'data', 'big.bin');
  for (const r of Object.values(repos)) (mkdirSync(join(r, 'data'), { recursive: true }), mls(r, 'init'));
  const cfgPath = join(repos.legacy, '.mlstore', 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  delete cfg.chunking.normalization;
  delete cfg.chunking.normalSize;
  writeFileSync(cfgPath, `${JSON.stringify(cfg, null, 2)}\n`);
  const fd = openSync(big, 'w');
  for (let off = 0; off < GIB * 2 ** 30; off += 16 * MiB) writeSync(fd, randomBytes(16 * MiB));
  closeSync(fd);
  linkSync(big, join(repos.legacy, 'data', 'big.bin'));
  for (const r of Object.values(repos)) (mls(r, 'add', 'data'), mls(r, 'commit', '-m', 'v1'));

  console.log(`# W3 via the CLI: ${GIB} GiB file, ${VERSIONS} versions, seed ${opt('seed', 1)}; ratio = new bytes under .mlstore/objects and packs / 80 MiB changed`);
  const ratios = { current: [], legacy: [] };
  for (let v = 2; v <= VERSIONS + 1; v++) {
    const size = statSync(big).size;
    const f = openSync(big, 'r+');
    for (let i = 0; i < 16; i++) writeSync(f, randomBytes(MiB), 0, MiB, Math.floor(random() * (size - MiB)));
    closeSync(f);
    const a = openSync(big, 'a');
    writeSync(a, randomBytes(64 * MiB));
    closeSync(a);
    const row = [];
    for (const [name, r] of Object.entries(repos)) {
      const before = storeBytes(join(r, '.mlstore'));
      mls(r, 'add', 'data');
      mls(r, 'commit', '-m', `v${v}`);
      const ratio = (storeBytes(join(r, '.mlstore')) - before) / (80 * MiB);
      ratios[name].push(ratio);
      row.push(`${name} ${ratio.toFixed(3)}×`);
    }
    console.log(`v${v}: ${row.join(', ')}`);
  }
  for (const [name, rs] of Object.entries(ratios)) {
    const chunking = JSON.parse(readFileSync(join(repos[name], '.mlstore', 'config.json'), 'utf8')).chunking;
    console.log(`${name}: mean ${(rs.reduce((x, y) => x + y, 0) / rs.length).toFixed(3)}×, worst ${Math.max(...rs).toFixed(3)}×  chunking ${JSON.stringify(chunking)}`);
  }
} finally {
  if (!flag('keep')) rmSync(base, { recursive: true, force: true });
}
