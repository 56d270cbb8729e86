import { withRepository, type CommonOptions } from './context.js';
import type { Commit } from '../model/commit.js';
import type { FileEntry } from '../model/tree.js';
import { flattenTree } from '../repository/tree-walk.js';

export interface ShowOptions extends CommonOptions {
  rev: string;
}

export interface ShowResult {
  id: string;
  commit: Commit;
  files: { path: string; size: number; digest: string; mode: number; chunks: number | null }[];
  totalBytes: number;
  signatures: string[];
}

/**
 * One commit: its provenance (code, environment, inputs), signatures and file list.
 * @example
 *   const { commit, files } = await show({ dir: '.', rev: 'HEAD' });
 */
export async function show(options: ShowOptions): Promise<ShowResult> {
  return withRepository(options, async (repo) => {
    const id = await repo.resolveRev(options.rev, options.signal);
    const commit = await repo.readCommit(id, options.signal);
    const flat = await flattenTree(repo.objects, commit.tree, options.signal);
    const files = [...flat.files].map(([path, e]: [string, FileEntry]) => ({
      path,
      size: e.size,
      digest: e.digest,
      mode: e.mode,
      chunks: e.manifest ? null : 1,
    }));
    const signatures = (await repo.listSignatures(id, options.signal)).map((s) => s.keyId);
    return { id, commit, files, totalBytes: files.reduce((n, f) => n + f.size, 0), signatures };
  });
}
