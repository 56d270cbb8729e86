#!/usr/bin/env node
// Unchanged-workspace benchmark (issue: status and add again < 1 s with 20,000 files committed),
// every figure beside baselines measured in the same run:
//   npm run build && node bench/noop.mjs [--small 20000] [--runs 7] [--keep] [--dir DIR] [--compare BIN]
// Creates SMALL files of 1–16 KiB in 100 directories (as bench/add.mjs W2 does), runs init, add and
// commit once, then times `status` and `add data` again, RUNS times each, interleaved with
//   node -e 0                 Node start-up alone
//   node bin/mlstore --version  start-up + the CLI's own modules (commander, command wiring)
//   find data -type f | wc -l   a directory walk (getdents, no stat)
//   ls -lR data > /dev/null     a directory walk that lstat's every file
// and prints median and min of each, with the median CPU time (user + system, all threads) and
// minor page faults from /usr/bin/time when it exists: on a loaded machine CPU and faults move far
// less than wall time, and on this VM a page fault costs ≈ 29 µs. The workspace lives on a fresh loop-mounted ext4 when root can
// mount one (the long-lived root fs slows down with churn), else in $TMPDIR; `--dir DIR` reuses
// a workspace made by an earlier `--keep` run (its path is printed) and skips the set-up.
// `--compare BIN` adds status and add-again rows for another build's bin/mlstore (e.g. the commit
// before a change, built in a copy of the tree) on a copy of the workspace (`cp -a`, so each
// build keeps its own index), interleaved with the rest.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, dirname } from 'node:path';
import { tmpdir, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { arg, flag, opt } from './args.mjs';

const SMALL = opt('small', 20000);
const RUNS = opt('runs', 7);
const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'mlstore');

