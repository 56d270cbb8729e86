/**
 * `mlstore lineage REV [--format json|dot|mermaid|mlmd]`: the provenance DAG behind a version —
 * its parents and inputs, recursively, each with data root, code SHA, environment digest and
 * signature status against the trust file.
 * @example
 *   const { output } = await lineage({ dir: '.', rev: 'model-v3', format: 'mermaid' });
 */
import { defaultEnv } from '../env.js';
import { defaultPolicy, renderLineage, verifyCommit, walkLineage, type LineageFormat, type LineageGraph, type SignatureStatus } from '../trust/index.js';
import { withRepository, sig, type CommonOptions } from './context.js';
import { loadTrust } from './key.js';

export interface LineageOptions extends CommonOptions {
  rev: string;
  format?: LineageFormat;
  /** Follow parents as well as inputs (default true). */
  parents?: boolean;
  maxNodes?: number;
  trustFile?: string;
}

export async function lineage(options: LineageOptions): Promise<{ graph: LineageGraph; output: string }> {
  const env = options.env ?? defaultEnv();
  const { trustList } = await loadTrust(options);
  return withRepository(options, async (repo) => {
    const root = await repo.resolveRev(options.rev, options.signal);
    const signatureStatus = async (id: string): Promise<SignatureStatus> => {
      const envelopes = (await repo.listSignatures(id, options.signal)).map((s) => s.bytes);
      if (envelopes.length === 0) return 'unsigned';
      const d = verifyCommit({
        commitId: id,
        commitBytes: await repo.objects.readCommitBytes(id, sig(options.signal)),
        envelopes,
        trustList,
        policy: defaultPolicy(),
        now: env.now(),
      });
      if (d.ok) return 'verified';
      return d.checks.some((c) => c.enforced && !c.ok && c.check !== 'threshold') ? 'invalid' : 'unverified';
    };
    const graph = await walkLineage({
      root,
      loadCommit: (id) => repo.readCommit(id, options.signal),
      signatureStatus,
      ...(options.parents === undefined ? {} : { parents: options.parents }),
      ...(options.maxNodes === undefined ? {} : { maxNodes: options.maxNodes }),
      ...sig(options.signal),
    });
    return { graph, output: renderLineage(graph, options.format ?? 'json') };
  });
}
