/**
 * in-toto Statement v1 with a SLSA Provenance v1 predicate for one mlstore commit, DSSE-signed
 * with payloadType "application/vnd.in-toto+json" — the format `cosign verify-blob-attestation`
 * and other supply-chain tools read.
 *   subjects                   the version's files: name = path, digest.sha256 = what sha256sum prints
 *   buildDefinition            buildType https://mlstore.dev/provenance/commit/v1; the commit's
 *                              metadata as externalParameters; resolvedDependencies = the code's
 *                              Git commit, every input version, every environment component
 *   runDetails                 builder id, invocation = the mlstore commit, its time
 */
import { encodeCanonical } from '../core/canonical-json.js';
import { isDigest } from '../core/digest.js';
import { MlstoreError } from '../errors.js';
import type { Commit } from '../model/commit.js';
import { fromBase64, INTOTO_PAYLOAD_TYPE, parseEnvelope, signEnvelope, verifySignature, type Envelope, type Signer } from './dsse.js';
import { publicKeyFromPem } from './keys.js';
import { isExpired, type TrustList } from './trust-list.js';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
export const MLSTORE_BUILD_TYPE = 'https://mlstore.dev/provenance/commit/v1';
export const DEFAULT_BUILDER_ID = 'https://mlstore.dev/builder/mlstore-cli@v1';

export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: Record<string, string>;
  annotations?: Record<string, unknown>;
}

export interface Statement {
  _type: typeof STATEMENT_TYPE;
  subject: { name: string; digest: { sha256: string } }[];
  predicateType: typeof SLSA_PROVENANCE_V1;
  predicate: {
    buildDefinition: {
      buildType: string;
      externalParameters: Record<string, unknown>;
      internalParameters?: Record<string, unknown>;
      resolvedDependencies: ResourceDescriptor[];
    };
    runDetails: {
      builder: { id: string; version?: Record<string, string> };
      metadata: { invocationId: string; startedOn: string; finishedOn: string };
    };
  };
}

export interface AttestationInput {
  commitId: string;
  commit: Commit;
  /** Every file of the version (path relative to the version's root, SHA-256 of the whole file). */
  files: readonly { path: string; digest: string }[];
  /** Where the code lives, e.g. "git+https://github.com/org/repo"; the code commit is appended as "@<sha>". */
  codeRepository?: string;
  /** Where the data lives, e.g. "s3://bucket/prefix"; input URIs become "<store>#<commit>". */
  storeUri?: string;
  builderId?: string;
  builderVersion?: string;
}

export function buildStatement(input: AttestationInput): Statement {
  const { commit, commitId } = input;
  if (!isDigest(commitId)) throw new MlstoreError('USAGE', `${commitId} is not a commit id`);
  const seen = new Set<string>();
  const subject = [...input.files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((f) => {
      if (!isDigest(f.digest)) throw new MlstoreError('USAGE', `file ${f.path} has no SHA-256 digest`);
      if (seen.has(f.path)) throw new MlstoreError('USAGE', `file ${f.path} listed twice`);
      seen.add(f.path);
      return { name: f.path, digest: { sha256: f.digest } };
    });
  const store = input.storeUri ?? 'mlstore:';
  const deps: ResourceDescriptor[] = [];
  if (commit.code.commit !== null) {
    const repo = input.codeRepository ?? 'git+unknown';
    deps.push({
      name: 'code',
      uri: `${repo}@${commit.code.commit}`,
      digest: { gitCommit: commit.code.commit },
      annotations: { dirty: commit.code.dirty, ...(commit.code.diff ? { dirtyDiffSha256: commit.code.diff } : {}) },
    });
  }
  for (const inp of commit.inputs) {
    deps.push({
      name: inp.path === undefined ? 'input' : `input:${inp.path}`,
      uri: `${store}#${inp.commit}`,
      digest: { sha256: inp.commit },
      ...(inp.path === undefined ? {} : { annotations: { path: inp.path } }),
    });
  }
  deps.push({ name: 'environment', uri: `mlstore:environment/${commit.environment.digest}`, digest: { sha256: commit.environment.digest } });
  for (const [name, value] of Object.entries(commit.environment.components).sort(([a], [b]) => (a < b ? -1 : 1))) {
    deps.push(
      isDigest(value)
        ? { name: `environment:${name}`, uri: `mlstore:environment-component/${encodeURIComponent(name)}`, digest: { sha256: value } }
        : { name: `environment:${name}`, uri: `mlstore:environment-component/${encodeURIComponent(name)}`, annotations: { value } },
    );
  }
  return {
    _type: STATEMENT_TYPE,
    subject,
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: MLSTORE_BUILD_TYPE,
        externalParameters: {
          commit: commitId,
          tree: commit.tree,
          parents: [...commit.parents],
          message: commit.message,
          author: { name: commit.author.name, email: commit.author.email },
          inputs: commit.inputs.map((i) => ({ ...i })),
        },
        internalParameters: { environmentDigest: commit.environment.digest },
        resolvedDependencies: deps,
      },
      runDetails: {
        builder: { id: input.builderId ?? DEFAULT_BUILDER_ID, ...(input.builderVersion ? { version: { mlstore: input.builderVersion } } : {}) },
        metadata: { invocationId: `${store}#${commitId}`, startedOn: commit.time, finishedOn: commit.time },
      },
    },
  };
}

