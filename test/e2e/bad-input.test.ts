/**
 * Bad input gets a clear error code and the right exit code, and damages nothing: not a
 * repository, paths outside the repository or inside .mlstore/.git, missing and unreadable files,
 * a file that changes while it is read, and a second process holding the lock.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { errorCodeOf, runCli, runJson, spawnCli, spawnCliDone } from '../helpers/cli.js';
import { newRepo, pseudoRandom, snapshotTree, tempDir, writeFiles } from '../helpers/repo.js';
import { assertStoreConsistent, checkObjects } from '../helpers/store.js';

/** Everything a failed command could have damaged: workspace files, tracked paths, refs, HEAD, objects. */
async function state(repo: string) {
  const mls = join(repo, '.mlstore');
  const read = (p: string) => readFile(join(mls, p), 'utf8').catch(() => null);
  const refs = await readdir(join(mls, 'refs/heads')).catch(() => [] as string[]);
  return {
    workspace: await snapshotTree(repo),
    tracked: await read('tracked.json'),
    head: await read('HEAD'),
    refs: Object.fromEntries(await Promise.all(refs.map(async (r) => [r, await read(`refs/heads/${r}`)]))),
    lockFile: await stat(join(mls, 'lock')).then(() => true, () => false),
  };
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

describe('e2e bad input', () => {
  it('outside a repository: exit 2 NOT_A_REPOSITORY, nothing created', async () => {
    const dir = await tempDir();
    await writeFiles(dir, { 'data/x': 'x' });
    for (const args of [['add', 'data'], ['status'], ['commit', '-m', 'm'], ['log'], ['show'], ['diff', 'HEAD'], ['branch'], ['tag'], ['checkout', 'main']]) {
      expect(await errorCodeOf(args, { cwd: dir }), args.join(' ')).toMatchObject({ code: 2, error: 'NOT_A_REPOSITORY' });
    }
    expect(await readdir(dir)).toEqual(['data']);
    // a .mlstore directory without config.json (an interrupted init) is not a repository either
    await writeFiles(dir, { '.mlstore/HEAD': 'ref: refs/heads/main\n' });
    expect(await errorCodeOf(['status'], { cwd: dir })).toMatchObject({ code: 2, error: 'NOT_A_REPOSITORY' });
  });

  it('paths outside the repository, inside .mlstore/.git, or the root itself: exit 2 BAD_PATH, nothing recorded', async () => {
    const repo = await newRepo();
    const outside = await tempDir();
    await writeFiles(outside, { 'o.txt': 'outside' });
    await writeFiles(repo, { 'data/x': 'x', '.git/config': '[core]\n', 'sub/.git/HEAD': 'x', 'sub/ok': 'ok' });
    const before = await state(repo);
    const cases = [
      ['add', '../'],
      ['add', join(outside, 'o.txt')],
      ['add', `../${outside.split('/').pop()}/o.txt`],
      ['add', 'data/../../x'],
      ['add', '.mlstore'],
      ['add', '.mlstore/config.json'],
      ['add', '.MLSTORE/config.json'],
      ['add', '.git'],
      ['add', '.git/config'],
      ['add', 'sub/.git/HEAD'],
      ['add', '.'],
      ['add', 'data', '/etc/hostname'], // one bad path refuses the whole command
    ];
    for (const args of cases) expect(await errorCodeOf(args, { cwd: repo }), args.join(' ')).toMatchObject({ code: 2, error: 'BAD_PATH' });
    expect(await errorCodeOf(['add', '../..'], { cwd: join(repo, 'data') })).toMatchObject({ code: 2, error: 'BAD_PATH' });
    // a FIFO named directly is refused like a symlink (inside a directory it is skipped and reported)
    execFileSync('mkfifo', [join(repo, 'data/pipe')]);
    expect(await errorCodeOf(['add', 'data/pipe'], { cwd: repo })).toMatchObject({ code: 2, error: 'BAD_PATH' });
    await rm(join(repo, 'data/pipe'));
    expect(await state(repo)).toEqual(before);
    expect((await checkObjects(repo)).chunks).toBe(0);

    // .git inside a tracked directory is skipped and reported, never stored
    const add = await runJson(['add', 'sub'], { cwd: repo });
    expect(add.code, JSON.stringify(add.json)).toBe(0);
    expect(add.json.files).toBe(1);
    expect(add.json.skipped).toEqual([{ path: 'sub/.git', reason: 'reserved' }]);
    const c = await runJson(['commit', '-m', 'c'], { cwd: repo });
    expect(c.code).toBe(0);
    expect(await errorCodeOf(['checkout', 'HEAD', '../x'], { cwd: repo })).toMatchObject({ code: 2, error: 'BAD_PATH' });
    expect(await errorCodeOf(['checkout', 'HEAD', '.mlstore'], { cwd: repo })).toMatchObject({ code: 2, error: 'BAD_PATH' });
  });

  it('a hostile mlstore.lock (it comes from Git) or a damaged tracked.json: exit 2 BAD_CONFIG, nothing outside scanned, written or removed', async () => {
    const repo = await newRepo();
    const outside = await tempDir();
    await writeFiles(outside, { 'victim/file': 'precious' });
    const away = `../${outside.split('/').pop()}/victim`;
    await writeFiles(repo, { 'data/x': 'x' });
    expect((await runCli(['add', 'data'], { cwd: repo })).code).toBe(0);
    expect((await runCli(['commit', '-m', 'v1'], { cwd: repo })).code).toBe(0);
    const lock = JSON.parse(await readFile(join(repo, 'mlstore.lock'), 'utf8'));
    const before = await state(repo);
    const hostile = [[away], ['data', away], [`${outside}/victim`], ['data/../..'], ['.mlstore'], ['data/.git'], [''], ['data//x'], ['a\\b'], [7]];
    for (const paths of hostile) {
      await writeFile(join(repo, 'mlstore.lock'), JSON.stringify({ ...lock, paths }));
      // before the check, `checkout` recorded such a root, and `checkout -f` then deleted what lay under it
      for (const args of [['checkout'], ['checkout', '-f']]) {
        expect(await errorCodeOf(args, { cwd: repo }), `${args.join(' ')} with ${JSON.stringify(paths)}`).toMatchObject({ code: 2, error: 'BAD_CONFIG' });
      }
    }
    await writeFile(join(repo, 'mlstore.lock'), `${JSON.stringify(lock, null, 2)}\n`);
    expect(await state(repo)).toEqual(before);
    expect(await readFile(join(outside, 'victim/file'), 'utf8')).toBe('precious');

    // tracked.json is local, but a damaged one must not lead out of the repository either
    await writeFile(join(repo, '.mlstore/tracked.json'), JSON.stringify(['data', away]));
    for (const args of [['status'], ['checkout', '-f', 'HEAD'], ['add', 'data']]) {
      expect(await errorCodeOf(args, { cwd: repo }), args.join(' ')).toMatchObject({ code: 2, error: 'BAD_CONFIG' });
    }
    expect(await readFile(join(outside, 'victim/file'), 'utf8')).toBe('precious');
  });

  it('usage errors: nothing to add, empty message, nothing tracked, missing file', async () => {
    const repo = await newRepo();
    expect((await runCli(['add'], { cwd: repo })).code).toBe(2);
    expect(await errorCodeOf(['commit', '-m', '  '], { cwd: repo })).toMatchObject({ code: 2, error: 'USAGE' });
    expect(await errorCodeOf(['commit', '-m', 'm'], { cwd: repo })).toMatchObject({ code: 2, error: 'NOTHING_TO_COMMIT' });
    const before = await state(repo);
    expect(await errorCodeOf(['add', 'no-such-file'], { cwd: repo })).toMatchObject({ code: 2, error: 'BAD_PATH' });
    await writeFiles(repo, { 'data/x': 'x' });
    expect(await errorCodeOf(['add', 'data/x', 'data/missing'], { cwd: repo })).toMatchObject({ code: 2, error: 'BAD_PATH' });
    expect((await state(repo)).tracked).toEqual(before.tracked);
    expect(await errorCodeOf(['init', '--chunk-avg', '3000'], { cwd: await tempDir() })).toMatchObject({ code: 2 });
    expect(await errorCodeOf(['init', '--chunk-avg', 'lots'], { cwd: await tempDir() })).toMatchObject({ code: 2, error: 'USAGE' });
  });

  it('an unreadable file or directory (run as an unprivileged user): exit 3 IO_ERROR, nothing recorded', async () => {
    // root reads anything whatever the mode, so as root the command runs as uid 65534 (nobody);
    // as an ordinary user chmod 000 alone makes the file unreadable.
    const repo = await newRepo();
    await writeFiles(repo, { 'data/ok.txt': 'ok', 'data/secret.bin': pseudoRandom('s', 5000), 'locked/inner.txt': 'in' });
    await chmod(join(repo, 'data/secret.bin'), 0o000);
    await chmod(join(repo, 'locked'), 0o000);
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    if (process.getuid?.() === 0) {
      await chmod(repo, 0o755);
      for (const p of ['', '.mlstore', '.mlstore/tmp', '.mlstore/HEAD', '.mlstore/config.json', '.gitignore', 'data', 'data/ok.txt', 'data/secret.bin', 'locked', 'locked/inner.txt']) {
        await chown(join(repo, p), 65534, 65534);
      }
    }
    const before = await state(repo);
    const r = await spawnCliDone(['add', 'data', '--json'], { cwd: repo, ...asUser });
    expect(r.code, r.stderr).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'IO_ERROR' } });
    expect(r.stderr).toContain('secret.bin');
    const r2 = await spawnCliDone(['add', 'locked', '--json'], { cwd: repo, ...asUser });
    expect(r2.code, r2.stderr).toBe(3);
    expect(JSON.parse(r2.stdout)).toMatchObject({ ok: false, error: { code: 'IO_ERROR' } });
    const after = await state(repo);
    expect(after.tracked).toEqual(before.tracked);
    expect(after.refs).toEqual(before.refs);
    expect(after.lockFile).toBe(false);
    await assertStoreConsistent(repo);
  });

  it('a file that keeps changing while it is added: exit 3 FILE_CHANGED, nothing recorded; add works once it stops', async () => {
    const repo = await newRepo({ chunks: [] }); // default chunk sizes: the file is read in several windows
    await writeFiles(repo, { 'data/growing.log': pseudoRandom('g', 8 * 1024 * 1024), 'data/steady.txt': 'steady\n' });
    const appender = spawn('sh', ['-c', 'while :; do printf 0123456789 >> data/growing.log; done'], { cwd: repo, stdio: 'ignore' });
    children.push(appender);
    await waitFor(async () => (await stat(join(repo, 'data/growing.log'))).size > 8 * 1024 * 1024);
    const before = await state(repo);
    const r = await errorCodeOf(['add', 'data'], { cwd: repo });
    expect(r).toMatchObject({ code: 3, error: 'FILE_CHANGED' });
    const after = await state(repo);
    expect(after.tracked).toEqual(before.tracked);
    expect(after.lockFile).toBe(false);

    // the same during commit of an already-tracked directory
    appender.kill('SIGKILL');
    await new Promise((r) => appender.once('exit', r));
    expect((await runCli(['add', 'data'], { cwd: repo })).code).toBe(0);
    const appender2 = spawn('sh', ['-c', 'while :; do printf 0123456789 >> data/growing.log; done'], { cwd: repo, stdio: 'ignore' });
    children.push(appender2);
    const size0 = (await stat(join(repo, 'data/growing.log'))).size;
    await waitFor(async () => (await stat(join(repo, 'data/growing.log'))).size > size0);
    expect(await errorCodeOf(['commit', '-m', 'while changing'], { cwd: repo })).toMatchObject({ code: 3, error: 'FILE_CHANGED' });
    expect((await state(repo)).refs).toEqual({});
    appender2.kill('SIGKILL');
    await new Promise((r) => appender2.once('exit', r));
    const c = await runJson(['commit', '-m', 'after'], { cwd: repo });
    expect(c.code, c.stderr).toBe(0);
    const show = await runJson(['show'], { cwd: repo });
    expect(show.json.files.find((f: { path: string }) => f.path === 'data/growing.log').size).toBe((await stat(join(repo, 'data/growing.log'))).size);
    await assertStoreConsistent(repo);
  });

  it('a second process holding the lock: exit 3 LOCKED for writers, readers still work, nothing damaged', async () => {
    const repo = await newRepo({ chunks: [] });
    await writeFiles(repo, { 'data/big.bin': pseudoRandom('big', 16 * 1024 * 1024), 'data/small.txt': 'small\n' });
    const first = spawnCli(['add', 'data'], { cwd: repo });
    children.push(first.child);
    await waitFor(() => stat(join(repo, '.mlstore/lock')).then(() => true, () => false), 20_000);
    first.child.kill('SIGSTOP'); // hold it there, lock taken, work half done
    try {
      const owner = JSON.parse(await readFile(join(repo, '.mlstore/lock'), 'utf8'));
      expect(owner).toMatchObject({ pid: first.child.pid, host: hostname() });
      for (const args of [['add', 'data/small.txt'], ['commit', '-m', 'x'], ['checkout', 'main'], ['branch', 'b'], ['tag', 't']]) {
        const r = await runJson(args, { cwd: repo });
        expect(r.json.error?.code, args.join(' ')).toBe('LOCKED');
        expect(r.code, args.join(' ')).toBe(3);
        expect(r.json.error.details.owner.pid).toBe(first.child.pid);
      }
      const st = await runJson(['status'], { cwd: repo });
      expect(st.code, st.stderr).toBe(0);
      expect((await runJson(['log'], { cwd: repo })).code).toBe(0);
    } finally {
      first.child.kill('SIGCONT');
    }
    const done = await first.done;
    expect(done.code, done.stderr).toBe(0);
    expect((await runJson(['commit', '-m', 'v1'], { cwd: repo })).code).toBe(0);
    await assertStoreConsistent(repo);
  });

  it('a lock left by a live process blocks; once that process is gone the lock is taken over', async () => {
    const repo = await newRepo();
    await writeFiles(repo, { 'data/x': 'x' });
    const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(holder);
    await writeFile(join(repo, '.mlstore/lock'), JSON.stringify({ pid: holder.pid, host: hostname(), command: 'mlstore add', time: new Date().toISOString() }));
    expect(await errorCodeOf(['add', 'data'], { cwd: repo })).toMatchObject({ code: 3, error: 'LOCKED' });
    expect((await state(repo)).tracked).toBeNull();
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    const r = await runJson(['add', 'data'], { cwd: repo });
    expect(r.code, r.stderr).toBe(0);
    expect((await state(repo)).lockFile).toBe(false);
    // a lock held on another host is respected whatever its pid
    await writeFile(join(repo, '.mlstore/lock'), JSON.stringify({ pid: 999999, host: 'some-other-host', command: 'mlstore add', time: 'x' }));
    expect(await errorCodeOf(['commit', '-m', 'm'], { cwd: repo })).toMatchObject({ code: 3, error: 'LOCKED' });
  });
});

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting for a condition');
    await new Promise((r) => setTimeout(r, 10));
  }
}
