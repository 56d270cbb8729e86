import { MlstoreError, isMlstoreError } from '../errors.js';
import { parseFullRef } from '../model/ref-name.js';
import { isAncestor } from '../repository/ancestry.js';
import { openRemote, type Remote } from '../repository/remote.js';
import { updateTrackingRefs } from '../repository/remote-refs.js';
import type { RefValue } from '../repository/refs.js';
import type { Repository } from '../repository/repository.js';
import { uploadObjects, type UploadResult } from '../repository/transfer-upload.js';
import { checkRefUpdate } from '../trust/ref-state.js';
import type { Signer } from '../trust/index.js';
import { hasRefState, publishRemoteRefState, refStateSigners, type RefStateInfo } from './ref-state-sync.js';
import { withRepository, type CommonOptions } from './context.js';

export interface PushOptions extends CommonOptions {
  /** Remote name (default: origin, or the only remote). */
  remote?: string;
  /** Branches or tags to push, short (`main`, `dataset-v1`) or full (`refs/tags/v1`). Default: the current branch. */
  revs?: readonly string[];
  /** Push every local branch and tag. */
  all?: boolean;
  /** Objects in flight at once (default 32 for S3, 16 for a directory). */
  jobs?: number;
  /** Allow non-fast-forward branch updates and moving tags. */
  force?: boolean;
  /** Do not trust the index or the remote's trees: HEAD-check every reachable object and re-send what is missing. */
  verifyRemote?: boolean;
  /**
   * Keys that sign the remote's ref state after the refs moved. Default: the configured signing
   * key (as for commits), none when no key is configured; `[]` publishes nothing.
   */
  signers?: readonly Signer[];
  /** Lifetime of the published ref state in seconds (default 7 days). */
  refsTtlSeconds?: number;
}

export type RefPushStatus = 'created' | 'fast-forward' | 'forced' | 'up-to-date';

export interface RefPushResult {
  ref: string;
  old: string | null;
  new: string;
  status: RefPushStatus;
}

export interface PushResult {
  remote: string;
  location: string;
  refs: RefPushResult[];
  objects: UploadResult;
  /** False when the remote cannot do atomic compare-and-swap (a warning is included). */
  atomicCompareAndSwap: boolean;
  /** The signed ref state published after the refs moved; null when the push was not signed. */
  refState: RefStateInfo | null;
  warnings: string[];
  seconds: number;
}

/**
 * Uploads what the remote lacks of the named branches and tags (dependency order, checksummed
 * PUTs, bounded concurrency), then moves each remote ref by compare-and-swap. A branch update
 * that would drop commits on the remote, or a tag move, is refused (NOT_FAST_FORWARD) unless
 * `force`; two concurrent pushes can never silently overwrite each other.
 * @example
 *   const r = await push({ dir: '.', remote: 'origin', revs: ['main', 'dataset-v1'] });
 *   console.log(r.objects.uploaded, 'objects sent');
 */
export async function push(options: PushOptions): Promise<PushResult> {
  return withRepository(options, async (repo) => {
    const started = repo.env.now().getTime();
    const remote = openRemote(repo, options.remote, options.jobs !== undefined ? { jobs: options.jobs } : {});
    const signal = options.signal;
    try {
      const signers = options.signers ?? (await refStateSigners(repo.env));
      const local = await selectRefs(repo, options);
      await remote.ensureFormat(repo.env.now(), signal);
      const warnings: string[] = [];
      const caps = await remote.capabilities();
      if (!caps.atomicCompareAndSwap) {
        const w = `remote ${remote.name} (${remote.backend.location}) does not support conditional writes: ref updates are read-compare-write, and two pushes at the same moment could overwrite each other`;
        warnings.push(w);
        repo.env.log.warn(w);
      }
      const remoteRefs = await remote.refs.list(signal);
      const current = new Map(remoteRefs.map((r) => [r.name, r]));
      const ancestor = (a: string, d: string) => isAncestor(repo.objects, a, d, signal);
      const plans: { ref: string; id: string; old: RefValue | undefined; status: RefPushStatus }[] = [];
      for (const { name, id } of local) {
        const old = current.get(name);
        const decision = await checkRefUpdate({ refName: name, oldId: old?.id, newId: id, force: options.force ?? false, isAncestor: ancestor });
        plans.push({ ref: name, id, old, status: decision === 'unchanged' ? 'up-to-date' : decision === 'create' ? 'created' : decision });
      }

      const db = await repo.index();
      const objects = await uploadObjects(
        {
          local: { objects: repo.objects, listSignatures: (c, s) => repo.listSignatures(c, s) },
          remote: remote.backend,
          tips: local.map((r) => r.id),
          remoteTips: remoteRefs.map((r) => r.id),
          verifyRemote: options.verifyRemote ?? false,
        },
        {
          jobs: remote.jobs,
          now: () => repo.env.now().getTime(),
          ...(signal ? { signal } : {}),
          ...(repo.env.progress ? { progress: repo.env.progress } : {}),
          ...(db ? { index: { db, remoteId: remote.indexId } } : {}),
        },
      );

      const refs: RefPushResult[] = [];
      for (const p of plans) {
        const status = p.status === 'up-to-date' ? p.status : await moveRef(remote, p.ref, p.id, p.old, p.status, options.force ?? false, ancestor, signal);
        refs.push({ ref: p.ref, old: p.old?.id ?? null, new: p.id, status });
      }
      let refState: RefStateInfo | null = null;
      if (signers.length > 0) {
        refState = await publishRemoteRefState(repo, remote, {
          signers,
          ...(options.refsTtlSeconds === undefined ? {} : { ttlSeconds: options.refsTtlSeconds }),
          ...(signal ? { signal } : {}),
        });
      } else if (await hasRefState(remote, signal)) {
        const w = `remote ${remote.name} has a signed ref state but this push was not signed: clients will refuse the remote (TAMPERED) until someone pushes with a signing key`;
        warnings.push(w);
        repo.env.log.warn(w);
      }
      await updateTrackingRefs(repo.dir, remote.name, Object.fromEntries(local.map((r) => [r.name, r.id])), repo.env.now());
      const seconds = (repo.env.now().getTime() - started) / 1000;
      return { remote: remote.name, location: remote.backend.location, refs, objects, atomicCompareAndSwap: caps.atomicCompareAndSwap, refState, warnings, seconds };
    } catch (e) {
      throw remote.wrapError(e);
    } finally {
      await remote.close();
    }
  });
}

