import { MlstoreError } from '../errors.js';
import { parseFullRef } from '../model/ref-name.js';
import { isAncestor } from '../repository/ancestry.js';
import { checkout, type CheckoutSummary } from './checkout.js';
import { withRepository, type CommonOptions } from './context.js';
import { fetchCommit } from './fetch.js';
import type { DownloadResult } from '../repository/transfer-download.js';
import type { RefStateInfo } from './ref-state-sync.js';

export interface PullOptions extends CommonOptions {
  /** Remote name (default: origin, or the only remote). */
  remote?: string;
  /** Remote branch or tag, or a commit id; default: the current branch's name on the remote. */
  rev?: string;
  jobs?: number;
  /** Overwrite local changes, and reset a local branch or tag that diverged from the remote's. */
  force?: boolean;
  cwd?: string;
  /** Refuse a version that fails this signature policy, before any byte reaches the workspace. */
  verify?: { policyFile?: string; trustFile?: string };
  /** Refuse a remote without a signed ref state (default: accept it with a warning). */
  requireSignedRefs?: boolean;
}

export interface PullResult {
  remote: string;
  /** The remote ref pulled (null for a commit id). */
  ref: string | null;
  id: string;
  /** The local branch or tag moved to `id`, and how. */
  local: { ref: string; old: string | null; status: 'created' | 'fast-forward' | 'forced' | 'up-to-date' } | null;
  objects: DownloadResult;
  /** The remote's verified signed ref state; null when it has none (see `warnings`). */
  refState: RefStateInfo | null;
  warnings: string[];
  checkout: CheckoutSummary;
}

/**
 * Fetches a remote branch (with its history), tag or commit, then checks it out: the local
 * branch of the same name is created or fast-forwarded (a diverged one is refused unless
 * `force`) and HEAD moves onto it. Local changes are never overwritten unless `force`.
 * @example
 *   await pull({ dir: '.', remote: 'origin', rev: 'main' });
 */
export async function pull(options: PullOptions): Promise<PullResult> {
  const base = { dir: options.dir, ...(options.env ? { env: options.env } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  const rev = options.rev ?? (await currentBranch(options));
  const fetched = await fetchCommit({
    ...base,
    rev,
    history: true,
    ...(options.requireSignedRefs ? { requireSignedRefs: true } : {}),
    ...(options.verify?.trustFile !== undefined ? { trustFile: options.verify.trustFile } : {}),
    ...(options.remote !== undefined ? { remote: options.remote } : {}),
    ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
  });
  const force = options.force ?? false;

  // Decide the local ref move before touching the workspace, so a refusal changes nothing.
  const localRef = fetched.ref && parseFullRef(fetched.ref) ? fetched.ref : null;
  const before = localRef
    ? await withRepository(base, async (repo) => {
        const cur = await repo.refs.read(localRef, options.signal);
        if (!cur || cur.id === fetched.id) return cur?.id ?? null;
        const ff = localRef.startsWith('refs/heads/') && (await isAncestor(repo.objects, cur.id, fetched.id, options.signal));
        if (!ff && !force) {
          throw new MlstoreError('NOT_FAST_FORWARD', `local ${localRef} (${cur.id}) has diverged from remote ${fetched.remote}'s ${fetched.id}`, {
            details: { ref: localRef, local: cur.id, remote: fetched.id },
            hint: localRef.startsWith('refs/tags/') ? 'Tags do not move; pass --force to replace the local tag.' : 'Push your commits to another branch, or pass --force to reset the local branch to the remote one.',
          });
        }
        return cur.id;
      })
    : null;

  const summary = await checkout({ ...base, rev: fetched.id, force, ...(options.cwd ? { cwd: options.cwd } : {}), ...(options.verify ? { verify: options.verify } : {}) });

  let local: PullResult['local'] = null;
  if (localRef) {
    local = await withRepository(base, (repo) =>
      repo.withLock('pull', async () => {
        const cur = await repo.refs.read(localRef, options.signal);
        if ((cur?.id ?? null) !== before) {
          throw new MlstoreError('REF_CONFLICT', `${localRef} changed while pulling; the workspace now holds ${fetched.id} with HEAD detached`, {
            details: { ref: localRef },
            hint: 'Inspect with `mlstore log`, then check out the branch you want.',
          });
        }
        const status = before === null ? 'created' : before === fetched.id ? 'up-to-date' : (await isAncestor(repo.objects, before, fetched.id, options.signal)) ? 'fast-forward' : 'forced';
        if (status !== 'up-to-date') await repo.refs.update(localRef, fetched.id, cur, options.signal);
        if (localRef.startsWith('refs/heads/')) await repo.setHead({ kind: 'branch', ref: localRef });
        return { ref: localRef, old: before, status };
      }),
    );
  }
  return { remote: fetched.remote, ref: fetched.ref, id: fetched.id, local, objects: fetched.objects, refState: fetched.refState, warnings: fetched.warnings, checkout: summary };
}

async function currentBranch(options: PullOptions): Promise<string> {
  return withRepository(options, async (repo) => {
    const head = await repo.head();
    if (head.kind === 'detached') throw new MlstoreError('USAGE', 'HEAD is detached: name the branch, tag or commit to pull', { hint: 'mlstore pull origin main' });
    return head.ref;
  });
}
