/**
 * fsck through the real executable (bin/mlstore → dist/, worker threads and all): exit codes,
 * one JSON document on stdout, human output grouped by severity, unreadable objects reported
 * apart from corrupt ones, metrics files.
 */
import { chmod, cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnCliDone } from '../helpers/cli.js';
import { tempDir } from '../helpers/repo.js';
import type { FsckReport } from '../../src/check/index.js';
import { looseChunkFile } from '../helpers/store.js';
import { buildFixture, codes, metaKey, type Fixture } from './helpers.js';

let template: Fixture;
beforeAll(async () => {
  template = await buildFixture();
});

async function copy(): Promise<Fixture> {
  const dir = await tempDir('mlstore-fsck-cli-');
  await cp(template.dir, dir, { recursive: true });
  return { ...template, dir };
}

const objectFile = (fx: Fixture, key: string) => join(fx.dir, '.mlstore', ...key.split('/'));
/** A chunk as a loose file of its own (taken out of its pack first), to damage it or its permissions. */
const chunkFile = async (fx: Fixture, id: string) => looseChunkFile(fx.dir, id);

describe('mlstore fsck (spawned)', () => {
  it('exits 0 on a clean store and 1 on a damaged one, with one JSON document on stdout', async () => {
    const fx = await copy();
    const clean = await spawnCliDone(['fsck', '--json'], { cwd: fx.dir });
    expect(clean.code, clean.stderr).toBe(0);
    const report = JSON.parse(clean.stdout) as FsckReport;
    expect(report.ok).toBe(true);
    expect(report.counts.verified.chunks).toBe(report.counts.objects.chunks);

    const [id] = fx.files.get('data/a.bin')!.chunks[0]!;
    const file = await chunkFile(fx, id);
    const bytes = await readFile(file);
    bytes[0] = bytes[0]! ^ 1;
    await writeFile(file, bytes);
    const bad = await spawnCliDone(['fsck', '--json'], { cwd: fx.dir });
    expect(bad.code).toBe(1);
    const r = JSON.parse(bad.stdout) as FsckReport;
    expect(codes(r)).toEqual([['HASH_MISMATCH', id]]);
    expect(bad.stderr).toBe('');
  });

  it('exits 3 when the check cannot run, 2 on a usage error', async () => {
    const fx = await copy();
    const missing = await spawnCliDone(['fsck', '--remote', join(fx.dir, 'no-such-remote'), '--json'], { cwd: fx.dir });
    expect(missing.code).toBe(3);
    expect(JSON.parse(missing.stdout).error.code).toBe('REMOTE_NOT_FOUND');
    const unreachable = await spawnCliDone(['fsck', '--remote', 's3://bucket/x?endpoint=http://127.0.0.1:9', '--json'], {
      cwd: fx.dir,
      vars: { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' },
    });
    expect(unreachable.code).toBe(3);
    expect(JSON.parse(unreachable.stdout).error.code).toBe('REMOTE_UNREACHABLE');
    expect((await spawnCliDone(['fsck', '--shard', '3/3'], { cwd: fx.dir })).code).toBe(2);
    expect((await spawnCliDone(['fsck', '--max-age', 'soon'], { cwd: fx.dir })).code).toBe(2);
    expect((await spawnCliDone(['fsck', '--sample', '0'], { cwd: fx.dir })).code).toBe(2);
    expect((await spawnCliDone(['fsck', '--fast'], { cwd: fx.dir })).code).toBe(2);
    const help = await spawnCliDone(['fsck', '--help'], { cwd: fx.dir });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit codes: 0 clean/);
  });

  it('reports an object it may not read as UNREADABLE_OBJECT, apart from corrupt ones', async () => {
    if (process.getuid?.() !== 0) return; // needs root to run the CLI as another user
    const fx = await copy();
    // let the unprivileged user see the repository, then lock one chunk away from it
    await openUp(fx.dir);
    const [locked] = fx.files.get('data/sub/c.bin')!.chunks[0]!;
    const [flipped] = fx.files.get('data/e.bin')!.chunks[0]!;
    await chmod(await chunkFile(fx, locked), 0o000);
    const f = await chunkFile(fx, flipped);
    const b = await readFile(f);
    b[1] = b[1]! ^ 4;
    await writeFile(f, b);
    const r = await spawnCliDone(['fsck', '--json'], { cwd: fx.dir, uid: 65534, gid: 65534, vars: { HOME: fx.dir } });
    const report = JSON.parse(r.stdout) as FsckReport;
    expect(r.code).toBe(1);
    expect(codes(report)).toEqual([['HASH_MISMATCH', flipped], ['UNREADABLE_OBJECT', locked]].sort((x, y) => (x[0]! < y[0]! ? -1 : 1)));
    const unreadable = report.problems.find((p) => p.code === 'UNREADABLE_OBJECT')!;
    expect(unreadable.class).toBe('incomplete');
    expect(unreadable.affected.paths).toEqual(['data/sub/c.bin']);
    expect(report.problems.find((p) => p.code === 'HASH_MISMATCH')!.class).toBe('data');
    expect(report.complete).toBe(false);
  });

  it('exits 3 when the only failure is an object it could not read (the check did not fully happen)', async () => {
    if (process.getuid?.() !== 0) return; // needs root to run the CLI as another user
    const fx = await copy();
    await openUp(fx.dir);
    const [locked] = fx.files.get('data/sub/c.bin')!.chunks[0]!;
    await chmod(await chunkFile(fx, locked), 0o000);
    const r = await spawnCliDone(['fsck', '--json'], { cwd: fx.dir, uid: 65534, gid: 65534, vars: { HOME: fx.dir } });
    const report = JSON.parse(r.stdout) as FsckReport;
    expect(codes(report)).toEqual([['UNREADABLE_OBJECT', locked]]);
    expect(report.complete).toBe(false);
    expect(r.code).toBe(3);
  });

  it('human output groups problems by severity and names what they affect', async () => {
    const fx = await copy();
    await rm(objectFile(fx, metaKey(fx.subTree)));
    const r = await spawnCliDone(['fsck'], { cwd: fx.dir });
    expect(r.code).toBe(1);
    const out = r.stdout;
    expect(out).toMatch(/PROBLEMS FOUND — 1 error\(s\), \d+ warning\(s\), \d+ info/);
    const errors = out.indexOf('ERRORS (1)');
    const warnings = out.indexOf('WARNINGS (');
    const info = out.indexOf('INFO (');
    expect(errors).toBeGreaterThan(0);
    expect(warnings).toBeGreaterThan(errors);
    expect(info).toBeGreaterThan(warnings);
    expect(out).toContain(`MISSING_OBJECT  tree ${fx.subTree}`);
    expect(out).toContain('paths:   data/sub/');
    expect(out).toContain('refs:    HEAD, mlstore.lock, refs/heads/main, refs/tags/v1');
    // --quiet prints the errors only
    const quiet = await spawnCliDone(['fsck', '-q'], { cwd: fx.dir });
    expect(quiet.code).toBe(1);
    expect(quiet.stdout).toContain('ERRORS (1)');
    expect(quiet.stdout).not.toContain('WARNINGS');
  });

  it('writes Prometheus metrics atomically, also when the check could not run', async () => {
    const fx = await copy();
    const metrics = join(fx.dir, 'fsck.prom');
    const [id] = fx.files.get('data/a.bin')!.chunks[0]!;
    await rm(await chunkFile(fx, id));
    const r = await runCli(['fsck', '--metrics', metrics], { cwd: fx.dir });
    expect(r.code).toBe(1);
    const text = await readFile(metrics, 'utf8');
    const store = join(fx.dir, '.mlstore');
    expect(text).toContain(`mlstore_fsck_completed{store="${store}",shard="0/1"} 1`);
    expect(text).toContain(`mlstore_fsck_ok{store="${store}",shard="0/1"} 0`);
    expect(text).toContain(`mlstore_fsck_problems_by_code{store="${store}",shard="0/1",code="MISSING_OBJECT"} 1`);
    expect(text).toContain(`mlstore_fsck_problems_by_code{store="${store}",shard="0/1",code="HASH_MISMATCH"} 0`);
    expect(text).toMatch(/^# TYPE mlstore_fsck_bytes_checked gauge$/m);
    for (const line of text.trim().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [0-9.e+-]+)$/);
    expect((await readdir(fx.dir)).filter((n) => n.includes('fsck.prom'))).toEqual(['fsck.prom']); // no temp file left

    const failed = await runCli(['fsck', '--remote', join(fx.dir, 'nowhere'), '--metrics', metrics], { cwd: fx.dir });
    expect(failed.code).toBe(3);
    const after = await readFile(metrics, 'utf8');
    expect(after).toMatch(/mlstore_fsck_completed\{store="[^"]*nowhere",shard="0\/1",error="REMOTE_NOT_FOUND"\} 0/);
    expect(after).not.toContain('mlstore_fsck_ok');
  });
});

async function openUp(dir: string): Promise<void> {
  // mkdtemp makes a 0700 directory (its parent, the system temp dir, is world-searchable)
  await chmod(dir, 0o755);
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        await chmod(p, 0o755);
        await walk(p);
      } else await chmod(p, 0o644);
    }
  };
  await walk(dir);
}