/**
 * Compare-and-swap of one remote ref from the value read before the upload. When another push
 * moved it meanwhile, the new value is re-checked: still a fast-forward → retry; otherwise the
 * push is refused (NOT_FAST_FORWARD) and nothing is overwritten.
 */
async function moveRef(
  remote: Remote,
  ref: string,
  id: string,
  expected: RefValue | undefined,
  status: RefPushStatus,
  force: boolean,
  ancestor: (a: string, d: string) => Promise<boolean>,
  signal: AbortSignal | undefined,
): Promise<RefPushStatus> {
  let old = expected;
  for (let attempt = 1; ; attempt++) {
    try {
      await remote.refs.update(ref, id, old, signal);
      return status;
    } catch (e) {
      if (!isMlstoreError(e, 'REF_CONFLICT') || attempt >= 5) throw e;
    }
    const now = await remote.refs.read(ref, signal);
    if (now?.id === id) return status; // someone pushed the very same commit
    try {
      const decision = await checkRefUpdate({ refName: ref, oldId: now?.id, newId: id, force, isAncestor: ancestor });
      status = decision === 'create' ? 'created' : decision === 'unchanged' ? 'up-to-date' : decision;
    } catch (e) {
      if (!isMlstoreError(e, 'NOT_FAST_FORWARD')) throw e;
      throw new MlstoreError('NOT_FAST_FORWARD', `${ref} on remote ${remote.name} was moved to ${now?.id ?? '(deleted)'} by another push while this one ran; ${id} does not contain it`, {
        details: { ref, remote: remote.name, old: now?.id ?? null, new: id, concurrent: true },
        hint: 'Pull (or fetch) to get the other commit, then push again; or --force to overwrite it.',
        cause: e,
      });
    }
    old = now;
  }
}

/** The local refs a push names: --all, the given names, or the current branch. */
async function selectRefs(repo: Repository, options: PushOptions): Promise<{ name: string; id: string }[]> {
  const signal = options.signal;
  if (options.all) {
    const refs = await repo.refs.list(signal);
    if (refs.length === 0) throw new MlstoreError('UNKNOWN_REV', 'nothing to push: the repository has no branches or tags with commits');
    return refs.map((r) => ({ name: r.name, id: r.id }));
  }
  if (!options.revs || options.revs.length === 0) {
    const head = await repo.head();
    if (head.kind === 'detached') {
      throw new MlstoreError('USAGE', 'HEAD is detached: name the branch or tag to push', { hint: 'mlstore push origin main' });
    }
    const ref = await repo.refs.read(head.ref, signal);
    if (!ref) throw new MlstoreError('UNKNOWN_REV', `nothing to push: ${head.ref} has no commits yet`, { hint: 'Run `mlstore commit -m MSG` first.' });
    return [{ name: ref.name, id: ref.id }];
  }
  const out = new Map<string, string>();
  for (const rev of options.revs) {
    const names = rev.startsWith('refs/') ? [rev] : [`refs/heads/${rev}`, `refs/tags/${rev}`];
    const found: RefValue[] = [];
    for (const n of names) {
      if (!parseFullRef(n)) continue;
      const r = await repo.refs.read(n, signal);
      if (r) found.push(r);
    }
    if (found.length === 0) {
      throw new MlstoreError('UNKNOWN_REV', `no local branch or tag named ${JSON.stringify(rev)}`, {
        details: { rev },
        hint: 'push sends branches and tags; create one first (`mlstore branch NAME REV` or `mlstore tag NAME REV`).',
      });
    }
    if (found.length > 1) {
      throw new MlstoreError('AMBIGUOUS_REV', `${rev} is both a branch and a tag`, { details: { rev }, hint: `Say refs/heads/${rev} or refs/tags/${rev}.` });
    }
    out.set(found[0]!.name, found[0]!.id);
  }
  return [...out].map(([name, id]) => ({ name, id }));
}
