/**
 * Makes the workspace hold exactly a version's files (optionally only under some paths).
 * Plan first, then act: every local change that would be overwritten or removed is collected
 * and refused together (LOCAL_CHANGES) before a single byte is written, unless `force`.
 * "Local change" means the workspace differs from the commit HEAD points at (the baseline).
 * With `force` those files are not destroyed: before anything else is touched they are moved to
 * `.mlstore/discarded/<time>/<path>` (a rename: no copy, no extra space), because their bytes may
 * exist nowhere else — a file never added, or edited since the last commit.
 */
import { constants, lstatSync, type Stats } from 'node:fs';
import { copyFile, lstat, readdir, readlink, rename, rmdir, symlink, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { STORE_DIR } from '../repository/layout.js';
import { MlstoreError, fromFsError, throwIfAborted } from '../errors.js';
import type { FileEntry } from '../model/tree.js';
import type { Repository } from '../repository/repository.js';
import type { FlatTree } from '../repository/tree-walk.js';
import { snapshotWorkspace } from './snapshot.js';
import { materializeContext, materializeFile, ensureParentDirs } from './materialize.js';
import { isUnder, parentOf, toFsPath } from './paths.js';
import { mkdir } from 'node:fs/promises';

export interface CheckoutOptions {
  /** Limit to these repo-relative paths (files or directories). */
  paths?: readonly string[];
  force?: boolean;
  signal?: AbortSignal;
}

export interface CheckoutResult {
  written: string[];
  removed: string[];
  unchanged: number;
  bytesWritten: number;
  /**
   * With `force`: the local changes it overwrote or removed, and the directory (repo-relative,
   * `.mlstore/discarded/<time>`) they were moved to, where each keeps its path.
   */
  discarded?: { dir: string; paths: string[] };
}

export async function checkoutFiles(
  repo: Repository,
  target: FlatTree,
  baseline: ReadonlyMap<string, FileEntry>,
  tracked: readonly string[],
  options: CheckoutOptions = {},
): Promise<CheckoutResult> {
  const { signal } = options;
  const inScope = (p: string) => !options.paths || options.paths.some((root) => isUnder(p, root));
  const wanted = new Map([...target.files].filter(([p]) => inScope(p)));

  // What is on disk now, under everything the checkout may touch.
  const roots = options.paths ?? [...new Set([...tracked, ...topLevel(target)])];
  const current = (await snapshotWorkspace(repo, roots, { mode: 'hash', ...(signal ? { signal } : {}) })).files;

  /** Local changes the checkout would overwrite or remove: refused, or with `force` moved aside. */
  const conflicts: string[] = [];
  const isLocalChange = (path: string, now: FileEntry) => {
    const was = baseline.get(path);
    return !was || was.digest !== now.digest || was.mode !== now.mode;
  };

  const toWrite: [string, FileEntry][] = [];
  let unchanged = 0;
  for (const [path, entry] of wanted) {
    const now = current.get(path);
    if (now && now.digest === entry.digest && now.mode === entry.mode) {
      unchanged++;
      continue;
    }
    if (now && isLocalChange(path, now)) conflicts.push(path);
    toWrite.push([path, entry]);
  }
  const toRemove: string[] = [];
  for (const [path, now] of current) {
    if (wanted.has(path) || !inScope(path)) continue;
    const trackedBefore = baseline.has(path) || tracked.some((r) => isUnder(path, r));
    if (!trackedBefore) continue;
    if (isLocalChange(path, now)) conflicts.push(path);
    toRemove.push(path);
  }
  // A symlink (or a file) where the version needs a directory: refused before anything is written.
  const checkedDirs = new Map<string, boolean>();
  const dirsNeeded = new Set<string>([...toWrite.map(([p]) => parentOf(p)), ...target.dirs.filter((d) => d !== '' && inScope(d))]);
  for (const dir of dirsNeeded) {
    for (let d = dir; d !== ''; d = parentOf(d)) {
      if (checkedDirs.has(d)) break;
      const st = await lstat(toFsPath(repo.root, d)).catch(() => undefined);
      checkedDirs.set(d, true);
      if (st?.isSymbolicLink()) {
        throw new MlstoreError('BAD_PATH', `${d} is a symlink where the version has a directory; mlstore will not write through it`, {
          details: { path: d },
          hint: 'Remove the symlink (or check out into another directory).',
        });
      }
    }
  }

  // A directory standing where the version has a file must hold nothing but files being removed.
  const removing = new Set(toRemove);
  const dirsInTheWay: string[] = [];
  for (const [path] of toWrite) {
    if (current.has(path) || !lstatQuiet(toFsPath(repo.root, path))?.isDirectory()) continue;
    dirsInTheWay.push(path);
    const blockers = await blockersIn(repo.root, path, removing);
    if (blockers.length > 0) {
      throw new MlstoreError('LOCAL_CHANGES', `${path} is a directory holding files mlstore does not track (${blockers.slice(0, 3).join(', ')}${blockers.length > 3 ? ', …' : ''}), where the version has a file`, {
        details: { path, paths: blockers },
        hint: 'Move those files away, then run the checkout again.',
      });
    }
  }
  if (conflicts.length > 0 && !options.force) {
    throw new MlstoreError('LOCAL_CHANGES', `checkout would overwrite or remove ${conflicts.length} locally changed file(s): ${conflicts.slice(0, 5).join(', ')}${conflicts.length > 5 ? ', …' : ''}`, {
      details: { paths: conflicts },
      hint: 'Commit them first (`mlstore commit -m …`), or pass --force to replace them (they are kept in .mlstore/discarded/).',
    });
  }
  const discarded = conflicts.length > 0 ? await moveAside(repo.root, conflicts) : undefined;

  // A file that stands where the version needs a directory goes first (it is tracked and unchanged, or forced).
  for (const path of toRemove.sort().reverse()) {
    throwIfAborted(signal);
    await unlink(toFsPath(repo.root, path)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw fromFsError(e, path, 'remove');
    });
  }
  // Directories emptied by the removals go before the writes: one may stand where a file goes.
  await removeEmptyDirs(repo.root, toRemove, new Set(target.dirs));
  for (const path of dirsInTheWay) await removeEmptyTree(toFsPath(repo.root, path));
  let bytesWritten = 0;
  let done = 0;
  const ctx = materializeContext();
  for (const [path, entry] of toWrite) {
    throwIfAborted(signal);
    await materializeFile(repo, path, entry, signal, ctx);
    bytesWritten += entry.size;
    repo.env.progress?.({ phase: 'checking out', done: ++done, total: toWrite.length, bytes: bytesWritten });
    // small files are read and written without I/O callbacks: let Ctrl-C (and progress) through
    if (done % 256 === 0) await new Promise<void>((r) => setImmediate(r));
  }
  for (const dir of target.dirs.filter((d) => d !== '' && inScope(d))) {
    await ensureParentDirs(repo.root, `${dir}/x`);
    await mkdir(toFsPath(repo.root, dir)).catch(() => {});
  }
  return { written: toWrite.map(([p]) => p), removed: toRemove, unchanged, bytesWritten, ...(discarded ? { discarded } : {}) };
}

