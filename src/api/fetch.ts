import { MlstoreError } from '../errors.js';
import { isDigest } from '../core/digest.js';
import { parseFullRef } from '../model/ref-name.js';
import { openRemote, type Remote } from '../repository/remote.js';
import { readTrackingRefs, updateTrackingRefs } from '../repository/remote-refs.js';
import type { Repository } from '../repository/repository.js';
import { downloadObjects, type DownloadInput, type DownloadResult } from '../repository/transfer-download.js';
import type { TransferOptions } from '../repository/transfer.js';
import { COMMIT_PAYLOAD_TYPE, parseEnvelope, payloadBytes } from '../trust/dsse.js';
import { readLockFile } from '../workspace/lock-file.js';
import { toRepoPath } from '../workspace/paths.js';
import { withRepository, type CommonOptions } from './context.js';
import { checkRemoteRefs, type CheckRemoteOptions, type RefStateInfo } from './ref-state-sync.js';

export interface FetchOptions extends CommonOptions {
  /** Remote name (default: origin, or the only remote). */
  remote?: string;
  /** Only these remote branches or tags (short or full names); default: all of them. */
  refs?: readonly string[];
  /** Objects in flight at once (default 32 for S3, 16 for a directory). */
  jobs?: number;
  /** Refuse a remote that has no signed ref state (default: accept it with a warning). */
  requireSignedRefs?: boolean;
  /** Trust file for the remote's signed ref state (default: `$MLSTORE_TRUST_FILE` or `mlstore-trust.json`). */
  trustFile?: string;
}

export interface FetchedRef {
  ref: string;
  /** Remote-tracking value before the fetch (null: new). */
  old: string | null;
  /** Value now (null: the remote no longer has it). */
  new: string | null;
}

export interface FetchResult {
  remote: string;
  location: string;
  /** True when nothing was ever pushed to the remote. */
  empty: boolean;
  refs: FetchedRef[];
  objects: DownloadResult;
  /** The verified signed ref state; null when the remote has none (see `warnings`). */
  refState: RefStateInfo | null;
  warnings: string[];
  seconds: number;
}

/**
 * Downloads what the local store lacks of the remote's branches and tags (with their history),
 * verifying every object before storing it, and records the remote's refs as remote-tracking refs
 * (`.mlstore/remotes/<remote>.json`, shown by `remote list`). Local branches do not move.
 * @example
 *   const r = await fetch({ dir: '.', remote: 'origin' });
 *   console.log(r.refs, r.objects.downloaded);
 */
export async function fetch(options: FetchOptions): Promise<FetchResult> {
  return withRepository(options, async (repo) => {
    await repo.cleanLeftovers(); // fetch takes no repository lock, and may be all a mirror ever runs
    const started = repo.env.now().getTime();
    const remote = openRemote(repo, options.remote, options.jobs !== undefined ? { jobs: options.jobs } : {});
    try {
      const { marked, refs: remoteRefs, refState, warnings } = await readRemote(repo, remote, options);
      const before = (await readTrackingRefs(repo.dir, remote.name)).refs;
      let wanted = remoteRefs;
      if (options.refs?.length) wanted = options.refs.map((r) => findRemoteRef(remote, remoteRefs, r));
      const objects = await download(repo, remote, { tips: [...new Set(wanted.map((r) => r.id))], history: true, complete: new Set(Object.values(before)) }, options.signal);
      const changes: Record<string, string | null> = Object.fromEntries(wanted.map((r) => [r.name, r.id]));
      const full = !options.refs?.length;
      if (full) for (const name of Object.keys(before)) if (!(name in changes)) changes[name] = null;
      if (marked || Object.keys(before).length > 0) await updateTrackingRefs(repo.dir, remote.name, changes, repo.env.now(), full);
      const refs = Object.entries(changes)
        .map(([ref, id]) => ({ ref, old: before[ref] ?? null, new: id }))
        .sort((a, b) => (a.ref < b.ref ? -1 : 1));
      const seconds = (repo.env.now().getTime() - started) / 1000;
      return { remote: remote.name, location: remote.backend.location, empty: !marked, refs, objects, refState, warnings, seconds };
    } catch (e) {
      throw remote.wrapError(e);
    } finally {
      await remote.close();
    }
  });
}