const sh = (cmd, argv, cwd) => {
  const r = spawnSync(cmd, argv, { cwd, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
};
const time = (fn) => {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const usage = existsSync('/usr/bin/time') ? join(mkdtempSync(join(tmpdir(), 'mlstore-noop-usage-')), 'usage') : undefined;
/** Runs cmd under /usr/bin/time (when present): wall s, and CPU s and minor faults of the command. */
const measured = (cmd, argv, cwd) => {
  if (!usage) return { wall: time(() => sh(cmd, argv, cwd)) };
  const wall = time(() => sh('/usr/bin/time', ['-f', '%U %S %R', '-o', usage, cmd, ...argv], cwd));
  const [user, sys, faults] = readFileSync(usage, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  return { wall, cpu: user + sys, faults };
};
const mls = (cwd, ...argv) => sh('node', [bin, ...argv], cwd);

let base;
let mnt;
let repo = arg('dir', undefined);
if (repo === undefined) {
  base = mkdtempSync(join(tmpdir(), 'mlstore-noop-'));
  try {
    const img = join(base, 'fs.img');
    execFileSync('truncate', ['-s', '2G', img]);
    execFileSync('mkfs.ext4', ['-q', '-F', img]);
    mnt = join(base, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-o', 'loop', img, mnt]);
  } catch {
    mnt = undefined;
  }
  repo = join(mnt ?? base, 'repo');
}
const data = join(repo, 'data');
console.log(`# unchanged-workspace benchmark — ${mnt ? 'fresh loop-mounted ext4' : arg('dir', undefined) ? 'reused workspace' : 'tmp dir'} at ${repo}`);
console.log(`# ${new Date().toISOString()}, node ${process.version}, ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);

try {
  if (!existsSync(join(repo, '.mlstore'))) {
    for (let d = 0; d < 100; d++) {
      mkdirSync(join(data, `d${d}`), { recursive: true });
      for (let f = 0; f < SMALL / 100; f++) writeFileSync(join(data, `d${d}`, `f${f}.bin`), randomBytes(1024 + ((d * 131 + f * 977) % (15 * 1024))));
    }
    sh('sync', []);
    mls(repo, 'init');
    const tAdd = time(() => mls(repo, 'add', 'data'));
    const tCommit = time(() => mls(repo, 'commit', '-m', 'noop bench'));
    console.log(`set-up: add ${tAdd.toFixed(2)} s, commit ${tCommit.toFixed(2)} s (not the subject here)`);
  }
  const compare = arg('compare', undefined);
  const other = `${repo}-compare`;
  if (compare && !existsSync(other)) sh('cp', ['-a', repo, other]);
  // The stat cache refuses racily clean entries (ctime within 100 ms of the read): make sure the
  // first timed run is not the one that fills them in.
  mls(repo, 'status');
  mls(repo, 'add', 'data');
  if (compare) {
    sh('node', [compare, 'add', 'data'], other);
    sh('node', [compare, 'status'], other);
    await new Promise((r) => setTimeout(r, 200)); // past the racy window of what those two read
    sh('node', [compare, 'status'], other);
    sh('node', [compare, 'add', 'data'], other);
  }

  const rows = [
    ['node -e 0 (start-up baseline)', () => measured('node', ['-e', '0'])],
    ['mlstore --version (CLI modules)', () => measured('node', [bin, '--version'], repo)],
    ['find data -type f | wc -l', () => measured('sh', ['-c', 'find data -type f | wc -l'], repo)],
    ['ls -lR data (lstat walk)', () => measured('sh', ['-c', 'ls -lR data > /dev/null'], repo)],
    ['mlstore status', () => measured('node', [bin, 'status'], repo)],
    ['mlstore add data (again)', () => measured('node', [bin, 'add', 'data'], repo)],
    ...(compare
      ? [
          ['--compare: mlstore status', () => measured('node', [compare, 'status'], other)],
          ['--compare: mlstore add data (again)', () => measured('node', [compare, 'add', 'data'], other)],
        ]
      : []),
  ];
  const runs = rows.map(() => []);
  for (let r = 0; r < RUNS; r++) rows.forEach(([, fn], i) => runs[i].push(fn()));
  for (const [cli, dir] of [[bin, repo], ...(compare ? [[compare, other]] : [])]) {
    const out = JSON.parse(sh('node', [cli, 'status', '--json'], dir));
    if (!out.clean || out.read.files !== 0) throw new Error(`${cli} status was not a no-op: ${JSON.stringify({ clean: out.clean, read: out.read })}`);
  }

  console.log(`${SMALL} files committed, nothing changed; ${RUNS} runs each, interleaved${compare ? `; --compare ${compare}` : ''}`);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`${'command'.padEnd(36)} ${'median'.padStart(8)} ${'min'.padStart(8)} ${'cpu'.padStart(7)} ${'faults'.padStart(7)}   all wall (s)`);
  rows.forEach(([label], i) => {
    const walls = runs[i].map((r) => r.wall);
    const cpu = usage ? median(runs[i].map((r) => r.cpu)).toFixed(2) : '-';
    const faults = usage ? String(median(runs[i].map((r) => r.faults))) : '-';
    const all = walls.map((t) => t.toFixed(2)).join(' ');
    console.log(`${label.padEnd(36)} ${median(walls).toFixed(3).padStart(8)} ${Math.min(...walls).toFixed(3).padStart(8)} ${cpu.padStart(7)} ${faults.padStart(7)}   ${all}`);
  });
  console.log('\ntarget: status and add again < 1 s each (issue), ≤ 0.85 s for margin');
} finally {
  if (!base) {
    // a reused workspace (--dir) stays; the compare copy made of it is ours
    if (arg('compare', undefined) && !flag('keep')) rmSync(`${repo}-compare`, { recursive: true, force: true });
  } else if (flag('keep')) {
    console.log(`# kept ${repo}${mnt ? ` (loop mount at ${mnt}; umount it and rm -r ${base} when done)` : ''}`);
  } else {
    if (mnt) spawnSync('umount', [mnt]);
    rmSync(base, { recursive: true, force: true });
  }
  if (usage) rmSync(dirname(usage), { recursive: true, force: true });
}
