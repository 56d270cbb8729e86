import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncFileSystem } from '../../src/storage/sync-file-system.js';

const linux = process.platform === 'linux';
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'mlstore-syncfs-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Pids of the helper shells (`sh -c <loop> <path>`) for `path`. */
function helperPids(path: string): number[] {
  const r = spawnSync('pgrep', ['-f', '^sh -c while read'], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).at(-1) === path;
      } catch {
        return false; // gone meanwhile
      }
    });
}

describe.runIf(linux)('syncFileSystem (one helper shell per path)', () => {
  it('syncs, answers concurrent requests, and keeps one helper for many syncs', async () => {
    const dir = join(work, 'plain');
    await mkdir(dir);
    expect(await syncFileSystem(dir)).toBe('ok');
    expect(await Promise.all([syncFileSystem(dir), syncFileSystem(dir), syncFileSystem(dir)])).toEqual(['ok', 'ok', 'ok']);
    expect(helperPids(dir)).toHaveLength(1);
  });

  it('passes the path as an argument: spaces, quotes, $, newlines and a leading dash are never parsed', async () => {
    const dir = join(work, "-odd name 'q' \"$HOME\" `x`\nline");
    await mkdir(dir);
    expect(await syncFileSystem(dir)).toBe('ok');
  });

  it('reports a failure with sync’s own message instead of claiming success', async () => {
    const missing = join(work, 'no-such-dir');
    await expect(syncFileSystem(missing)).rejects.toMatchObject({ code: 'EIO', message: expect.stringContaining('No such file') });
    // the helper survives a failed sync and answers the next request
    await mkdir(missing);
    expect(await syncFileSystem(missing)).toBe('ok');
  });

  it('a path that reads like "usage" or "invalid option" never turns a failure into "unsupported"', async () => {
    // 'unsupported' makes the store fall back to per-file fsync, which cannot see a write-back
    // error that syncfs has already reported: a failure must never be taken for it
    const tricky = join(work, 'usage invalid option not found');
    await expect(syncFileSystem(tricky)).rejects.toMatchObject({ code: 'EIO' });
  });

  it('a helper killed between requests is replaced; one killed during a request fails that request', async () => {
    const dir = join(work, 'killed');
    await mkdir(dir);
    expect(await syncFileSystem(dir)).toBe('ok');
    const [pid] = helperPids(dir);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, 'SIGKILL');
    // the first request after the kill may reach the dead helper before its exit is noticed:
    // then it must fail (we cannot know whether the sync ran), never resolve 'ok'
    const first = await syncFileSystem(dir).catch((e: NodeJS.ErrnoException) => e.code);
    expect(['ok', 'EIO']).toContain(first);
    expect(await syncFileSystem(dir)).toBe('ok');
    expect(helperPids(dir)).not.toContain(pid);
  });

  it('survives a Ctrl-C sent to its parent’s process group, and ends when the parent is SIGKILLed', async () => {
    const dir = join(work, 'group');
    await mkdir(dir);
    const compiled = join(dirname(fileURLToPath(import.meta.url)), '../../dist/storage/sync-file-system.js');
    const script = join(work, 'stay.mjs');
    await writeFile(
      script,
      `import { syncFileSystem } from ${JSON.stringify(compiled)};\nawait syncFileSystem(process.argv[2]);\nprocess.on('SIGINT', () => {});\nconsole.log('ready');\nsetInterval(() => {}, 1000);\n`,
    );
    const child = spawn(process.execPath, [script, dir], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.on('data', () => resolve()));
    const [helper] = helperPids(dir);
    expect(helper).toBeGreaterThan(0);
    process.kill(-child.pid!, 'SIGINT'); // what a terminal's Ctrl-C does: the whole foreground group
    await new Promise((r) => setTimeout(r, 300));
    expect(() => process.kill(helper!, 0), 'the helper must outlive a Ctrl-C').not.toThrow();
    child.kill('SIGKILL');
    for (let i = 0; i < 50 && helperPids(dir).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(helperPids(dir)).toEqual([]);
  });

  it('never keeps Node alive: a process that synced once exits on its own, and its helper with it', async () => {
    const dir = join(work, 'exit');
    await mkdir(dir);
    const here = dirname(fileURLToPath(import.meta.url));
    const script = join(work, 'once.mjs');
    // a plain `node` child cannot load TypeScript: it runs the compiled module (npm test builds first)
    const compiled = join(here, '../../dist/storage/sync-file-system.js');
    await writeFile(script, `import { syncFileSystem } from ${JSON.stringify(compiled)};\nconsole.log(await syncFileSystem(process.argv[2]));\n`);
    const started = Date.now();
    const out = execFileSync(process.execPath, [script, dir], { encoding: 'utf8', timeout: 20_000 });
    expect(out.trim()).toBe('ok');
    expect(Date.now() - started).toBeLessThan(15_000);
    // the helper's stdin closed with its parent: it ends
    for (let i = 0; i < 50 && helperPids(dir).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(helperPids(dir)).toEqual([]);
  });
});
