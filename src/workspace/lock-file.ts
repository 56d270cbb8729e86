/**
 * `mlstore.lock` at the repository root: the current mlstore commit and the tracked paths, as
 * stable sorted JSON, for users to commit to Git. After `git checkout <old>`, `mlstore checkout`
 * (no REV) restores exactly the data that code version was committed with.
 * Tracked data paths are added to `.gitignore` so Git never stores the data itself.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MlstoreError, fromFsError } from '../errors.js';
import { isDigest } from '../core/digest.js';
import { writeFileAtomic } from '../repository/atomic-file.js';
import { LOCK_FILE_NAME } from '../repository/layout.js';
import { invalidRepoPath } from '../model/repo-path.js';

export interface LockFile {
  version: 1;
  commit: string;
  paths: string[];
}

export async function readLockFile(root: string): Promise<LockFile | undefined> {
  const path = join(root, LOCK_FILE_NAME);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fromFsError(e, path, 'read');
  }
  try {
    const raw = JSON.parse(text) as Partial<LockFile>;
    if (raw.version !== 1 || !isDigest(raw.commit) || !Array.isArray(raw.paths) || !raw.paths.every((p) => typeof p === 'string')) {
      throw new Error('expected {"version":1,"commit":<id>,"paths":[…]}');
    }
    // it comes from Git, i.e. from whoever pushed: a path must stay inside the repository
    const invalid = invalidRepoPath(raw.paths);
    if (invalid) throw new Error(invalid);
    return { version: 1, commit: raw.commit as string, paths: raw.paths };
  } catch (e) {
    throw new MlstoreError('BAD_CONFIG', `${path} is not a valid mlstore lock file: ${(e as Error).message}`, {
      cause: e,
      hint: 'Restore it from Git (`git checkout -- mlstore.lock`).',
    });
  }
}

export async function writeLockFile(root: string, commit: string, paths: readonly string[]): Promise<void> {
  const lock: LockFile = { version: 1, commit, paths: [...new Set(paths)].sort() };
  await writeFileAtomic(join(root, LOCK_FILE_NAME), `${JSON.stringify(lock, null, 2)}\n`);
}

/** Adds `/path` lines for tracked paths missing from `.gitignore`; returns the lines added. */
export async function ignoreInGit(root: string, paths: readonly string[]): Promise<string[]> {
  const file = join(root, '.gitignore');
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(e, file, 'read');
  }
  const present = new Set(text.split('\n').map((l) => l.trim()));
  const lines = ['/.mlstore/', ...paths.map((p) => `/${escapeGitignore(p)}`)].filter((l) => !present.has(l));
  if (lines.length === 0) return [];
  const prefix = text.length > 0 && !text.endsWith('\n') ? '\n' : '';
  await writeFileAtomic(file, `${text}${prefix}${lines.join('\n')}\n`);
  return lines;
}

function escapeGitignore(path: string): string {
  // Leading '#'/'!' and trailing spaces, '*', '?', '[' and '\\' are special in .gitignore.
  return path.replace(/[\\*?[\]!#]/g, (c) => `\\${c}`).replace(/ $/, '\\ ').replace(/\n/g, '?');
}