export interface FetchCommitOptions extends CommonOptions {
  remote?: string;
  /** Remote branch or tag, a commit id, or anything the local repository resolves; default: the commit in mlstore.lock. */
  rev?: string;
  /** Only the data of these paths (relative to `cwd`); every tree is still fetched. */
  paths?: readonly string[];
  cwd?: string;
  jobs?: number;
  /** Also fetch the commit's ancestors (pull); default: just this commit. */
  history?: boolean;
  requireSignedRefs?: boolean;
  /** Trust file for the remote's signed ref state. */
  trustFile?: string;
}

export interface FetchCommitResult {
  remote: string;
  id: string;
  /** The remote ref REV named, when it named one. */
  ref: string | null;
  objects: DownloadResult;
  refState: RefStateInfo | null;
  warnings: string[];
}

/**
 * Fetches one commit's tree and the data under `paths` (all of it without paths) — what
 * `checkout --remote` and `pull` need, and nothing more.
 * @example
 *   await fetchCommit({ dir: '.', remote: 'origin', rev: 'dataset-v3', paths: ['data/val'] });
 */
export async function fetchCommit(options: FetchCommitOptions): Promise<FetchCommitResult> {
  return withRepository(options, async (repo) => {
    await repo.cleanLeftovers(); // fetch takes no repository lock, and may be all a mirror ever runs
    const remote = openRemote(repo, options.remote, options.jobs !== undefined ? { jobs: options.jobs } : {});
    try {
      const { marked, refs, refState, warnings } = await readRemote(repo, remote, options);
      let target: { id: string; ref: string | null };
      if (options.rev !== undefined) {
        target = await resolveRemoteRev(repo, remote, refs, options.rev, options.signal);
      } else {
        const lock = await readLockFile(repo.root);
        if (!lock) throw new MlstoreError('USAGE', 'no REV given and no mlstore.lock in the repository', { hint: 'Name a branch, tag or commit.' });
        target = { id: lock.commit, ref: null };
      }
      if (!marked && !(await repo.objects.has('meta', target.id, options.signal))) {
        throw new MlstoreError('UNKNOWN_REV', `remote ${remote.name} is empty: nothing was pushed to ${remote.backend.location}`, { details: { remote: remote.name } });
      }
      const cwd = options.cwd ?? options.dir;
      const paths = options.paths?.length ? options.paths.map((p) => toRepoPath(repo.root, cwd, p)) : undefined;
      const complete = options.history ? new Set(Object.values((await readTrackingRefs(repo.dir, remote.name)).refs)) : undefined;
      const objects = await download(
        repo,
        remote,
        { tips: [target.id], history: options.history ?? false, ...(paths ? { paths } : {}), ...(complete ? { complete } : {}) },
        options.signal,
      );
      if (target.ref && options.history && !paths) {
        await updateTrackingRefs(repo.dir, remote.name, { [target.ref]: target.id }, repo.env.now());
      }
      return { remote: remote.name, id: target.id, ref: target.ref, objects, refState, warnings };
    } catch (e) {
      throw remote.wrapError(e);
    } finally {
      await remote.close();
    }
  });
}

/**
 * Checks the format marker, lists the remote's refs and verifies them against the remote's signed
 * ref state (src/api/ref-state-sync.ts) before any is used. A remote without a marker must be empty.
 */
async function readRemote(
  repo: Repository,
  remote: Remote,
  options: { requireSignedRefs?: boolean; trustFile?: string; signal?: AbortSignal },
): Promise<{ marked: boolean; refs: { name: string; id: string }[]; refState: RefStateInfo | null; warnings: string[] }> {
  const signal = options.signal;
  const marked = await remote.checkFormat(signal);
  const listed = await remote.refs.list(signal);
  const check: CheckRemoteOptions = {
    ...(options.requireSignedRefs ? { requireSigned: true } : {}),
    ...(options.trustFile !== undefined ? { trustFile: options.trustFile } : {}),
    ...(signal ? { signal } : {}),
  };
  if (!marked && listed.length > 0) {
    throw new MlstoreError('REMOTE_FORMAT', `${remote.backend.location} has refs but no mlstore-remote.json: it was not written by mlstore`, {
      details: { location: remote.backend.location },
      hint: 'Check the remote URL.',
    });
  }
  const { refs, refState, warnings } = await checkRemoteRefs(repo, remote, listed, check);
  for (const w of warnings) repo.env.log.warn(w);
  return { marked, refs, refState, warnings };
}

