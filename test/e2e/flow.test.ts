/**
 * The whole everyday flow through the CLI, as a user runs it: init, add, status, commit, modify,
 * commit, log, show, diff, tag, branch, checkout REV, checkout REV PATH, HEAD~N, short ids, and
 * the errors for unknown and ambiguous revisions.
 */
import { readFile, writeFile, rm, appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { errorCodeOf, runCli, runJson } from '../helpers/cli.js';
import { newRepo, pseudoRandom, sha256, snapshotTree, writeFiles } from '../helpers/repo.js';
import { assertStoreConsistent } from '../helpers/store.js';
import { encodeCommit, environmentDigest } from '../../src/model/commit.js';

const BIG = 200_000; // ~50 chunks of ~4 KiB

describe('e2e: init → add → commit → modify → commit → log/show/diff → tag/branch → checkout', () => {
  let repo: string;
  let v1: string;
  let v2: string;
  let v1Files: Map<string, string>;
  let v2Files: Map<string, string>;
  const cli = (...args: string[]) => runCli(args, { cwd: repo });
  const json = (...args: string[]) => runJson(args, { cwd: repo });

  beforeAll(async () => {
    repo = await newRepo();
    await writeFiles(repo, {
      'data/train/big.bin': pseudoRandom('big', BIG),
      'data/train/a.txt': 'alpha\n',
      'data/val/b.txt': 'beta\n',
      'data/val/c.txt': 'gamma\n',
      'models/m.bin': pseudoRandom('model', 30_000),
    });
  });

  it('add tracks files and directories, status shows them as new, commit records v1', async () => {
    const add = await json('add', 'data', 'models/m.bin');
    expect(add.code, add.stderr).toBe(0);
    expect(add.json).toMatchObject({ ok: true, tracked: ['data', 'models/m.bin'], files: 5 });
    expect(add.json.read.files).toBe(5);
    expect(add.json.gitignore).toEqual(['/data', '/models/m.bin']);

    const st = await json('status');
    expect(st.code).toBe(0);
    expect(st.json.commit).toBeNull();
    expect(st.json.new.map((f: { path: string }) => f.path)).toEqual(['data/train/a.txt', 'data/train/big.bin', 'data/val/b.txt', 'data/val/c.txt', 'models/m.bin']);
    expect(st.json.new.find((f: { path: string }) => f.path === 'data/train/big.bin').digest).toBe(sha256(pseudoRandom('big', BIG)));
    expect(st.json.clean).toBe(false);

    const c = await json('commit', '-m', 'v1');
    expect(c.code, c.stderr).toBe(0);
    expect(c.json).toMatchObject({ ok: true, ref: 'refs/heads/main', files: 5 });
    v1 = c.json.id;
    expect(v1).toMatch(/^[0-9a-f]{64}$/);
    expect(c.json.commit.parents).toEqual([]);
    expect(c.json.commit.author).toEqual({ name: 'Test User', email: 'test@example.com' });
    v1Files = await snapshotTree(repo, { include: (p) => p === 'data' || p.startsWith('data/') || p.startsWith('models') });

    const clean = await json('status');
    expect(clean.json).toMatchObject({ commit: v1, clean: true, new: [], modified: [], deleted: [] });
    const lock = JSON.parse(await readFile(join(repo, 'mlstore.lock'), 'utf8'));
    expect(lock).toEqual({ version: 1, commit: v1, paths: ['data', 'models/m.bin'] });
    await assertStoreConsistent(repo);
  });

  it('modify, add a file, delete a file → status → commit v2 with v1 as parent', async () => {
    const big = pseudoRandom('big', BIG);
    big.write('CHANGED', 100_000);
    await writeFile(join(repo, 'data/train/big.bin'), big);
    await rm(join(repo, 'data/val/c.txt'));
    await writeFiles(repo, { 'data/val/new.txt': 'new\n' });

    const st = await json('status');
    expect(st.json.modified.map((f: { path: string }) => f.path)).toEqual(['data/train/big.bin']);
    expect(st.json.new.map((f: { path: string }) => f.path)).toEqual(['data/val/new.txt']);
    expect(st.json.deleted.map((f: { path: string }) => f.path)).toEqual(['data/val/c.txt']);

    const c = await json('commit', '-m', 'v2\n\nsecond version');
    expect(c.code, c.stderr).toBe(0);
    v2 = c.json.id;
    expect(c.json.commit.parents).toEqual([v1]);
    v2Files = await snapshotTree(repo, { include: (p) => p === 'data' || p.startsWith('data/') || p.startsWith('models') });

    const again = await errorCodeOf(['commit', '-m', 'nothing'], { cwd: repo });
    expect(again).toMatchObject({ code: 2, error: 'NOTHING_TO_COMMIT' });
    await assertStoreConsistent(repo);
  });

  it('v2 stores only the chunks near the change (deduplication)', async () => {
    const s1 = await json('show', v1);
    const s2 = await json('show', v2);
    expect(s1.json.files.find((f: { path: string }) => f.path === 'data/train/big.bin').size).toBe(BIG);
    expect(s2.json.files.map((f: { path: string }) => f.path)).toContain('data/val/new.txt');
  });

  it('log lists v2 then v1 with refs; -n limits; --oneline prints one line each', async () => {
    const log = await json('log');
    expect(log.json.commits.map((e: { id: string }) => e.id)).toEqual([v2, v1]);
    expect(log.json.commits[0].refs).toEqual(['main']);
    expect(log.json.commits[0].commit.message).toBe('v2\n\nsecond version');
    const one = await json('log', '-n', '1');
    expect(one.json.commits).toHaveLength(1);
    const text = await cli('log', '--oneline');
    expect(text.code).toBe(0);
    expect(text.stdout.trim().split('\n')).toEqual([`${v2.slice(0, 12)} (main) v2`, `${v1.slice(0, 12)} v1`]);
  });

  it('show prints provenance and files; diff lists added/removed/changed with sizes', async () => {
    const show = await json('show', 'HEAD');
    expect(show.json.id).toBe(v2);
    expect(show.json.commit.environment.digest).toBe(environmentDigest(show.json.commit.environment.components));
    expect(show.json.files.map((f: { path: string }) => f.path)).toEqual(['data/train/a.txt', 'data/train/big.bin', 'data/val/b.txt', 'data/val/new.txt', 'models/m.bin']);
    expect(show.json.totalBytes).toBe(6 + BIG + 5 + 4 + 30_000);
    const text = await cli('show');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`commit ${v2}`);
    expect(text.stdout).toContain(`parent      ${v1}`);

    const d = await json('diff', 'HEAD~1', 'HEAD');
    expect(d.code).toBe(0);
    expect(d.json).toMatchObject({ from: v1, to: v2 });
    expect(d.json.added).toEqual([expect.objectContaining({ path: 'data/val/new.txt', size: 4 })]);
    expect(d.json.removed).toEqual([expect.objectContaining({ path: 'data/val/c.txt', oldSize: 6 })]);
    expect(d.json.changed).toEqual([expect.objectContaining({ path: 'data/train/big.bin', size: BIG, oldSize: BIG })]);
    const dt = await cli('diff', v1.slice(0, 10), v2.slice(0, 10));
    expect(dt.stdout).toContain('A  data/val/new.txt');
    expect(dt.stdout).toContain('D  data/val/c.txt');
    expect(dt.stdout).toContain('M  data/train/big.bin');
    // against the workspace
    const dw = await json('diff', 'HEAD~1');
    expect(dw.json.to).toBeNull();
    expect(dw.json.changed.map((f: { path: string }) => f.path)).toEqual(['data/train/big.bin']);
  });

  it('tag and branch: create, list, refuse duplicates and bad names, delete', async () => {
    expect((await cli('tag', 'dataset-v1', 'HEAD~1')).code).toBe(0);
    expect((await cli('branch', 'exp', v1.slice(0, 8))).code).toBe(0);
    const tags = await json('tag');
    expect(tags.json.tags).toEqual([{ name: 'dataset-v1', id: v1 }]);
    const branches = await json('branch');
    expect(branches.json.branches).toEqual([
      { name: 'exp', id: v1 },
      { name: 'main', id: v2, current: true },
    ]);
    expect(await errorCodeOf(['tag', 'dataset-v1'], { cwd: repo })).toMatchObject({ code: 2, error: 'ALREADY_EXISTS' });
    expect(await errorCodeOf(['branch', '../evil'], { cwd: repo })).toMatchObject({ code: 2, error: 'BAD_NAME' });
    expect(await errorCodeOf(['branch', 'x.lock'], { cwd: repo })).toMatchObject({ code: 2, error: 'BAD_NAME' });
    expect(await errorCodeOf(['branch', '-d', 'main'], { cwd: repo })).toMatchObject({ code: 2, error: 'USAGE' });
    expect(await errorCodeOf(['branch', '-d', 'nope'], { cwd: repo })).toMatchObject({ code: 2, error: 'UNKNOWN_REV' });
    expect((await cli('branch', 'tmp')).code).toBe(0);
    expect((await cli('branch', '-d', 'tmp')).code).toBe(0);
    expect((await json('branch')).json.branches.map((b: { name: string }) => b.name)).toEqual(['exp', 'main']);
  });

  it('checkout TAG restores v1 exactly (detached), checkout main comes back to v2', async () => {
    const co = await json('checkout', 'dataset-v1');
    expect(co.code, co.stderr).toBe(0);
    expect(co.json.id).toBe(v1);
    expect(co.json.removed).toEqual(['data/val/new.txt']);
    expect(await snapshotTree(repo, { include: (p) => p === 'data' || p.startsWith('data/') || p.startsWith('models') })).toEqual(v1Files);
    expect((await readFile(join(repo, '.mlstore/HEAD'), 'utf8')).trim()).toBe(v1);
    expect((await json('status')).json).toMatchObject({ commit: v1, clean: true });

    const back = await json('checkout', 'main');
    expect(back.code, back.stderr).toBe(0);
    expect(await snapshotTree(repo, { include: (p) => p === 'data' || p.startsWith('data/') || p.startsWith('models') })).toEqual(v2Files);
    expect((await readFile(join(repo, '.mlstore/HEAD'), 'utf8')).trim()).toBe('ref: refs/heads/main');
  });

  it('checkout REV PATH restores only that path and leaves HEAD alone', async () => {
    const co = await json('checkout', 'HEAD~1', 'data/val');
    expect(co.code, co.stderr).toBe(0);
    expect(await readFile(join(repo, 'data/val/c.txt'), 'utf8')).toBe('gamma\n');
    await expect(readFile(join(repo, 'data/val/new.txt'))).rejects.toThrow(); // not in v1
    expect(sha256(await readFile(join(repo, 'data/train/big.bin')))).toBe(v2Files.get('data/train/big.bin')!.slice(2)); // untouched
    expect((await readFile(join(repo, '.mlstore/HEAD'), 'utf8')).trim()).toBe('ref: refs/heads/main');
    const st = await json('status');
    expect(st.json.new.map((f: { path: string }) => f.path)).toEqual(['data/val/c.txt']);
    expect(st.json.deleted.map((f: { path: string }) => f.path)).toEqual(['data/val/new.txt']);
    // and back with the path form from a subdirectory (paths are relative to the cwd)
    const sub = await runJson(['checkout', '--force', 'main', 'val'], { cwd: join(repo, 'data') });
    expect(sub.code, sub.stderr).toBe(0);
    expect((await json('status')).json.clean).toBe(true);
  });

  it('revisions: full id, short id, HEAD~N, HEAD^, branch, tag, refs/…; unknown and ambiguous are refused', async () => {
    const resolve = async (rev: string) => (await json('show', rev)).json.id;
    expect(await resolve(v1)).toBe(v1);
    expect(await resolve(v1.slice(0, 6))).toBe(v1);
    expect(await resolve(v2.slice(0, 12))).toBe(v2);
    expect(await resolve('HEAD~1')).toBe(v1);
    expect(await resolve('HEAD^')).toBe(v1);
    expect(await resolve('main~1')).toBe(v1);
    expect(await resolve('HEAD~0')).toBe(v2);
    expect(await resolve('dataset-v1')).toBe(v1);
    expect(await resolve('refs/tags/dataset-v1')).toBe(v1);
    expect(await resolve('exp')).toBe(v1);

    expect(await errorCodeOf(['show', 'HEAD~2'], { cwd: repo })).toMatchObject({ code: 2, error: 'UNKNOWN_REV' });
    expect(await errorCodeOf(['show', 'nosuchbranch'], { cwd: repo })).toMatchObject({ code: 2, error: 'UNKNOWN_REV' });
    const absent = ['ffffff', 'eeeeee'].find((p) => !v1.startsWith(p) && !v2.startsWith(p))!;
    expect(await errorCodeOf(['show', absent], { cwd: repo })).toMatchObject({ code: 2, error: 'UNKNOWN_REV' });
    expect(await errorCodeOf(['checkout', 'nosuch'], { cwd: repo })).toMatchObject({ code: 2, error: 'UNKNOWN_REV' });
    expect(await errorCodeOf(['diff', 'nosuch'], { cwd: repo })).toMatchObject({ code: 2, error: 'UNKNOWN_REV' });
    expect(await errorCodeOf(['log', 'nosuch'], { cwd: repo })).toMatchObject({ code: 2, error: 'UNKNOWN_REV' });
    expect(await errorCodeOf(['show', ''], { cwd: repo })).toMatchObject({ code: 2 });
    // A tree id is not a commit
    const treeId = (await json('show', 'HEAD')).json.commit.tree as string;
    expect((await errorCodeOf(['show', treeId], { cwd: repo })).code).not.toBe(0);
    expect(await errorCodeOf(['show', treeId.slice(0, 10)], { cwd: repo })).toMatchObject({ code: 2, error: 'UNKNOWN_REV' });

    // a name that is both a branch and a tag, at different commits
    expect((await cli('tag', 'both', v1)).code).toBe(0);
    expect((await cli('branch', 'both', v2)).code).toBe(0);
    expect(await errorCodeOf(['show', 'both'], { cwd: repo })).toMatchObject({ code: 2, error: 'AMBIGUOUS_REV' });
    expect(await resolve('refs/heads/both')).toBe(v2);
  });

  it('an id prefix shared by two commits is AMBIGUOUS_REV', async () => {
    // Find two valid commits whose ids share 4 hex digits (a birthday search over messages), and
    // store them the way mlstore stores commits.
    const base = (await json('show', 'HEAD')).json.commit;
    const seen = new Map<string, { id: string; bytes: Uint8Array }>();
    let pair: [{ id: string; bytes: Uint8Array }, { id: string; bytes: Uint8Array }] | undefined;
    for (let i = 0; !pair; i++) {
      const bytes = encodeCommit({ ...base, message: `probe ${i}` });
      const id = createHash('sha256').update(bytes).digest('hex');
      const other = seen.get(id.slice(0, 4));
      if (other) pair = [other, { id, bytes }];
      else seen.set(id.slice(0, 4), { id, bytes });
    }
    for (const { id, bytes } of pair) {
      await mkdir(join(repo, '.mlstore/objects/meta', id.slice(0, 2)), { recursive: true });
      await writeFile(join(repo, '.mlstore/objects/meta', id.slice(0, 2), id.slice(2)), bytes);
    }
    const prefix = pair[0].id.slice(0, 4);
    expect(await errorCodeOf(['show', prefix], { cwd: repo })).toMatchObject({ code: 2, error: 'AMBIGUOUS_REV' });
    expect(await errorCodeOf(['checkout', prefix], { cwd: repo })).toMatchObject({ code: 2, error: 'AMBIGUOUS_REV' });
    let longer = 5;
    while (pair[0].id.slice(0, longer) === pair[1].id.slice(0, longer)) longer++;
    expect((await json('show', pair[1].id.slice(0, longer))).json.id).toBe(pair[1].id);
  });

  it('status sees an appended file; add --json and commit --json are one JSON document', async () => {
    await appendFile(join(repo, 'data/train/a.txt'), 'more\n');
    const st = await json('status');
    expect(st.json.modified.map((f: { path: string }) => f.path)).toEqual(['data/train/a.txt']);
    const add = await json('add', 'data/train/a.txt');
    expect(add.code).toBe(0);
    expect(add.json.tracked).toEqual(['data', 'models/m.bin']); // already covered by "data"
    const c = await json('commit', '-m', 'v3');
    expect(c.code).toBe(0);
    await assertStoreConsistent(repo);
  });
});

