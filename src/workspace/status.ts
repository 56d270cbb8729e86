/**
 * Compares the tracked part of the workspace with a commit's tree: new, modified and deleted
 * files. Unchanged files cost one lstat each (stat cache), so a status of 20,000 unchanged files
 * reads no file content; and when the snapshot's digest equals that of HEAD's saved listing
 * (the index's tree listing) the listing itself is not read either.
 */
import type { FileEntry } from '../model/tree.js';
import type { Repository } from '../repository/repository.js';
import { flattenTree } from '../repository/tree-walk.js';
import { listingDigest } from '../repository/index-db.js';
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
  // HEAD's commit is read while the workspace is scanned (the scan yields between directories)
  const [tree, snap] = await Promise.all([
    head ? repo.readCommit(head, options.signal).then((c) => c.tree) : undefined,
    snapshotWorkspace(repo, tracked, { mode: 'hash', ...options }),
  ]);
  let changes: Changes;
  if (tree === undefined) {
    changes = compareFiles(new Map(), snap, tracked);
  } else {
    const index = options.verify ? undefined : await repo.index();
    const saved = await index?.getTreeListingDigest(tree);
    if (saved !== undefined && saved === listingDigest(snap.files)) changes = { new: [], modified: [], deleted: [], clean: true };
    else changes = compareFiles(await treeFiles(repo, tree, saved !== undefined, options), snap, tracked);
  }
  return { commit: head ?? null, tracked, ...changes, skipped: snap.skipped, read: snap.read };
}

type Changes = Pick<WorkspaceStatus, 'new' | 'modified' | 'deleted' | 'clean'>;

/**
 * The files of a tree: from the index's listing of it when it has one (saved by commit and by
 * the previous status), else by reading the tree; `--verify` always reads the tree. A listing
 * without its digest (saved by an older mlstore) is saved again with one.
 */
async function treeFiles(repo: Repository, tree: string, digestSaved: boolean, options: { verify?: boolean; signal?: AbortSignal }): Promise<Map<string, FileEntry>> {
  const index = await repo.index();
  const listed = options.verify ? undefined : await index?.getTreeListing(tree);
  if (listed) {
    if (!digestSaved) await index?.putTreeListing(tree, listed);
    return listed;
  }
  const files = (await flattenTree(repo.objects, tree, options.signal)).files;
  await index?.putTreeListing(tree, files);
  return files;
}

export function compareFiles(base: ReadonlyMap<string, FileEntry>, snap: Pick<Snapshot, 'files'>, tracked: readonly string[]): Changes {
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
