/**
 * `mlstore verify REV [--policy FILE] [--json]`: checks every signature of a commit against the
 * trust file and a policy, and returns the decision document (see docs/security.md). When REV is
 * a branch or tag (or HEAD on a branch), key scopes are checked against that ref.
 * @example
 *   const d = await verify({ dir: '.', rev: 'main', policyFile: 'mlstore-policy.json' });
 *   if (!d.ok) process.exitCode = 1;
 */
import type { Repository } from '../repository/repository.js';
import { defaultPolicy, readPolicy, verifyCommitTree, type Decision, type InputVerdict, type Policy } from '../trust/index.js';
import { withRepository, sig, type CommonOptions } from './context.js';
import { loadTrust } from './key.js';

export interface VerifyOptions extends CommonOptions {
  rev: string;
  /** A policy object, or a file to read it from; default: threshold 1, nothing else. */
  policy?: Policy;
  policyFile?: string;
  trustFile?: string;
}

export type VerifyResult = Decision & { inputs: Record<string, InputVerdict>; trustFile: string };

export async function verify(options: VerifyOptions): Promise<VerifyResult> {
  return withRepository(options, async (repo) => {
    const id = await repo.resolveRev(options.rev, options.signal);
    return verifyResolved(repo, options.rev, id, options);
  });
}

/**
 * Verifies an already-resolved commit inside an open repository: what `checkout --verify` and
 * `pull --verify` call before a single byte reaches the workspace.
 */
export async function verifyResolved(
  repo: Repository,
  rev: string,
  id: string,
  options: Pick<VerifyOptions, 'policy' | 'policyFile' | 'trustFile' | 'signal' | 'dir'>,
): Promise<VerifyResult> {
  const env = repo.env;
  const policy = options.policy ?? (options.policyFile ? await readPolicy(options.policyFile) : defaultPolicy());
  const { trustFile, trustList } = await loadTrust({ dir: repo.root, env, ...(options.trustFile ? { trustFile: options.trustFile } : {}) });
  const refName = await refNameOf(repo, rev, id, options.signal);
  const decision = await verifyCommitTree({
    commitId: id,
    trustList,
    policy,
    now: env.now(),
    ...(refName ? { refName } : {}),
    loadCommit: (c) => repo.objects.readCommitBytes(c, sig(options.signal)),
    loadEnvelopes: async (c) => (await repo.listSignatures(c, options.signal)).map((s) => s.bytes),
    ...sig(options.signal),
  });
  return { ...decision, trustFile };
}

/** The full ref REV names, when it names one that points at `id`. */
export async function refNameOf(repo: Repository, rev: string, id: string, signal?: AbortSignal): Promise<string | undefined> {
  if (rev === 'HEAD') {
    const head = await repo.head();
    return head.kind === 'branch' ? head.ref : undefined;
  }
  const candidates = rev.startsWith('refs/') ? [rev] : [`refs/heads/${rev}`, `refs/tags/${rev}`];
  for (const name of candidates) {
    let ref;
    try {
      ref = await repo.refs.read(name, signal);
    } catch {
      continue; // not a valid ref name: REV was an id or an expression
    }
    if (ref?.id === id) return name;
  }
  return undefined;
}
