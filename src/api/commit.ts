import { MlstoreError } from '../errors.js';
import { encodeCommit, formatTime, type Commit, type Input, type Person } from '../model/commit.js';
import { withRepository, sig, type CommonOptions } from './context.js';
import { snapshotWorkspace } from '../workspace/snapshot.js';
import { writeTrees } from '../workspace/tree-builder.js';
import { readCodeState, readGitAuthor } from '../workspace/code-state.js';
import { captureEnvironment, type SystemInfo } from '../workspace/environment.js';
import { writeLockFile } from '../workspace/lock-file.js';
import type { Skipped } from '../workspace/scan.js';

/** Signs a freshly written commit (src/trust provides one per configured key). */
export interface CommitSigner {
  sign(commitId: string, commitBytes: Uint8Array): Promise<{ keyId: string; envelope: Uint8Array }>;
}

export interface CommitOptions extends CommonOptions {
  message: string;
  author?: Partial<Person>;
  /** Lineage edges: `REV` or `REV:PATH` of the data this version was produced from. */
  inputs?: readonly string[];
  allowEmpty?: boolean;
  verify?: boolean;
  signers?: readonly CommitSigner[];
  /** OS, CPU and runtime versions recorded in `environment` (the CLI passes process values). */
  system: SystemInfo;
}

export interface CommitResult {
  id: string;
  commit: Commit;
  ref: string | null;
  files: number;
  read: { files: number; bytes: number };
  skipped: Skipped[];
  signedBy: string[];
}

/**
 * Records the tracked files as a new version on the current branch: snapshot → trees → commit
 * → signatures → ref (in that order, so a crash never leaves the ref pointing at something
 * missing) → mlstore.lock.
 * @example
 *   const { id } = await commit({ dir: '.', message: 'v1', system: { platform: 'linux', arch: 'x64', node: 'v20' } });
 */
export async function commit(options: CommitOptions): Promise<CommitResult> {
  const message = options.message.trim();
  if (message.length === 0) throw new MlstoreError('USAGE', 'a commit needs a message', { hint: 'Pass -m "what changed".' });
  return withRepository(options, (repo) =>
    repo.withLock('commit', async () => {
      const signal = options.signal;
      const tracked = await repo.trackedPaths();
      if (tracked.length === 0) {
        throw new MlstoreError('NOTHING_TO_COMMIT', 'no paths are tracked yet', { hint: 'Run `mlstore add PATH…` first.' });
      }
      const head = await repo.head();
      const branchRef = head.kind === 'branch' ? await repo.refs.read(head.ref, signal) : undefined;
      const parent = head.kind === 'branch' ? branchRef?.id : head.id;

      // Provenance is read while the data is snapshotted: probing runtimes (a pyenv shim takes
      // seconds on a busy machine) must not add to the commit's wall time.
      const provenance = readProvenance(repo.root, options.system);
      provenance.catch(() => {}); // observed below; not an unhandled rejection if the snapshot fails first
      const snap = await snapshotWorkspace(repo, tracked, { mode: 'store', verify: options.verify ?? false, ...sig(signal) });
      const tree = await writeTrees(repo.objects, snap.files, snap.dirs, signal);
      if (parent && !options.allowEmpty && (await repo.readCommit(parent, signal)).tree === tree) {
        throw new MlstoreError('NOTHING_TO_COMMIT', 'nothing changed since the last commit', { hint: 'Use --allow-empty to record a commit anyway.' });
      }

      const inputs: Input[] = [];
      for (const spec of options.inputs ?? []) inputs.push(await resolveInput(repo, spec, signal));
      const { git, gitAuthor, environment } = await provenance;
      const vars = repo.env.vars;
      const author: Person = {
        name: options.author?.name ?? vars['MLSTORE_AUTHOR_NAME'] ?? gitAuthor.name ?? 'unknown',
        email: options.author?.email ?? vars['MLSTORE_AUTHOR_EMAIL'] ?? gitAuthor.email ?? 'unknown',
      };
      const record: Commit = {
        type: 'commit',
        tree,
        parents: parent ? [parent] : [],
        author,
        time: formatTime(repo.env.now()),
        message,
        code: git?.code ?? { commit: null, dirty: false, diff: null },
        environment,
        inputs,
      };
      const bytes = encodeCommit(record);
      const id = await repo.objects.putMeta(bytes, signal);
      const signedBy: string[] = [];
      for (const signer of options.signers ?? []) {
        const { keyId, envelope } = await signer.sign(id, bytes);
        await repo.putSignature(id, keyId, envelope);
        signedBy.push(keyId);
      }
      await repo.backend.flush(sig(signal));
      if (head.kind === 'branch') await repo.refs.update(head.ref, id, branchRef, signal);
      else await repo.setHead({ kind: 'detached', id });
      await writeLockFile(repo.root, id, tracked);
      await (await repo.index())?.putTreeListing(tree, snap.files); // the next status need not re-read the tree
      return {
        id,
        commit: record,
        ref: head.kind === 'branch' ? head.ref : null,
        files: snap.files.size,
        read: snap.read,
        skipped: snap.skipped,
        signedBy,
      };
    }),
  );
}

async function readProvenance(root: string, system: SystemInfo) {
  const git = await readCodeState(root);
  const [gitAuthor, environment] = await Promise.all([readGitAuthor(root), captureEnvironment(git ? [root, git.dir] : [root], system)]);
  return { git, gitAuthor, environment };
}

async function resolveInput(repo: import('../repository/repository.js').Repository, spec: string, signal?: AbortSignal): Promise<Input> {
  const colon = spec.indexOf(':');
  const rev = colon < 0 ? spec : spec.slice(0, colon);
  const path = colon < 0 ? undefined : spec.slice(colon + 1);
  const id = await repo.resolveRev(rev, signal);
  await repo.readCommit(id, signal); // must be a commit we have
  return path ? { commit: id, path } : { commit: id };
}
