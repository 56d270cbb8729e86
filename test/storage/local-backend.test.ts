/**
 * Local-directory faults the contract suite cannot express: SIGKILL mid-write, a full disk, a
 * failing fsync, unreadable files, tmp/ clean-up.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as nodeFs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBackend, type LocalFs } from '../../src/storage/local-backend.js';
import { expectCode } from './backend-contract.js';
import { withTmpfs } from '../helpers/tmpfs.js';

const here = dirname(fileURLToPath(import.meta.url));
const srcDir = join(here, '../../src');
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'mlstore-localt-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Transpiles the storage sources to plain ESM so a child `node` can run the real LocalBackend. */
async function transpileStorage(out: string): Promise<string> {
  // every storage and core module (a new one imported by local-backend.ts is then never
  // forgotten); only the ones local-backend.ts imports are ever loaded, so the S3 SDK's absence
  // here is harmless
  const modules = async (dir: string) =>
    (await readdir(join(srcDir, dir))).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => `${dir}/${f}`);
  for (const file of ['errors.ts', ...(await modules('storage')), ...(await modules('core'))]) {
    const js = ts.transpileModule(await readFile(join(srcDir, file), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    }).outputText;
    const dest = join(out, file.replace(/\.ts$/, '.js'));
    await mkdir(dirname(dest), { recursive: true });
    await writeFile(dest, js);
  }
  return join(out, 'storage/local-backend.js');
}

/** Object i: 4 MiB + i bytes, every byte derived from i, so a torn write is detectable. */
const CHILD = `
import { LocalBackend } from './storage/local-backend.js';
const b = new LocalBackend(process.argv[2]);
for (let i = 0; ; i++) {
  const bytes = new Uint8Array(4 * 1024 * 1024 + i).fill(i % 251);
  await Promise.all([b.put('objects/o' + i, bytes), b.put('objects/p' + i, bytes)]);
  if (i % 2 === 1) {
    await b.flush();
    process.stdout.write('.'); // one more durable pair of batches
  }
}
`;

describe('LocalBackend crash safety', () => {
  it('never leaves a partial object at a final key when the writer is SIGKILLed', async () => {
    const lib = join(work, 'lib');
    await transpileStorage(lib);
    await writeFile(join(lib, 'child.mjs'), CHILD);
    for (let round = 0; round < 6; round++) {
      const root = join(work, `kill-${round}`);
      const child = spawn(process.execPath, [join(lib, 'child.mjs'), root], { stdio: ['ignore', 'pipe', 'inherit'] });
      let written = 0;
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (d: Buffer) => {
          written += d.length;
          // kill at a different point of the write cycle each round
          if (written >= 1 + (round >> 1)) setTimeout(() => child.kill('SIGKILL'), round * 7);
        });
        child.on('exit', () => resolve());
      });
      const b = new LocalBackend(root);
      let checked = 0;
      for await (const o of b.list('objects/')) {
        const i = Number(o.key.slice('objects/o'.length));
        const bytes = await b.get(o.key);
        expect(bytes.length, `${o.key} is torn`).toBe(4 * 1024 * 1024 + i);
        expect(bytes.every((x) => x === i % 251), `${o.key} has wrong bytes`).toBe(true);
        checked++;
      }
      expect(checked).toBeGreaterThanOrEqual(4); // at least the first flush landed
      await b.cleanTmp({ olderThanMs: 0 });
      const left = await readdir(join(root, 'tmp')).catch(() => []);
      expect(left.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    }
  });
});

