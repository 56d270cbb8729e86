/**
 * Signed ref state on push, fetch, pull and `checkout --remote` (DESIGN.md, "Signed ref state").
 *
 * push: after the remote refs moved, the pusher reads every ref back from the remote and publishes
 * the next signed snapshot (`refstate.json` under the remote's prefix), compare-and-swap, retried
 * when another pusher won the race. fetch/pull/checkout --remote: before any remote ref value is
 * used, the snapshot is verified against the repository's trust list and the highest version
 * this client has seen for that remote (`.mlstore/refstate-seen.json`, keyed by the remote's
 * location): rollback, expiry, untrusted or bad signatures, and ref files that disagree with the
 * snapshot are refused. A remote without a snapshot is accepted with a warning unless one was
 * already seen there (then it is a downgrade: ROLLBACK) or `requireSigned` is set.
 */
import { join } from 'node:path';
import { sha256Hex } from '../core/digest.js';
import type { Env } from '../env.js';
import { decodeRefState, encodeRefState, type RefState } from '../model/ref-state.js';
import { MlstoreError, isMlstoreError } from '../errors.js';
import type { Remote } from '../repository/remote.js';
import type { Repository } from '../repository/repository.js';
import {
  fetchRefState,
  nextRefState,
  payloadBytes,
  readRefStateEnvelope,
  signRefState,
  writeRefStateEnvelope,
  readSeen,
  readTrustList,
  recordSeen,
  REFSTATE_KEY,
  signerFor,
  trustFilePath,
  type Envelope,
  type Signer,
} from '../trust/index.js';
import { configuredSigningKey, type KeyChoice } from './sign.js';

/** The client's memory of the highest snapshot seen per remote, inside `.mlstore/`. */
export const SEEN_FILE = 'refstate-seen.json';

export function seenFilePath(repo: Repository): string {
  return join(repo.dir, SEEN_FILE);
}

/** What a push published, or what a fetch accepted. */
export interface RefStateInfo {
  version: number;
  /** UTC, second precision. */
  expires: string;
  /** Key ids whose signatures counted (fetch only). */
  signers?: string[];
}

/**
 * The signers for a ref state: the chosen key, else `MLSTORE_SIGNING_KEY(_FILE)`, else the default
 * key — the same resolution as commit signing; [] when no key is configured. A configured key that
 * cannot be used is an error, never a silently unsigned snapshot.
 */
export async function refStateSigners(env: Env, choice: KeyChoice = {}): Promise<Signer[]> {
  const key = await configuredSigningKey(env, choice);
  return key ? [signerFor(key)] : [];
}

export interface PublishRemoteOptions {
  signers: readonly Signer[];
  ttlSeconds?: number;
  signal?: AbortSignal;
}

const PUBLISH_ATTEMPTS = 5;

/**
 * Signs and publishes every ref the remote now has as the next snapshot. The version is above
 * both the remote's current one and the highest this client has seen, so a rolled-back remote
 * cannot make us reuse a number. A lost compare-and-swap (another pusher published meanwhile)
 * re-reads the refs and tries again.
 */
export async function publishRemoteRefState(repo: Repository, remote: Remote, options: PublishRemoteOptions): Promise<RefStateInfo> {
  const path = seenFilePath(repo);
  const location = remote.backend.location;
  for (let attempt = 1; ; attempt++) {
    // The snapshot is read before the refs, and written only if it is still that one: a pusher that
    // listed the refs before another push moved them can never overwrite the newer snapshot.
    const current = await readRefStateEnvelope(remote.backend, options.signal);
    const refs = Object.fromEntries((await remote.refs.list(options.signal)).map((r) => [r.name, r.id]));
    const seen = await readSeen(path, location);
    try {
      const state = nextRefState(current ? decodeOrUndefined(current.envelope) : undefined, refs, {
        now: repo.env.now(),
        minVersion: seen?.version ?? 0,
        ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
      });
      await writeRefStateEnvelope(remote.backend, signRefState(state, options.signers), current?.version ?? null, options.signal);
      await recordSeen(path, location, { version: state.version, digest: sha256Hex(encodeRefState(state)) });
      return { version: state.version, expires: state.expires };
    } catch (e) {
      if (!isMlstoreError(e, 'REF_CONFLICT') || attempt >= PUBLISH_ATTEMPTS) throw e;
    }
  }
}

/** The current snapshot's state, or undefined when unreadable (the next one then starts above the seen version). */
function decodeOrUndefined(envelope: Envelope): RefState | undefined {
  try {
    return decodeRefState(payloadBytes(envelope));
  } catch {
    return undefined;
  }
}

/** True when the remote holds a snapshot (even an unreadable one). */
export async function hasRefState(remote: Remote, signal?: AbortSignal): Promise<boolean> {
  try {
    return (await readRefStateEnvelope(remote.backend, signal)) !== undefined;
  } catch (e) {
    if (isMlstoreError(e) && ['CORRUPT_OBJECT', 'BAD_SIGNATURE', 'TAMPERED'].includes(e.code)) return true;
    throw e;
  }
}

