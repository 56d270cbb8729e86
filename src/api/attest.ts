/**
 * `mlstore attest REV [--key K]`: a DSSE-signed in-toto Statement v1 with a SLSA Provenance v1
 * predicate for a version — its files as subjects, its code commit, inputs and environment as
 * resolved dependencies. Verify it with openssl or cosign (docs/security.md).
 * @example
 *   const { bytes } = await attest({ dir: '.', rev: 'model-v3', codeRepository: 'git+https://github.com/org/repo' });
 *   await writeFile('model-v3.intoto.json', bytes);
 */
import { defaultEnv } from '../env.js';
import { flattenTree } from '../repository/tree-walk.js';
import { buildStatement, encodeEnvelope, loadSigningKey, signAttestation, signerFor, type Envelope, type Statement } from '../trust/index.js';
import { withRepository, type CommonOptions } from './context.js';
import type { KeyChoice } from './sign.js';

export interface AttestOptions extends CommonOptions, KeyChoice {
  rev: string;
  /** Code repository URI, e.g. "git+https://github.com/org/repo" (the commit SHA is appended). */
  codeRepository?: string;
  /** Data store URI, e.g. "s3://bucket/prefix"; input and invocation URIs are "<store>#<commit>". */
  storeUri?: string;
  builderId?: string;
}

export interface AttestResult {
  commit: string;
  statement: Statement;
  envelope: Envelope;
  /** The envelope as JSON bytes, ready to write to a file. */
  bytes: Uint8Array;
  keyId: string;
}

export async function attest(options: AttestOptions): Promise<AttestResult> {
  const env = options.env ?? defaultEnv();
  const key = await loadSigningKey(env, {
    ...(options.keyFile === undefined ? {} : { keyFile: options.keyFile }),
    ...(options.key === undefined ? {} : { key: options.key }),
    ...(options.passphrase === undefined ? {} : { passphrase: options.passphrase }),
    ...(options.configDir === undefined ? {} : { configDir: options.configDir }),
  });
  return withRepository(options, async (repo) => {
    const id = await repo.resolveRev(options.rev, options.signal);
    const commit = await repo.readCommit(id, options.signal);
    const flat = await flattenTree(repo.objects, commit.tree, options.signal);
    const files = [...flat.files].map(([path, entry]) => ({ path, digest: entry.digest }));
    const statement = buildStatement({
      commitId: id,
      commit,
      files,
      ...(options.codeRepository === undefined ? {} : { codeRepository: options.codeRepository }),
      ...(options.storeUri === undefined ? {} : { storeUri: options.storeUri }),
      ...(options.builderId === undefined ? {} : { builderId: options.builderId }),
    });
    const envelope = signAttestation(statement, [signerFor(key)]);
    return { commit: id, statement, envelope, bytes: encodeEnvelope(envelope), keyId: key.id };
  });
}