describe('e2e: --help and --json on every command', () => {
  const commands = ['init', 'add', 'status', 'commit', 'log', 'show', 'diff', 'branch', 'tag', 'checkout'];

  it('`mlstore --help` and `mlstore <cmd> --help` exit 0 and teach', async () => {
    const cwd = await newRepo();
    const top = await runCli(['--help'], { cwd });
    expect(top.code).toBe(0);
    for (const c of commands) expect(top.stdout).toContain(c);
    expect(top.stdout).toMatch(/Exit codes/);
    for (const c of commands) {
      const r = await runCli([c, '--help'], { cwd });
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toMatch(/Usage: mlstore/);
      expect(r.stdout.length, c).toBeGreaterThan(200);
    }
    expect((await runCli(['--version'], { cwd })).code).toBe(0);
    const unknown = await runCli(['frobnicate'], { cwd });
    expect(unknown.code).toBe(2);
    const missingArg = await runCli(['commit'], { cwd });
    expect(missingArg.code).toBe(2);
  });

  it('every command prints exactly one JSON document with --json, on success and on failure', async () => {
    const dir = await newRepo();
    await writeFiles(dir, { 'd/x': 'x' });
    const ok = [
      ['add', 'd'],
      ['status'],
      ['commit', '-m', 'one'],
      ['log'],
      ['show'],
      ['diff', 'HEAD'],
      ['branch'],
      ['tag'],
      ['tag', 't1'],
      ['branch', 'b1'],
      ['checkout', 'b1'],
    ];
    for (const args of ok) {
      const r = await runJson(args, { cwd: dir });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.json.ok, args.join(' ')).toBe(true);
    }
    const init = await runJson(['-C', 'fresh', 'init'], { cwd: dir });
    expect(init.code, init.stderr).toBe(0);
    expect(init.json.root).toBe(join(dir, 'fresh'));
    const bad = await runJson(['show', 'nope'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.json).toMatchObject({ ok: false, error: { code: 'UNKNOWN_REV' } });
    expect(bad.stderr).toContain('UNKNOWN_REV');
    const again = await runJson(['init'], { cwd: dir });
    expect(again).toMatchObject({ code: 2, json: { ok: false, error: { code: 'ALREADY_EXISTS' } } });
  });
});