describe('LocalBackend faults', () => {
  it('maps a full disk to NO_SPACE and leaves no file behind', async (ctx) => {
    await withTmpfs(ctx, join(work, 'tiny'), '8m', async (mnt) => {
      // through the page cache, and with O_DIRECT (tmpfs accepts it on recent kernels; where it
      // does not, the second round simply repeats the first)
      const { DirectWriter } = await import('../../src/storage/direct-writer.js');
      ctx.annotate(`O_DIRECT on this tmpfs: ${new DirectWriter(() => join(mnt, 'probe')).enabled}`);
      for (const directIo of [false, true]) {
        const b = new LocalBackend(join(mnt, `store-${directIo}`), { directIo });
        await b.put('objects/small', new Uint8Array(1000));
        await b.flush();
        await expectCode(b.put('objects/huge', new Uint8Array(16 * 1024 * 1024)), 'NO_SPACE');
        expect(await b.stat('objects/huge')).toBeUndefined();
        expect(await readdir(join(mnt, `store-${directIo}`, 'tmp')), `directIo ${directIo}`).toEqual([]);
        expect((await b.get('objects/small')).length).toBe(1000);
      }
    });
  });

  it('a full disk while packing is fatal, and close() then removes every temp file of its own', async (ctx) => {
    await withTmpfs(ctx, join(work, 'tiny-packs'), '2m', async (mnt) => {
      const b = new LocalBackend(join(mnt, 'store'), { packs: true });
      await b.put('objects/chunks/aa/loose', new Uint8Array(300 * 1024)); // staged as a loose temp file
      // small chunks fill the pack draft's gather buffer; writing it out runs out of space
      let failure: unknown;
      for (let i = 0; i < 64 && !failure; i++) {
        const key = `objects/chunks/${i.toString(16).padStart(2, '0')}/${'f'.repeat(62)}`;
        await b.put(key, new Uint8Array(60 * 1024).fill(i)).catch((e: unknown) => (failure = e));
      }
      expect(failure, 'the disk must fill up').toBeDefined();
      await b.close();
      expect((await readdir(join(mnt, 'store', 'tmp'))).filter((n) => n !== 'locks')).toEqual([]);
    });
  });

  it("durability 'fsync': an fsync failure is fatal: no retry, every later write fails", async () => {
    let failSync = false;
    let syncCalls = 0;
    const faulty: LocalFs = {
      ...nodeFs,
      open: (async (...args: Parameters<typeof nodeFs.open>) => {
        const fh = await nodeFs.open(...args);
        return new Proxy(fh, {
          get(target, prop) {
            if (prop === 'sync') {
              return async () => {
                syncCalls++;
                if (failSync) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
                return target.sync();
              };
            }
            const v = Reflect.get(target, prop, target) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        });
      }) as typeof nodeFs.open,
    };
    const b = new LocalBackend(join(work, 'fsync'), { fs: faulty, durability: 'fsync' });
    await b.put('objects/ok', new Uint8Array([1]));
    await b.flush();
    failSync = true;
    const e = await expectCode(b.put('objects/bad', new Uint8Array([2])), 'IO_ERROR');
    expect(e.details.fatal).toBe(true);
    expect(await b.stat('objects/bad')).toBeUndefined();
    failSync = false;
    const before = syncCalls;
    await expectCode(b.put('objects/later', new Uint8Array([3])), 'IO_ERROR');
    await expectCode(b.flush(), 'IO_ERROR');
    await expectCode(b.putIfVersion('refs/x', new Uint8Array([4]), null), 'IO_ERROR');
    expect(syncCalls).toBe(before); // nothing was retried
    expect((await b.get('objects/ok'))[0]).toBe(1); // reads still work
  });

  it("durability 'fsync': flush() makes directory entries durable by fsyncing each dirty directory", async () => {
    const synced: string[] = [];
    const spy = recordingSyncs(synced);
    const root = join(work, 'dirsync');
    const b = new LocalBackend(root, { fs: spy, durability: 'fsync' });
    await b.put('objects/ab/one', new Uint8Array([1]));
    await b.put('objects/cd/two', new Uint8Array([2]));
    synced.length = 0;
    await b.flush();
    const dirs = synced.map((p) => relative(root, p) || '.').sort();
    expect(dirs).toEqual(expect.arrayContaining(['.', 'objects', 'objects/ab', 'objects/cd']));
    synced.length = 0;
    await b.flush();
    expect(synced).toEqual([]);
  });

  it('reports a permission problem as UNREADABLE_OBJECT, not missing', async (ctx) => {
    const b = new LocalBackend(join(work, 'perm'));
    await b.put('objects/secret', new Uint8Array([1]));
    await b.flush();
    const path = join(work, 'perm', 'objects', 'secret');
    await chmod(path, 0o000);
    try {
      if (process.getuid?.() === 0) {
        // root ignores file modes; simulate the errno instead
        const denied: LocalFs = {
          ...nodeFs,
          open: (async () => {
            throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
          }) as typeof nodeFs.open,
        };
        const e = await expectCode(new LocalBackend(join(work, 'perm'), { fs: denied }).get('objects/secret'), 'UNREADABLE_OBJECT');
        expect(e.hint).toMatch(/permission/i);
        ctx.annotate('running as root: EACCES injected through the fs facade');
      } else {
        await expectCode(b.get('objects/secret'), 'UNREADABLE_OBJECT');
      }
    } finally {
      await chmod(path, 0o644);
    }
  });

  it('a FIFO or a directory at an object path reads as no object, at once (the open never blocks)', async () => {
    const root = join(work, 'fifo');
    const b = new LocalBackend(root);
    await b.put('objects/real', new Uint8Array([7]));
    await b.flush();
    await mkdir(join(root, 'objects'), { recursive: true });
    execFileSync('mkfifo', [join(root, 'objects', 'pipe')]);
    await mkdir(join(root, 'objects', 'dir'));
    const t = Date.now();
    await expectCode(b.get('objects/pipe'), 'MISSING_OBJECT');
    await expectCode(b.get('objects/dir'), 'MISSING_OBJECT');
    expect(Date.now() - t).toBeLessThan(5000);
    expect([...(await b.get('objects/real'))]).toEqual([7]);
  });

  it('reserves tmp/ and cleans only old leftovers there', async () => {
    const root = join(work, 'clean');
    let now = 1_000_000_000_000;
    const b = new LocalBackend(root, { now: () => now });
    await expectCode(b.put('tmp/x', new Uint8Array([1])), 'BAD_PATH');
    await b.put('objects/a', new Uint8Array([1]));
    await writeFile(join(root, 'tmp', 'leftover.tmp'), 'partial');
    now = (await stat(join(root, 'tmp', 'leftover.tmp'))).mtimeMs + 1000;
    expect(await b.cleanTmp()).toBe(0); // younger than 10 minutes: may belong to a live writer
    now += 3_600_000;
    expect(await b.cleanTmp()).toBe(1);
    const keys: string[] = [];
    for await (const o of b.list('')) keys.push(o.key);
    expect(keys).toEqual(['objects/a']);
  });

  it('cleanTmp never removes the temp files of a live writer on this host, however old; a dead one’s go by age', async () => {
    const root = join(work, 'clean-owners');
    let now = 1_000_000_000_000;
    const alive = new Set([111]);
    const owner = (pid: number) => ({ pid, isAlive: (p: number) => alive.has(p) });
    const writer = new LocalBackend(root, { owner: owner(111), durability: 'batched', now: () => now });
    const dead = new LocalBackend(root, { owner: owner(222), durability: 'batched', now: () => now });
    await writer.put('objects/w', new Uint8Array(100_000)); // staged: a temp file named for pid 111
    await dead.put('objects/d', new Uint8Array(100_001)); // pid 222 "dies" with its file staged
    const names = await readdir(join(root, 'tmp'));
    expect(names.filter((n) => n.startsWith('111@'))).toHaveLength(1);
    expect(names.filter((n) => n.startsWith('222@'))).toHaveLength(1);
    now = Date.now() + 3_600_000; // an hour later
    const cleaner = new LocalBackend(root, { owner: owner(333), now: () => now });
    expect(await cleaner.cleanTmp()).toBe(1);
    const left = await readdir(join(root, 'tmp'));
    expect(left.filter((n) => n.startsWith('111@'))).toHaveLength(1); // the live writer's batch is intact…
    expect(left.filter((n) => n.startsWith('222@'))).toEqual([]);
    await writer.flush(); // …and commits
    expect((await stat(join(root, 'objects/w'))).size).toBe(100_000);
  });

  it('breaks at once a ref lock whose holder (pid on this host) is dead; a live holder is waited for', async () => {
    const { createHash } = await import('node:crypto');
    const { hostname } = await import('node:os');
    const root = join(work, 'dead-holder');
    let now = Date.now();
    const alive = new Set([4242]);
    const owner = { pid: 1, isAlive: (pid: number) => alive.has(pid) };
    const b = new LocalBackend(root, { owner, lockTimeoutMs: 200, lockStaleMs: 30_000, now: () => now, sleep: async () => { now += 20; } });
    expect(await b.putIfVersion('refs/main', new Uint8Array([1]), null)).toBe(true);
    const lock = join(root, 'tmp', 'locks', `${createHash('sha256').update('refs/main').digest('hex')}.lock`);
    await writeFile(lock, `4242@${hostname()}`); // a writer SIGKILLed inside the ref update, seconds ago
    const v = (await b.getVersioned('refs/main'))!;
    await expectCode(b.putIfVersion('refs/main', new Uint8Array([2]), v.version), 'LOCKED'); // still alive: respected
    alive.delete(4242);
    const started = now;
    expect(await b.putIfVersion('refs/main', new Uint8Array([2]), v.version)).toBe(true);
    expect(now - started).toBeLessThan(200); // no waiting for the lock to age out
    await writeFile(lock, '4242@another-host');
    const v2 = (await b.getVersioned('refs/main'))!;
    await expectCode(b.putIfVersion('refs/main', new Uint8Array([3]), v2.version), 'LOCKED'); // cannot judge another host's pid
  });

  it('breaks a lock abandoned by a crashed process, but waits for a live one', async () => {
    const root = join(work, 'locks');
    let now = Date.now();
    const b = new LocalBackend(root, { now: () => now, lockTimeoutMs: 200, lockStaleMs: 30_000, sleep: async () => { now += 20; } });
    expect(await b.putIfVersion('refs/main', new Uint8Array([1]), null)).toBe(true);
    const { createHash } = await import('node:crypto');
    const lock = join(root, 'tmp', 'locks', `${createHash('sha256').update('refs/main').digest('hex')}.lock`);
    await writeFile(lock, '');
    const v = (await b.getVersioned('refs/main'))!;
    await expectCode(b.putIfVersion('refs/main', new Uint8Array([2]), v.version), 'LOCKED');
    now += 60_000;
    expect(await b.putIfVersion('refs/main', new Uint8Array([2]), v.version)).toBe(true);
  });
});

describe("LocalBackend batched durability (the default)", () => {
  /** A syncfs double that records what was at the final key when each sync ran. */
  function recordingSync(root: string, key: string, log: string[], fail?: () => boolean) {
    return async (path: string): Promise<'ok'> => {
      expect(path).toBe(root);
      const atKey = await stat(join(root, key)).then(() => 'present', () => 'absent');
      log.push(`sync(${atKey})`);
      if (fail?.()) throw Object.assign(new Error('syncfs failed: Input/output error'), { code: 'EIO' });
      return 'ok';
    };
  }

  it('syncs the data before any rename and the directories after, in flush()', async () => {
    const root = join(work, 'batched-order');
    const log: string[] = [];
    const b = new LocalBackend(root, { syncFileSystem: recordingSync(root, 'objects/ab/one', log) });
    await b.put('objects/ab/one', new Uint8Array([1, 2, 3]));
    expect(log).toEqual([]); // staged, nothing synced yet …
    expect(await stat(join(root, 'objects/ab/one')).catch(() => undefined)).toBeUndefined(); // … nor at its final key
    expect([...(await b.get('objects/ab/one'))]).toEqual([1, 2, 3]); // but this process reads it
    expect((await b.stat('objects/ab/one'))?.size).toBe(3);
    await b.flush();
    expect(log).toEqual(['sync(absent)', 'sync(present)']);
    expect([...(await readFile(join(root, 'objects/ab/one')))]).toEqual([1, 2, 3]);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    await b.flush(); // nothing staged: no more syncs
    expect(log).toHaveLength(2);
  });

  it('commits full batches in the background before flush()', async () => {
    const root = join(work, 'batched-size');
    const log: string[] = [];
    const b = new LocalBackend(root, { batchObjects: 2, syncFileSystem: recordingSync(root, 'objects/a', log) });
    await b.put('objects/a', new Uint8Array([1]));
    await b.put('objects/b', new Uint8Array([2])); // seals the first batch
    await b.put('objects/c', new Uint8Array([3])); // waits at most for the batch before it
    await b.put('objects/d', new Uint8Array([4]));
    expect(log[0]).toBe('sync(absent)');
    await b.flush();
    expect(log.filter((l) => l === 'sync(absent)')).toHaveLength(1); // objects/a landed with the first batch
    const keys: string[] = [];
    for await (const o of b.list('objects/')) keys.push(o.key);
    expect(keys.sort()).toEqual(['objects/a', 'objects/b', 'objects/c', 'objects/d']);
  });

  it('treats a failed syncfs as fatal: nothing renamed, every later write and flush fails', async () => {
    const root = join(work, 'batched-fail');
    const log: string[] = [];
    let fail = false;
    const b = new LocalBackend(root, { syncFileSystem: recordingSync(root, 'objects/bad', log, () => fail) });
    await b.put('objects/ok', new Uint8Array([1]));
    await b.flush();
    fail = true;
    await b.put('objects/bad', new Uint8Array([2])); // only staged: the failure shows at flush
    const e = await expectCode(b.flush(), 'IO_ERROR');
    expect(e.details.fatal).toBe(true);
    expect(await stat(join(root, 'objects/bad')).catch(() => undefined)).toBeUndefined();
    fail = false;
    await expectCode(b.put('objects/later', new Uint8Array([3])), 'IO_ERROR');
    await expectCode(b.flush(), 'IO_ERROR');
    expect(log).toEqual(['sync(absent)', 'sync(absent)', 'sync(absent)']); // two for objects/ok, one failed, never retried
    expect((await b.get('objects/ok'))[0]).toBe(1);
  });

  it('falls back to per-file and per-directory fsync where syncfs is unavailable', async () => {
    const synced: string[] = [];
    const spy = recordingSyncs(synced);
    const root = join(work, 'batched-fallback');
    const b = new LocalBackend(root, { fs: spy, syncFileSystem: async () => 'unsupported' });
    await b.put('objects/ab/one', new Uint8Array([1]));
    await b.flush();
    const rel = synced.map((p) => relative(root, p) || '.');
    expect(rel.filter((p) => p.startsWith('tmp/'))).toHaveLength(1); // the temp file, before its rename
    expect(rel).toEqual(expect.arrayContaining(['objects', 'objects/ab']));
    expect(rel.findIndex((p) => p.startsWith('tmp/'))).toBeLessThan(rel.indexOf('objects/ab'));
  });

  it('put replaces a damaged object of the wrong size (truncated) but leaves a same-size one to fsck', async () => {
    for (const durability of ['batched', 'fsync'] as const) {
      const root = join(work, `replace-${durability}`);
      const b = new LocalBackend(root, { durability });
      const good = new Uint8Array(5000).fill(7);
      await b.put('objects/ab/x', good);
      await b.flush();
      await writeFile(join(root, 'objects/ab/x'), good.subarray(0, 100)); // torn by some crash
      const b2 = new LocalBackend(root, { durability }); // a new process
      await b2.put('objects/ab/x', good);
      await b2.flush();
      expect(Buffer.compare(await readFile(join(root, 'objects/ab/x')), Buffer.from(good)), durability).toBe(0);
      const flipped = Buffer.from(good);
      flipped[10] = 8;
      await writeFile(join(root, 'objects/ab/x'), flipped);
      await new LocalBackend(root, { durability }).put('objects/ab/x', good);
      expect((await readFile(join(root, 'objects/ab/x')))[10], 'same size: not re-checked here').toBe(8);
    }
  });

  it('really calls syncfs here (coreutils sync --file-system) and the objects land', async (ctx) => {
    const { syncFileSystem } = await import('../../src/storage/sync-file-system.js');
    const result = await syncFileSystem(work);
    if (process.platform === 'linux') expect(result).toBe('ok');
    else ctx.annotate(`syncfs: ${result} on ${process.platform}`);
    const b = new LocalBackend(join(work, 'batched-real'));
    for (let i = 0; i < 100; i++) await b.put(`objects/${i}`, new Uint8Array([i]));
    await b.flush();
    expect(await readdir(join(work, 'batched-real', 'objects'))).toHaveLength(100);
  });
});

/** A LocalFs whose file handles record, in `synced`, the path of every fsync. */
function recordingSyncs(synced: string[]): LocalFs {
  return {
    ...nodeFs,
    open: (async (...args: Parameters<typeof nodeFs.open>) => {
      const fh = await nodeFs.open(...args);
      const sync = fh.sync.bind(fh);
      fh.sync = async () => {
        synced.push(String(args[0]));
        return sync();
      };
      return fh;
    }) as typeof nodeFs.open,
  };
}