/**
 * Moves files out of the workspace to a new `.mlstore/discarded/<time>/`, each under its own
 * path. A rename where it can (same file system: instant, no space); a copy, then the unlink,
 * where the workspace spans file systems. A failure stops the checkout before it writes
 * anything, and every file is then either still in its place or already moved.
 */
async function moveAside(root: string, paths: readonly string[]): Promise<{ dir: string; paths: string[] }> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  let dir = `${STORE_DIR}/discarded/${stamp}`;
  for (let n = 2; lstatQuiet(toFsPath(root, dir)); n++) dir = `${STORE_DIR}/discarded/${stamp}-${n}`;
  for (const path of paths) {
    const from = toFsPath(root, path);
    const to = toFsPath(root, `${dir}/${path}`);
    try {
      await mkdir(dirname(to), { recursive: true });
      try {
        await rename(from, to);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
        if ((await lstat(from)).isSymbolicLink()) await symlink(await readlink(from), to);
        else await copyFile(from, to, constants.COPYFILE_EXCL);
        await unlink(from);
      }
    } catch (e) {
      const err = fromFsError(e, path, 'move aside');
      throw new MlstoreError(err.code, err.message, {
        cause: e,
        details: { path, dir },
        hint: `Nothing was written; the local changes moved so far are in ${dir}/.`,
      });
    }
  }
  return { dir, paths: [...paths] };
}

function topLevel(tree: FlatTree): string[] {
  const names = new Set<string>();
  for (const path of tree.files.keys()) names.add(path.split('/')[0]!);
  for (const dir of tree.dirs) if (dir !== '') names.add(dir.split('/')[0]!);
  return [...names];
}

/** Removes directories emptied by removals (deepest first); keeps the version's own directories. */
async function removeEmptyDirs(root: string, removed: readonly string[], keep: ReadonlySet<string>): Promise<void> {
  const dirs = new Set<string>();
  for (const path of removed) for (let d = parentOf(path); d !== ''; d = parentOf(d)) dirs.add(d);
  const ordered = [...dirs].filter((d) => !keep.has(d)).sort((a, b) => b.split('/').length - a.split('/').length);
  for (const dir of ordered) await rmdir(toFsPath(root, dir)).catch(() => {}); // ENOTEMPTY: untracked files remain
}

/** What inside `path` (if it is a real directory) would survive the removals: files not being removed, symlinks, special files. */
async function blockersIn(root: string, path: string, removing: ReadonlySet<string>): Promise<string[]> {
  const st = lstatQuiet(toFsPath(root, path));
  if (!st?.isDirectory()) return [];
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const ent of await readdir(toFsPath(root, dir), { withFileTypes: true })) {
      const p = `${dir}/${ent.name}`;
      if (ent.isDirectory()) await walk(p);
      else if (!(ent.isFile() && removing.has(p))) out.push(p);
    }
  };
  await walk(path);
  return out;
}

/** Removes a tree of empty directories (only empty ones; anything else makes the rmdir fail harmlessly). */
async function removeEmptyTree(fsPath: string): Promise<void> {
  const st = lstatQuiet(fsPath);
  if (!st?.isDirectory()) return;
  for (const ent of await readdir(fsPath, { withFileTypes: true })) if (ent.isDirectory()) await removeEmptyTree(join(fsPath, ent.name));
  await rmdir(fsPath).catch(() => {});
}

/** lstat that answers undefined for anything unreadable (absent, a file in the path …). */
function lstatQuiet(fsPath: string): Stats | undefined {
  try {
    return lstatSync(fsPath, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}