/** Canonical JSON bytes of a statement (stable across machines). */
export function encodeStatement(st: Statement): Uint8Array {
  return encodeCanonical(st);
}

export function signAttestation(st: Statement, signers: readonly Signer[]): Envelope {
  if (signers.length === 0) throw new MlstoreError('NO_KEY', 'an attestation needs at least one signing key');
  return signEnvelope(INTOTO_PAYLOAD_TYPE, encodeStatement(st), signers);
}

export interface VerifiedAttestation {
  statement: Statement;
  signers: string[];
}

/**
 * Verifies an attestation envelope against a trust list (any one valid, unexpired trusted
 * signature) and parses its statement. BAD_SIGNATURE / UNTRUSTED_SIGNER otherwise.
 */
export function verifyAttestation(envelope: Uint8Array | Envelope, trustList: TrustList, now: Date): VerifiedAttestation {
  const env = envelope instanceof Uint8Array ? parseEnvelope(envelope, 'attestation') : envelope;
  if (env.payloadType !== INTOTO_PAYLOAD_TYPE) {
    throw new MlstoreError('BAD_SIGNATURE', `attestation payload type is ${JSON.stringify(env.payloadType)}, expected ${JSON.stringify(INTOTO_PAYLOAD_TYPE)}`);
  }
  const payload = fromBase64(env.payload, 'attestation payload');
  const signers = new Set<string>();
  for (const s of env.signatures) {
    const key = trustList.keys.find((k) => k.id === s.keyid);
    if (!key) continue;
    if (!verifySignature(publicKeyFromPem(key.publicKey), env.payloadType, payload, fromBase64(s.sig, 'sig'))) {
      throw new MlstoreError('BAD_SIGNATURE', `attestation signature by ${key.name} does not verify`, { details: { keyId: key.id } });
    }
    if (!isExpired(key, now)) signers.add(key.id);
  }
  if (signers.size === 0) throw new MlstoreError('UNTRUSTED_SIGNER', 'attestation is not signed by a trusted, unexpired key');
  let statement: unknown;
  try {
    statement = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch (e) {
    throw new MlstoreError('BAD_SIGNATURE', 'attestation payload is not JSON', { cause: e });
  }
  const st = statement as Partial<Statement> | null;
  if (!st || st._type !== STATEMENT_TYPE || st.predicateType !== SLSA_PROVENANCE_V1 || !Array.isArray(st.subject)) {
    throw new MlstoreError('BAD_SIGNATURE', 'attestation payload is not an in-toto v1 SLSA provenance statement');
  }
  return { statement: st as Statement, signers: [...signers].sort() };
}
