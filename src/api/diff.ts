import { withRepository, type CommonOptions } from './context.js';
import { flattenTree } from '../repository/tree-walk.js';
import { compareFiles, type FileChange } from '../workspace/status.js';
import { snapshotWorkspace } from '../workspace/snapshot.js';

export interface DiffOptions extends CommonOptions {
  from: string;
  /** Second revision; when absent, the workspace is compared with `from`. */
  to?: string;
}

export interface DiffResult {
  from: string;
  to: string | null;
  added: FileChange[];
  removed: FileChange[];
  changed: FileChange[];
}

/**
 * Added, removed and changed files between two versions, or between a version and the workspace.
 * @example
 *   const d = await diff({ dir: '.', from: 'v1', to: 'v2' });
 */
export async function diff(options: DiffOptions): Promise<DiffResult> {
  return withRepository(options, async (repo) => {
    const fromId = await repo.resolveRev(options.from, options.signal);
    const base = (await flattenTree(repo.objects, (await repo.readCommit(fromId, options.signal)).tree, options.signal)).files;
    let toId: string | null = null;
    let files;
    let scope: string[];
    if (options.to) {
      toId = await repo.resolveRev(options.to, options.signal);
      files = (await flattenTree(repo.objects, (await repo.readCommit(toId, options.signal)).tree, options.signal)).files;
      scope = [''];
    } else {
      scope = await repo.trackedPaths();
      files = (await snapshotWorkspace(repo, scope, { mode: 'hash', ...(options.signal ? { signal: options.signal } : {}) })).files;
    }
    const cmp = compareFiles(base, { files }, scope);
    return { from: fromId, to: toId, added: cmp.new, removed: cmp.deleted, changed: cmp.modified };
  });
}
