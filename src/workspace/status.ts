/**
 * Compares the tracked part of the workspace with a commit's tree: new, modified and deleted
 * files. Unchanged files cost one lstat each (stat cache), so a status of 20,000 unchanged files
 * reads no file content.
 */
import type { FileEntry } from '../model/tree.js';
import type { Repository } from '../repository/repository.js';
import { flattenTree } from '../repository/tree-walk.js';
import { snapshotWorkspace, type Snapshot } from './snapshot.js';
import type { Skipped } from './scan.js';
import { isUnder } from './paths.js';

export interface FileChange {
  path: string;
  size: number;
  digest: string;
  /** Size before the change (modified/deleted). */
  oldSize?: number;
}

export interface WorkspaceStatus {
  commit: string | null;
  tracked: string[];
  new: FileChange[];
  modified: FileChange[];
  deleted: FileChange[];
  skipped: Skipped[];
  clean: boolean;
  /** Files actually read (the rest were unchanged per the stat cache) and their bytes. */
  read: { files: number; bytes: number };
}

export async function workspaceStatus(repo: Repository, options: { verify?: boolean; signal?: AbortSignal } = {}): Promise<WorkspaceStatus> {
  const tracked = await repo.trackedPaths();
  const head = await repo.headCommit(options.signal);
  // the commit's files are read while the workspace is scanned (the scan yields between directories)
  const [base, snap] = await Promise.all([
    head ? commitFiles(repo, head, options) : new Map<string, FileEntry>(),
    snapshotWorkspace(repo, tracked, { mode: 'hash', ...options }),
  ]);
  return { commit: head ?? null, tracked, ...compareFiles(base, snap, tracked), skipped: snap.skipped, read: snap.read };
}

/**
 * The files of a commit: from the index's listing of its tree when it has one (saved by commit
 * and by the previous status), else by reading the tree; `--verify` always reads the tree.
 */
async function commitFiles(repo: Repository, commit: string, options: { verify?: boolean; signal?: AbortSignal }): Promise<Map<string, FileEntry>> {
  const tree = (await repo.readCommit(commit, options.signal)).tree;
  const index = await repo.index();
  const listed = options.verify ? undefined : await index?.getTreeListing(tree);
  if (listed) return listed;
  const files = (await flattenTree(repo.objects, tree, options.signal)).files;
  await index?.putTreeListing(tree, files);
  return files;
}

export function compareFiles(
  base: ReadonlyMap<string, FileEntry>,
  snap: Pick<Snapshot, 'files'>,
  tracked: readonly string[],
): { new: FileChange[]; modified: FileChange[]; deleted: FileChange[]; clean: boolean } {
  const added: FileChange[] = [];
  const modified: FileChange[] = [];
  const deleted: FileChange[] = [];
  for (const [path, now] of snap.files) {
    const was = base.get(path);
    if (!was) added.push({ path, size: now.size, digest: now.digest });
    else if (was.digest !== now.digest || was.mode !== now.mode) {
      modified.push({ path, size: now.size, digest: now.digest, oldSize: was.size });
    }
  }
  for (const [path, was] of base) {
    if (!snap.files.has(path) && tracked.some((root) => isUnder(path, root))) {
      deleted.push({ path, size: 0, digest: was.digest, oldSize: was.size });
    }
  }
  const byPath = (a: FileChange, b: FileChange) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  return {
    new: added.sort(byPath),
    modified: modified.sort(byPath),
    deleted: deleted.sort(byPath),
    clean: added.length + modified.length + deleted.length === 0,
  };
}
