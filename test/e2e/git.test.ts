/**
 * Git integration with the real `git` binary: commits record the code version (HEAD, dirty flag,
 * digest of the changes) and the environment; mlstore.lock and .gitignore make
 * `git checkout <old>; mlstore checkout` give back the data of that code version.
 */
import { execFileSync } from 'node:child_process';
import { readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, runJson } from '../helpers/cli.js';
import { newRepo, sha256, snapshotTree, tempDir, writeFiles } from '../helpers/repo.js';
import { assertStoreConsistent } from '../helpers/store.js';

const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_SYSTEM: '/dev/null',
  GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z',
  GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z',
};
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();
const dataOnly = (p: string) => p === 'data' || p.startsWith('data/');
/** Author from git config, not from the test defaults. */
const NO_AUTHOR_VARS = { MLSTORE_AUTHOR_NAME: undefined, MLSTORE_AUTHOR_EMAIL: undefined };

describe('e2e with git', () => {
  it('records code.commit/dirty/diff, writes mlstore.lock and .gitignore; git checkout <old> + mlstore checkout restores that data', async () => {
    const repo = await newRepo();
    git(repo, 'init', '-q', '-b', 'trunk');
    git(repo, 'config', 'user.name', 'Git Person');
    git(repo, 'config', 'user.email', 'git@example.com');
    await writeFiles(repo, { 'train.py': 'print("train")\n', 'data/x.csv': 'a,b\n1,2\n', 'data/sub/y.bin': 'y1' });

    const add = await runJson(['add', 'data'], { cwd: repo });
    expect(add.code, add.stderr).toBe(0);
    const ignore = await readFile(join(repo, '.gitignore'), 'utf8');
    expect(ignore.split('\n')).toEqual(expect.arrayContaining(['/.mlstore/', '/data']));
    // data is ignored by git; the code is not
    git(repo, 'add', '-A');
    expect(git(repo, 'status', '--porcelain')).not.toContain('data');
    git(repo, 'commit', '-q', '-m', 'code v1');
    const g1 = git(repo, 'rev-parse', 'HEAD');

    const c1 = await runJson(['commit', '-m', 'data v1'], { cwd: repo, vars: NO_AUTHOR_VARS });
    expect(c1.code, c1.stderr).toBe(0);
    expect(c1.json.commit.code).toEqual({ commit: g1, dirty: false, diff: null });
    expect(c1.json.commit.author).toEqual({ name: 'Git Person', email: 'git@example.com' });
    const lock1 = JSON.parse(await readFile(join(repo, 'mlstore.lock'), 'utf8'));
    expect(lock1).toEqual({ version: 1, commit: c1.json.id, paths: ['data'] });
    // mlstore.lock is stable, sorted JSON
    expect(await readFile(join(repo, 'mlstore.lock'), 'utf8')).toBe(`${JSON.stringify({ version: 1, commit: c1.json.id, paths: ['data'] }, null, 2)}\n`);
    git(repo, 'add', 'mlstore.lock');
    git(repo, 'commit', '-q', '-m', 'data v1');
    const gData1 = git(repo, 'rev-parse', 'HEAD');
    const data1 = await snapshotTree(repo, { include: dataOnly });

    // v2: data changes, code committed
    await writeFiles(repo, { 'data/x.csv': 'a,b\n1,2\n3,4\n', 'data/z.txt': 'z' });
    await rm(join(repo, 'data/sub/y.bin'));
    await writeFile(join(repo, 'train.py'), 'print("train v2")\n');
    git(repo, 'commit', '-q', '-am', 'code v2');
    const g2 = git(repo, 'rev-parse', 'HEAD');
    const c2 = await runJson(['commit', '-m', 'data v2'], { cwd: repo });
    expect(c2.json.commit.code).toEqual({ commit: g2, dirty: false, diff: null });
    git(repo, 'commit', '-q', '-am', 'data v2');
    const data2 = await snapshotTree(repo, { include: dataOnly });

    // uncommitted code changes: dirty, with a digest that pins them
    await writeFile(join(repo, 'train.py'), 'print("experiment")\n');
    await writeFiles(repo, { 'data/w.txt': 'w' });
    const c3 = await runJson(['commit', '-m', 'data v3 from dirty code'], { cwd: repo });
    expect(c3.json.commit.code.commit).toBe(git(repo, 'rev-parse', 'HEAD'));
    expect(c3.json.commit.code.dirty).toBe(true);
    expect(c3.json.commit.code.diff).toMatch(/^[0-9a-f]{64}$/);
    // a different dirty change gives a different digest
    await writeFile(join(repo, 'train.py'), 'print("experiment 2")\n');
    const c4 = await runJson(['commit', '-m', 'v4', '--allow-empty'], { cwd: repo });
    expect(c4.json.commit.code.dirty).toBe(true);
    expect(c4.json.commit.code.diff).not.toBe(c3.json.commit.code.diff);
    // an untracked file does not make code dirty; mlstore.lock changes never do
    git(repo, 'checkout', '-q', '--', 'train.py');
    git(repo, 'add', 'mlstore.lock');
    git(repo, 'commit', '-q', '-m', 'lock v4');
    await writeFiles(repo, { 'notes.txt': 'scratch' });
    const c5 = await runJson(['commit', '-m', 'v5', '--allow-empty'], { cwd: repo });
    expect(c5.json.commit.code.dirty).toBe(false);
    expect(await runCli(['show'], { cwd: repo }).then((r) => r.stdout)).toContain(`code        ${git(repo, 'rev-parse', 'HEAD')}`);

    git(repo, 'commit', '-q', '-m', 'lock v5', '--', 'mlstore.lock');
    // back to the code of data v1: mlstore checkout with no REV restores that data exactly
    git(repo, 'checkout', '-q', gData1);
    expect(JSON.parse(await readFile(join(repo, 'mlstore.lock'), 'utf8')).commit).toBe(c1.json.id);
    const co = await runJson(['checkout'], { cwd: repo });
    expect(co.code, co.stderr).toBe(0);
    expect(co.json.id).toBe(c1.json.id);
    expect(await snapshotTree(repo, { include: dataOnly })).toEqual(data1);
    expect(git(repo, 'status', '--porcelain')).toBe('?? notes.txt'); // mlstore.lock untouched by the checkout
    // and forward again to the code of data v2
    git(repo, 'checkout', '-q', 'trunk~2'); // the "data v2" Git commit
    const co2 = await runJson(['checkout'], { cwd: repo });
    expect(co2.code, co2.stderr).toBe(0);
    expect(co2.json.id).toBe(c2.json.id);
    expect(await snapshotTree(repo, { include: dataOnly })).toEqual(data2);
    await assertStoreConsistent(repo);
  });

  it('.gitignore gets every tracked path, escaped so git ignores exactly that path', async () => {
    const repo = await newRepo();
    git(repo, 'init', '-q');
    const names = ['#hash', '!bang', 'trailing ', 'with space', 'new\nline', '[x]*?', 'back\\slash', 'é'];
    const files: Record<string, string> = { 'keep/me.txt': 'code' };
    for (const n of names) files[`${n}/f.txt`] = n;
    files['x*y.bin'] = 'not to be ignored by the [x]*? pattern';
    await writeFiles(repo, files);
    const tracked = names.filter((n) => !n.includes('\\')); // a backslash cannot be stored at all
    const add = await runJson(['add', ...tracked], { cwd: repo });
    expect(add.code, add.stderr).toBe(0);
    git(repo, 'add', '-A');
    const staged = git(repo, 'diff', '--cached', '--name-only', '-z').split('\0').filter(Boolean).sort();
    expect(staged).toEqual(['.gitignore', 'back\\slash/f.txt', 'keep/me.txt', 'x*y.bin'].sort());
    // running add again adds no duplicate lines
    const again = await runJson(['add', ...tracked], { cwd: repo });
    expect(again.json.gitignore).toEqual([]);
  });

  it('environment: lock files at the root are components; adding or changing requirements.txt changes the digest', async () => {
    const repo = await newRepo();
    await writeFiles(repo, { 'data/a': 'a' });
    await runCli(['add', 'data'], { cwd: repo });
    const c1 = await runJson(['commit', '-m', 'no lock files'], { cwd: repo });
    const env1 = c1.json.commit.environment;
    expect(env1.components).toMatchObject({ os: process.platform, arch: process.arch, 'runtime:node': process.version });
    expect(Object.keys(env1.components).some((k) => k.startsWith('file:'))).toBe(false);

    await writeFiles(repo, { 'requirements.txt': 'numpy==1.26.4\n' });
    const c2 = await runJson(['commit', '-m', 'with requirements', '--allow-empty'], { cwd: repo });
    const env2 = c2.json.commit.environment;
    expect(env2.components['file:requirements.txt']).toBe(`sha256:${sha256('numpy==1.26.4\n')}`);
    expect(env2.digest).not.toBe(env1.digest);

    await writeFiles(repo, { 'requirements.txt': 'numpy==2.0.0\n', 'Dockerfile': 'FROM python:3.12\n', 'requirements-dev.txt': 'pytest\n', 'uv.lock': 'x' });
    const c3 = await runJson(['commit', '-m', 'more', '--allow-empty'], { cwd: repo });
    const env3 = c3.json.commit.environment;
    expect(Object.keys(env3.components).filter((k) => k.startsWith('file:')).sort()).toEqual([
      'file:Dockerfile',
      'file:requirements-dev.txt',
      'file:requirements.txt',
      'file:uv.lock',
    ]);
    expect(env3.digest).not.toBe(env2.digest);
    // unchanged environment → same digest
    const c4 = await runJson(['commit', '-m', 'same env', '--allow-empty'], { cwd: repo });
    expect(c4.json.commit.environment).toEqual(env3);
    // a lock file in a subdirectory is not the project's environment
    await writeFiles(repo, { 'data/requirements.txt': 'not an env\n' });
    const c5 = await runJson(['commit', '-m', 'data only'], { cwd: repo });
    expect(c5.json.commit.environment.digest).toBe(env3.digest);
  });

  it('--input records lineage edges (REV and REV:PATH) resolved to commit ids', async () => {
    const repo = await newRepo();
    await writeFiles(repo, { 'data/a': 'a' });
    await runCli(['add', 'data'], { cwd: repo });
    const base = (await runJson(['commit', '-m', 'dataset'], { cwd: repo })).json.id;
    await runCli(['tag', 'ds-v1'], { cwd: repo });
    await writeFiles(repo, { 'model/m.bin': 'weights' });
    await runCli(['add', 'model'], { cwd: repo });
    const c = await runJson(['commit', '-m', 'model', '--input', 'ds-v1:data', '--input', 'HEAD'], { cwd: repo });
    expect(c.code, c.stderr).toBe(0);
    expect(c.json.commit.inputs).toEqual([{ commit: base, path: 'data' }, { commit: base }]);
    const bad = await runJson(['commit', '-m', 'x', '--allow-empty', '--input', 'nope'], { cwd: repo });
    expect(bad).toMatchObject({ code: 2, json: { error: { code: 'UNKNOWN_REV' } } });
  });

  it('a changed tracked symlink to /dev/zero or a tracked file swapped for a FIFO: commit records dirty code and finishes', async () => {
    const repo = await newRepo();
    git(repo, 'init', '-q', '-b', 'trunk');
    await writeFiles(repo, { 'train.py': 'print(1)\n', 'data/x': 'x' });
    await symlink('train.py', join(repo, 'latest.py'));
    git(repo, 'add', 'train.py', 'latest.py');
    git(repo, '-c', 'user.name=a', '-c', 'user.email=a@b', 'commit', '-q', '-m', 'code');
    expect((await runCli(['add', 'data'], { cwd: repo })).code).toBe(0);
    // the dirty digest used to read what the link pointed at: /dev/zero never ends
    await rm(join(repo, 'latest.py'));
    await symlink('/dev/zero', join(repo, 'latest.py'));
    const viaLink = await runJson(['commit', '-m', 'v1'], { cwd: repo });
    expect(viaLink.code, viaLink.stderr).toBe(0);
    expect(viaLink.json.commit.code).toMatchObject({ dirty: true });
    await rm(join(repo, 'train.py'));
    execFileSync('mkfifo', [join(repo, 'train.py')]);
    const viaFifo = await runJson(['commit', '-m', 'v2', '--allow-empty'], { cwd: repo });
    expect(viaFifo.code, viaFifo.stderr).toBe(0);
    expect(viaFifo.json.commit.code.diff).not.toBe(viaLink.json.commit.code.diff);
  });

  it('in a linked worktree (git worktree add): the worktree\'s own HEAD, index and dirty state, and the repository\'s author', async () => {
    const main = await tempDir();
    git(main, 'init', '-q', '-b', 'trunk');
    git(main, 'config', 'user.name', 'Worktree Person');
    git(main, 'config', 'user.email', 'wt@example.com');
    await writeFiles(main, { 'train.py': 'v1\n' });
    git(main, 'add', 'train.py');
    git(main, 'commit', '-q', '-m', 'one');
    const head = git(main, 'rev-parse', 'HEAD');
    const wt = join(await tempDir(), 'wt');
    git(main, 'worktree', 'add', '-q', '-b', 'feature', wt);
    await writeFiles(main, { 'train.py': 'staged in the main worktree only\n' });
    git(main, 'add', 'train.py'); // the main index differs: the linked worktree must not see it
    expect((await runCli(['init'], { cwd: wt })).code).toBe(0);
    await writeFiles(wt, { 'data/x': 'x' });
    expect((await runCli(['add', 'data'], { cwd: wt })).code).toBe(0);
    const clean = await runJson(['commit', '-m', 'v1'], { cwd: wt, vars: NO_AUTHOR_VARS });
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.json.commit.code).toEqual({ commit: head, dirty: false, diff: null });
    expect(clean.json.commit.author).toMatchObject({ name: 'Worktree Person', email: 'wt@example.com' });
    await writeFiles(wt, { 'train.py': 'changed in the linked worktree\n' });
    const dirty = await runJson(['commit', '-m', 'v2', '--allow-empty'], { cwd: wt });
    expect(dirty.json.commit.code).toMatchObject({ commit: head, dirty: true });
  });

  it('in a SHA-256 Git repository: the 64-hex HEAD and the dirty state, read with the git binary', async (ctx) => {
    const repo = await newRepo();
    try {
      git(repo, 'init', '-q', '-b', 'trunk', '--object-format=sha256');
    } catch {
      ctx.skip(); // a git older than 2.29
    }
    await writeFiles(repo, { 'train.py': 'v1\n', 'data/x': 'x' });
    git(repo, 'add', 'train.py');
    git(repo, '-c', 'user.name=a', '-c', 'user.email=a@b', 'commit', '-q', '-m', 'one');
    const head = git(repo, 'rev-parse', 'HEAD');
    expect(head).toMatch(/^[0-9a-f]{64}$/);
    expect((await runCli(['add', 'data'], { cwd: repo })).code).toBe(0);
    const clean = await runJson(['commit', '-m', 'v1'], { cwd: repo });
    expect(clean.code, clean.stderr).toBe(0); // isomorphic-git failed on the SHA-256 index: IO_ERROR, no commit
    expect(clean.json.commit.code).toEqual({ commit: head, dirty: false, diff: null });
    await writeFiles(repo, { 'train.py': 'v2\n' });
    const dirty = await runJson(['commit', '-m', 'v2', '--allow-empty'], { cwd: repo });
    expect(dirty.json.commit.code).toMatchObject({ commit: head, dirty: true });
    await writeFiles(repo, { 'train.py': 'v3\n' });
    const other = await runJson(['commit', '-m', 'v3', '--allow-empty'], { cwd: repo });
    expect(other.json.commit.code.diff).not.toBe(dirty.json.commit.code.diff);
  });
});