function findRemoteRef(remote: Remote, refs: readonly { name: string; id: string }[], rev: string): { name: string; id: string } {
  const names = rev.startsWith('refs/') ? [rev] : [`refs/heads/${rev}`, `refs/tags/${rev}`];
  const found = refs.filter((r) => names.includes(r.name));
  if (found.length > 1 && found[0]!.id !== found[1]!.id) {
    throw new MlstoreError('AMBIGUOUS_REV', `${rev} is both a branch and a tag on remote ${remote.name}`, { details: { rev }, hint: `Say refs/heads/${rev} or refs/tags/${rev}.` });
  }
  if (found.length === 0) {
    throw new MlstoreError('UNKNOWN_REV', `remote ${remote.name} has no branch or tag named ${JSON.stringify(rev)}`, {
      details: { rev, remote: remote.name, refs: refs.map((r) => r.name) },
      hint: refs.length ? `It has: ${refs.map((r) => r.name.replace(/^refs\/(heads|tags)\//, '')).slice(0, 10).join(', ')}.` : 'Nothing has been pushed there yet.',
    });
  }
  return found[0]!;
}

/** REV on a remote: one of its branches or tags, a full commit id, or else what the local repository resolves. */
export async function resolveRemoteRev(
  repo: Repository,
  remote: Remote,
  refs: readonly { name: string; id: string }[],
  rev: string,
  signal?: AbortSignal,
): Promise<{ id: string; ref: string | null }> {
  if (isDigest(rev)) return { id: rev, ref: null };
  const isName = rev.startsWith('refs/') ? parseFullRef(rev) !== undefined : parseFullRef(`refs/heads/${rev}`) !== undefined;
  if (isName) {
    try {
      const r = findRemoteRef(remote, refs, rev);
      return { id: r.id, ref: r.name };
    } catch (e) {
      if (!(e instanceof MlstoreError) || e.code !== 'UNKNOWN_REV') throw e;
      const local = await repo.resolveRev(rev, signal).catch(() => undefined);
      if (local) return { id: local, ref: null };
      throw e;
    }
  }
  return { id: await repo.resolveRev(rev, signal), ref: null };
}

async function download(repo: Repository, remote: Remote, what: Pick<DownloadInput, 'tips' | 'history' | 'paths' | 'complete'>, signal: AbortSignal | undefined): Promise<DownloadResult> {
  const db = await repo.index();
  const options: TransferOptions = {
    jobs: remote.jobs,
    now: () => repo.env.now().getTime(),
    ...(signal ? { signal } : {}),
    ...(repo.env.progress ? { progress: repo.env.progress } : {}),
    ...(db ? { index: { db, remoteId: remote.indexId } } : {}),
  };
  return downloadObjects({ local: repo.objects, remote: remote.objects, acceptSignature: acceptCommitSignature, ...what }, options);
}

/**
 * A signature file from the remote is kept only if it is a well-formed DSSE envelope over exactly
 * this commit's bytes, with a signature by the key its file name claims. Whether that key is
 * trusted (and the signature valid) is decided later by `verify`, which has the trust list.
 */
export function acceptCommitSignature(_commitId: string, keyId: string, envelope: Uint8Array, commitBytes: Uint8Array): boolean {
  try {
    const env = parseEnvelope(envelope);
    if (env.payloadType !== COMMIT_PAYLOAD_TYPE) return false;
    if (!env.signatures.some((s) => s.keyid === keyId)) return false;
    return Buffer.from(payloadBytes(env)).equals(Buffer.from(commitBytes));
  } catch {
    return false;
  }
}