export interface CheckRemoteOptions {
  /** Refuse a remote without a snapshot (default: accept it with a warning). */
  requireSigned?: boolean;
  /** Trust file (default: `$MLSTORE_TRUST_FILE` or `<repo root>/mlstore-trust.json`). */
  trustFile?: string;
  signal?: AbortSignal;
}

export interface CheckedRemoteRefs {
  /** The remote's refs, consistent with the verified snapshot when there is one. */
  refs: { name: string; id: string }[];
  refState: RefStateInfo | null;
  warnings: string[];
}

/** A pusher updates ref files first and the snapshot right after: one re-read covers that window. */
const RACE_RETRY_MS = 500;

/**
 * Verifies the remote's signed ref state against `refs` (its individual ref files) before any of
 * them is trusted. Throws ROLLBACK, EXPIRED, TAMPERED, BAD_SIGNATURE, UNTRUSTED_SIGNER, or
 * MISSING_OBJECT (no snapshot with `requireSigned`); records the accepted version as seen.
 */
export async function checkRemoteRefs(repo: Repository, remote: Remote, refs: { name: string; id: string }[], options: CheckRemoteOptions = {}): Promise<CheckedRemoteRefs> {
  const path = seenFilePath(repo);
  const location = remote.backend.location;
  const trustFile = trustFilePath(repo.env, repo.root, options.trustFile);
  const trustList = await readTrustList(trustFile);
  for (let attempt = 1; ; attempt++) {
    if (!(await hasRefState(remote, options.signal))) return unsigned(remote, refs, await readSeen(path, location), options);
    if (trustList.keys.length === 0) return untrusting(remote, refs, trustFile, options);
    try {
      const verified = await fetchRefState(remote.backend, {
        trustList,
        now: repo.env.now(),
        seenPath: path,
        refs: Object.fromEntries(refs.map((r) => [r.name, r.id])),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return { refs, refState: { version: verified.state.version, expires: verified.state.expires, signers: verified.signers }, warnings: [] };
    } catch (e) {
      if (!isMlstoreError(e, 'TAMPERED') || attempt >= 2) throw withHint(e);
    }
    await new Promise((r) => setTimeout(r, RACE_RETRY_MS));
    refs = await remote.refs.list(options.signal);
  }
}

function unsigned(remote: Remote, refs: { name: string; id: string }[], seen: { version: number } | undefined, options: CheckRemoteOptions): CheckedRemoteRefs {
  const location = remote.backend.location;
  if (seen) {
    throw new MlstoreError('ROLLBACK', `remote ${remote.name} no longer has a signed ref state (${REFSTATE_KEY}), but version ${seen.version} was already seen there`, {
      details: { location, seenVersion: seen.version, key: REFSTATE_KEY },
      hint: 'Deleting the snapshot is a downgrade attack or a damaged remote; do not use it until a trusted publisher pushes again with a signing key.',
    });
  }
  if (options.requireSigned) {
    throw new MlstoreError('MISSING_OBJECT', `remote ${remote.name} has no signed ref state (${REFSTATE_KEY}) and --require-signed-refs was given`, {
      details: { location, key: REFSTATE_KEY },
      hint: 'A publisher must push with a signing key (`mlstore key generate`, then `mlstore push`).',
    });
  }
  if (refs.length === 0) return { refs, refState: null, warnings: [] };
  return {
    refs,
    refState: null,
    warnings: [`remote ${remote.name} (${location}) has no signed ref state: its refs cannot be checked for rollback or tampering (push with a signing key to publish one; --require-signed-refs refuses such remotes)`],
  };
}

/**
 * A repository that trusts no key at all (no trust file yet, e.g. a first `init` + `pull` before
 * the code's mlstore-trust.json is there) cannot verify anything: the snapshot is used with a
 * warning, as an unsigned remote would be, unless `requireSigned`. A repository that trusts some
 * keys refuses a snapshot none of them signed (UNTRUSTED_SIGNER).
 */
function untrusting(remote: Remote, refs: { name: string; id: string }[], trustFile: string, options: CheckRemoteOptions): CheckedRemoteRefs {
  const location = remote.backend.location;
  if (options.requireSigned) {
    throw new MlstoreError('UNTRUSTED_SIGNER', `remote ${remote.name} has a signed ref state, but ${trustFile} trusts no key, so it cannot be verified (--require-signed-refs)`, {
      details: { location, trustFile },
      hint: "Add the publisher's public key with `mlstore key trust PEM --name NAME` (or commit the project's mlstore-trust.json).",
    });
  }
  return {
    refs,
    refState: null,
    warnings: [`remote ${remote.name} (${location}) has a signed ref state, but no key is trusted (${trustFile} is empty or missing): its refs were not verified (\`mlstore key trust\` the publisher's key)`],
  };
}

function withHint(e: unknown): unknown {
  if (isMlstoreError(e, 'UNTRUSTED_SIGNER')) {
    return new MlstoreError(e.code, e.message, {
      details: e.details,
      cause: e,
      hint: "The remote's ref state is not signed by a key in this repository's trust list; add the publisher's public key with `mlstore key trust`, or check who wrote the remote.",
    });
  }
  return e;
}
