import { MlstoreError } from '../errors.js';
import { assertVerified } from '../trust/verify.js';
import { withRepository, type CommonOptions } from './context.js';
import { flattenTree } from '../repository/tree-walk.js';
import type { FileEntry } from '../model/tree.js';
import { checkoutFiles, type CheckoutResult } from '../workspace/checkout.js';
import { readLockFile, writeLockFile } from '../workspace/lock-file.js';
import { toRepoPath, isUnder } from '../workspace/paths.js';
import { parseFullRef } from '../model/ref-name.js';

export interface CheckoutOptions extends CommonOptions {
  /** Branch, tag or commit; when absent, the commit named by mlstore.lock (after `git checkout`). */
  rev?: string;
  /** Only these paths (relative to `cwd`). HEAD does not move for a partial checkout. */
  paths?: readonly string[];
  cwd?: string;
  force?: boolean;
  /** Fetch REV from this remote first — only its trees and the data under `paths` (src/api/fetch.ts). */
  remote?: string;
  /**
   * Enforce a signature policy: the version must pass `verify` (with this policy and trust file)
   * before any byte is written; otherwise POLICY_VIOLATION / BAD_SIGNATURE / UNTRUSTED_SIGNER …
   */
  verify?: { policyFile?: string; trustFile?: string };
  /** Objects in flight when fetching from `remote`. */
  jobs?: number;
  /** With `remote`: refuse it unless it has a signed ref state (src/api/ref-state-sync.ts). */
  requireSignedRefs?: boolean;
}

export interface CheckoutSummary extends CheckoutResult {
  id: string;
  head: string;
}

/**
 * Puts the exact bytes of a version into the workspace (every chunk verified), refusing to
 * overwrite local changes unless `force`, and removing tracked files the version does not have.
 * @example
 *   await checkout({ dir: '.', rev: 'dataset-v1' });
 */
export async function checkout(options: CheckoutOptions): Promise<CheckoutSummary> {
  if (options.remote !== undefined) {
    const { remote, jobs, ...local } = options;
    const { fetchCommit } = await import('./fetch.js'); // loads the S3 SDK only for --remote
    const fetched = await fetchCommit({ ...local, remote, ...(jobs !== undefined ? { jobs } : {}), ...(options.verify?.trustFile !== undefined ? { trustFile: options.verify.trustFile } : {}) });
    return checkout({ ...local, ...(options.rev !== undefined ? { rev: fetched.id } : {}) });
  }
  return withRepository(options, (repo) =>
    repo.withLock('checkout', async () => {
      const signal = options.signal;
      let rev = options.rev;
      let lockPaths: string[] | undefined;
      if (!rev) {
        const lock = await readLockFile(repo.root);
        if (!lock) throw new MlstoreError('USAGE', 'no REV given and no mlstore.lock in the repository', { hint: 'Name a branch, tag or commit.' });
        rev = lock.commit;
        lockPaths = lock.paths;
      }
      const id = await repo.resolveRev(rev, signal);
      if (options.verify) {
        const { verifyResolved } = await import('./verify.js');
        assertVerified(await verifyResolved(repo, rev, id, { ...options.verify, dir: repo.root, ...(signal ? { signal } : {}) }));
      }
      const target = await flattenTree(repo.objects, (await repo.readCommit(id, signal)).tree, signal);
      const headId = await repo.headCommit(signal);
      const baseline = headId ? (await flattenTree(repo.objects, (await repo.readCommit(headId, signal)).tree, signal)).files : new Map<string, FileEntry>();
      const tracked = await repo.trackedPaths();
      const cwd = options.cwd ?? options.dir;
      const paths = options.paths?.length ? options.paths.map((p) => toRepoPath(repo.root, cwd, p)) : undefined;

      const result = await checkoutFiles(repo, target, baseline, tracked, { force: options.force ?? false, ...(paths ? { paths } : {}), ...(signal ? { signal } : {}) });
      if (paths) return { ...result, id, head: headId ?? id };

      // A whole checkout moves HEAD: onto the branch when REV names one, detached otherwise.
      const branchRef = !lockPaths && rev ? await branchNamed(repo, rev) : undefined;
      await repo.setHead(branchRef ? { kind: 'branch', ref: branchRef } : { kind: 'detached', id });
      const roots = lockPaths ?? mergeRoots(tracked, [...target.files.keys(), ...target.dirs.filter((d) => d !== '')]);
      await repo.setTrackedPaths(roots);
      await writeLockFile(repo.root, id, roots);
      return { ...result, id, head: id };
    }),
  );
}

async function branchNamed(repo: import('../repository/repository.js').Repository, rev: string): Promise<string | undefined> {
  const name = rev.startsWith('refs/') ? rev : `refs/heads/${rev}`;
  if (parseFullRef(name)?.kind !== 'heads') return undefined;
  return (await repo.refs.read(name).catch(() => undefined)) ? name : undefined;
}

/**
 * Keeps the current tracked roots and adds, for any path no root covers, its shortest prefix
 * that is not a parent of a tracked root. A directory above a tracked root (`models` for a
 * tracked `models/m.bin`) never becomes a root itself: that would start tracking its untracked files.
 */
function mergeRoots(tracked: readonly string[], paths: readonly string[]): string[] {
  const roots = new Set(tracked);
  for (const p of paths) {
    if ([...roots].some((r) => isUnder(p, r))) continue;
    const parts = p.split('/');
    for (let n = 1; n <= parts.length; n++) {
      const prefix = parts.slice(0, n).join('/');
      if (![...roots].some((r) => isUnder(r, prefix))) {
        roots.add(prefix);
        break;
      }
    }
  }
  return [...roots].sort();
}
