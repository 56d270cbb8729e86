/**
 * The code side of a commit's provenance: the Git HEAD of the working repository (found from
 * the mlstore root upwards), whether tracked code has uncommitted changes, and a digest of those
 * changes so "dirty" is still pinned to exact bytes. Read with isomorphic-git (no git binary
 * needed), except SHA-256 repositories, which it cannot read (git-binary.ts). Data paths tracked
 * by mlstore are git-ignored, so they never make the code dirty.
 */
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { join, relative, resolve, sep } from 'node:path';
import { LOCK_FILE_NAME } from '../repository/layout.js';
import git from 'isomorphic-git';
import type { CodeState, Person } from '../model/commit.js';
import { MlstoreError } from '../errors.js';
import { OPEN_TO_READ } from './file-identity.js';
import { workdirDigest } from './workdir-digest.js';
import { isSha256Repository, readCodeStateWithGitBinary } from './git-binary.js';

export interface GitInfo {
  dir: string;
  code: CodeState;
}

/** The enclosing Git repository's state, or undefined when mlstore runs outside Git. */
export async function readCodeState(root: string): Promise<GitInfo | undefined> {
  let dir: string;
  try {
    dir = await git.findRoot({ fs, filepath: root });
  } catch {
    return undefined;
  }
  const { own, fs: gitFs, gitdir } = gitAccess(dir);
  if (!fs.existsSync(join(own, 'HEAD'))) return undefined; // a `.git` without HEAD is not a Git repository (git says so too)
  // Untracked files do not make the code dirty (as in `git describe --dirty`), and neither does
  // mlstore.lock: mlstore rewrites it on every commit, so counting it would make every commit dirty.
  const lockPath = relative(dir, join(root, LOCK_FILE_NAME)).split(sep).join('/');
  if (isSha256Repository(gitdir)) return { dir, code: await readCodeStateWithGitBinary(dir, lockPath) };
  let commit: string | null = null;
  try {
    commit = await git.resolveRef({ fs: gitFs, dir, gitdir, ref: 'HEAD' });
  } catch {
    commit = null; // a repository with no commits yet
  }
  let matrix: Awaited<ReturnType<typeof git.statusMatrix>>;
  try {
    matrix = await git.statusMatrix({ fs: gitFs, dir, gitdir });
  } catch (e) {
    throw new MlstoreError('IO_ERROR', `could not read the Git repository at ${dir}: ${(e as Error).message}`, {
      cause: e,
      details: { path: dir },
      hint: 'Check it with `git status`; the code version of a commit is read from it.',
    });
  }
  const changed = matrix.filter(
    ([path, head, workdir, stage]) => !(head === 1 && workdir === 1 && stage === 1) && !(head === 0 && stage === 0) && path !== lockPath,
  );
  if (changed.length === 0) return { dir, code: { commit, dirty: false, diff: null } };

  // Digest of the dirty state: every changed path, its status triple, and its working bytes.
  const hash = createHash('sha256');
  for (const [path, head, workdir, stage] of changed.sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    hash.update(`${path}\0${head}${workdir}${stage}\0`);
    if (workdir !== 0) hash.update(await workdirDigest(join(dir, path)));
    hash.update('\n');
  }
  return { dir, code: { commit, dirty: true, diff: hash.digest('hex') } };
}

/**
 * How isomorphic-git reads the repository of the worktree at `dir`: `own` is the worktree's
 * gitdir, `gitdir` the one to give isomorphic-git (the common one for a linked worktree) and
 * `fs` the file system to read it through.
 */
function gitAccess(dir: string): { own: string; fs: typeof fs; gitdir: string } {
  const own = gitDirOf(dir);
  return { own, ...(linkedWorktree(own) ?? { fs, gitdir: own }) };
}

/**
 * A linked worktree (`git worktree add`): its gitdir (.git/worktrees/<name>) holds its own HEAD
 * and index, and a `commondir` file naming the repository's .git, which holds the objects and
 * refs. isomorphic-git knows one gitdir only (isomorphic-git#735: HEAD then resolves to nothing
 * and every commit was recorded as "no commit, dirty"), so it gets the common directory, seen
 * through a file system in which HEAD and index are the worktree's. Undefined when `gitdir` is
 * not a linked worktree.
 */
function linkedWorktree(gitdir: string): { fs: typeof fs; gitdir: string } | undefined {
  let common: string;
  try {
    common = resolve(gitdir, fs.readFileSync(join(gitdir, 'commondir'), 'utf8').trim());
  } catch {
    return undefined;
  }
  const own = new Map([
    [join(common, 'HEAD'), join(gitdir, 'HEAD')],
    [join(common, 'index'), join(gitdir, 'index')],
  ]);
  const at = (path: unknown): unknown => (typeof path === 'string' ? (own.get(resolve(path)) ?? path) : path);
  const promises = new Proxy(fs.promises, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (path: unknown, ...rest: unknown[]) => (value as (...a: unknown[]) => unknown).call(target, at(path), ...rest);
    },
  });
  return { fs: { ...fs, promises } as typeof fs, gitdir: common };
}

/** `.git` is a directory, or (worktrees, submodules) a file saying "gitdir: <path>". */
function gitDirOf(dir: string): string {
  const dotGit = join(dir, '.git');
  try {
    if (fs.statSync(dotGit).isFile()) {
      // a "gitdir:" line is short: read at most 4 KiB of whatever the file is
      const head = Buffer.alloc(4096);
      const fd = fs.openSync(dotGit, OPEN_TO_READ);
      let n: number;
      try {
        n = fs.readSync(fd, head, 0, head.length, 0);
      } finally {
        fs.closeSync(fd);
      }
      const m = /^gitdir: (.+)$/m.exec(head.subarray(0, n).toString('utf8'));
      if (m) return resolve(dir, m[1]!.trim());
    }
  } catch {
    // unreadable: let the caller's existence check decide
  }
  return dotGit;
}

/** user.name / user.email from the Git config of the enclosing repository (local, then global). */
export async function readGitAuthor(root: string): Promise<Partial<Person>> {
  try {
    const dir = await git.findRoot({ fs, filepath: root });
    const { fs: gitFs, gitdir } = gitAccess(dir);
    const name = (await git.getConfig({ fs: gitFs, dir, gitdir, path: 'user.name' })) as string | undefined;
    const email = (await git.getConfig({ fs: gitFs, dir, gitdir, path: 'user.email' })) as string | undefined;
    return { ...(name ? { name } : {}), ...(email ? { email } : {}) };
  } catch {
    return {};
  }
}
