/**
 * Signed ref state: the refs of a store published as one DSSE-signed snapshot (see
 * src/model/ref-state.ts). Signing commits alone cannot stop a remote from serving an older
 * signed commit (rollback), never updating (freeze) or combining refs that never coexisted (mix);
 * this module catches each:
 *   - ROLLBACK  version lower than the highest seen for this remote, or the same version with
 *               different content (a fork of history);
 *   - EXPIRED   the snapshot is past its expiry: a remote that stops updating freezes clients
 *               for at most the snapshot's lifetime;
 *   - TAMPERED  individual ref files disagree with the snapshot (mixed refs);
 *   - BAD_SIGNATURE / UNTRUSTED_SIGNER  the snapshot itself is not signed by enough trusted keys.
 * A key counts for a snapshot only if its scope (when it has one) covers every ref in it.
 */
import { readFile, rename, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../core/digest.js';
import { fromFsError, MlstoreError } from '../errors.js';
import { formatTime } from '../model/commit.js';
import { decodeRefState, encodeRefState, type RefState } from '../model/ref-state.js';
import type { Backend } from '../storage/backend.js';
import { encodeEnvelope, fromBase64, parseEnvelope, REFSTATE_PAYLOAD_TYPE, signEnvelope, verifySignature, type Envelope, type Signer } from './dsse.js';
import { publicKeyFromPem, keyIdOf } from './keys.js';
import { isExpired, scopeAllows, type TrustList } from './trust-list.js';

export const REFSTATE_KEY = 'refstate.json';
/** Default lifetime of a published snapshot: a frozen remote is noticed within a week. */
export const DEFAULT_REFSTATE_TTL_SECONDS = 7 * 24 * 3600;

export interface NextRefStateOptions {
  now: Date;
  ttlSeconds?: number;
  /** Highest version this writer has seen anywhere, so a stale remote cannot make it reuse a number. */
  minVersion?: number;
}

/** The snapshot that follows `current`, holding exactly `refs`. */
export function nextRefState(current: RefState | undefined, refs: Readonly<Record<string, string>>, options: NextRefStateOptions): RefState {
  const ttl = options.ttlSeconds ?? DEFAULT_REFSTATE_TTL_SECONDS;
  if (!Number.isSafeInteger(ttl) || ttl <= 0) throw new MlstoreError('USAGE', 'ref state lifetime must be a positive number of seconds');
  const version = Math.max(current?.version ?? 0, options.minVersion ?? 0) + 1;
  const sorted = Object.fromEntries(Object.entries(refs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const state: RefState = { type: 'refstate', version, expires: formatTime(new Date(options.now.getTime() + ttl * 1000)), refs: sorted };
  encodeRefState(state); // validates names and ids
  return state;
}

export function signRefState(state: RefState, signers: readonly Signer[]): Envelope {
  if (signers.length === 0) throw new MlstoreError('NO_KEY', 'a ref state must be signed by at least one key');
  return signEnvelope(REFSTATE_PAYLOAD_TYPE, encodeRefState(state), signers);
}

/** What a client remembers about a remote's ref state. */
export interface SeenRecord {
  version: number;
  /** SHA-256 of the snapshot's payload bytes. */
  digest: string;
}

export interface VerifyRefStateInput {
  envelope: Uint8Array | Envelope;
  trustList: TrustList;
  now: Date;
  /** Distinct trusted keys required (default 1). */
  threshold?: number;
  /** Highest snapshot already seen from this remote. */
  seen?: SeenRecord;
}

export interface VerifiedRefState {
  state: RefState;
  digest: string;
  signers: string[];
}

/** Pure: verifies signature, trust, rollback and expiry of a fetched snapshot, or throws. */
export function verifyRefState(input: VerifyRefStateInput): VerifiedRefState {
  const env = input.envelope instanceof Uint8Array ? parseEnvelope(input.envelope, 'ref state envelope') : input.envelope;
  if (env.payloadType !== REFSTATE_PAYLOAD_TYPE) {
    throw new MlstoreError('BAD_SIGNATURE', `ref state envelope has payload type ${JSON.stringify(env.payloadType)}, expected ${JSON.stringify(REFSTATE_PAYLOAD_TYPE)}`);
  }
  const payload = fromBase64(env.payload, 'ref state payload');
  let state: RefState;
  try {
    state = decodeRefState(payload);
  } catch (e) {
    throw new MlstoreError('BAD_SIGNATURE', `ref state payload is malformed: ${(e as Error).message}`, { cause: e });
  }
  const signers = countSigners(env, payload, state, input.trustList, input.now);
  const threshold = input.threshold ?? 1;
  if (signers.size < threshold) {
    throw new MlstoreError('UNTRUSTED_SIGNER', `ref state version ${state.version} is signed by ${signers.size} trusted key(s), ${threshold} required`, {
      details: { version: state.version },
      hint: 'The remote may have been written by someone outside the trust list; check mlstore-trust.json.',
    });
  }
  const digest = sha256Hex(payload);
  const seen = input.seen;
  if (seen && state.version < seen.version) {
    throw new MlstoreError('ROLLBACK', `the remote serves ref state version ${state.version}, older than version ${seen.version} already seen`, {
      details: { version: state.version, seenVersion: seen.version },
      hint: 'The remote was rolled back or is replaying old data; do not use it until the publisher re-signs a newer state.',
    });
  }
  if (seen && state.version === seen.version && digest !== seen.digest) {
    throw new MlstoreError('ROLLBACK', `the remote serves a different ref state under the same version ${state.version}`, {
      details: { version: state.version, digest, seenDigest: seen.digest },
      hint: 'History was forked or replaced; ask the publisher which state is genuine.',
    });
  }
  if (input.now.getTime() >= Date.parse(state.expires)) {
    throw new MlstoreError('EXPIRED', `ref state version ${state.version} expired at ${state.expires}`, {
      details: { version: state.version, expires: state.expires },
      hint: 'The remote has not been re-signed in time (or is frozen); a publisher must push or run `mlstore refs sign`.',
    });
  }
  return { state, digest, signers: [...signers].sort() };
}

function countSigners(env: Envelope, payload: Uint8Array, state: RefState, trust: TrustList, now: Date): Set<string> {
  const out = new Set<string>();
  const refNames = Object.keys(state.refs);
  for (const s of env.signatures) {
    const key = trust.keys.find((k) => k.id === s.keyid);
    if (!key || keyIdOf(key.publicKey) !== key.id) continue;
    if (!verifySignature(publicKeyFromPem(key.publicKey), env.payloadType, payload, fromBase64(s.sig, 'sig'))) {
      throw new MlstoreError('BAD_SIGNATURE', `ref state signature by ${key.name} does not verify (tampered)`, { details: { keyId: key.id } });
    }
    if (isExpired(key, now)) continue;
    if (!refNames.every((r) => scopeAllows(key.scope, r))) continue;
    out.add(key.id);
  }
  return out;
}

/** A ref whose file disagrees with the signed snapshot. */
export interface RefMismatch {
  ref: string;
  snapshot: string | null;
  actual: string | null;
}

export function refMismatches(state: RefState, actual: Readonly<Record<string, string>>): RefMismatch[] {
  const names = [...new Set([...Object.keys(state.refs), ...Object.keys(actual)])].sort();
  return names
    .map((ref) => ({ ref, snapshot: state.refs[ref] ?? null, actual: actual[ref] ?? null }))
    .filter((m) => m.snapshot !== m.actual);
}

/** TAMPERED when the individual ref files are not exactly the refs of the signed snapshot. */
export function assertRefsConsistent(state: RefState, actual: Readonly<Record<string, string>>): void {
  const bad = refMismatches(state, actual);
  if (bad.length === 0) return;
  throw new MlstoreError('TAMPERED', `${bad.length} ref(s) disagree with signed ref state version ${state.version}: ${bad.map((m) => m.ref).join(', ')}`, {
    details: { mismatches: bad, version: state.version },
    hint: 'The remote mixes refs from different states; trust only the refs of the signed snapshot.',
  });
}

export interface RefUpdate {
  refName: string;
  /** Current commit (undefined: the ref is being created). */
  oldId: string | undefined;
  newId: string;
  force?: boolean;
  /** True when `ancestor` is reachable from `descendant` through parents. */
  isAncestor(ancestor: string, descendant: string): Promise<boolean>;
}

/** Refuses moving a tag, or a branch update that drops commits, unless forced (NOT_FAST_FORWARD). */
export async function checkRefUpdate(u: RefUpdate): Promise<'create' | 'unchanged' | 'fast-forward' | 'forced'> {
  if (u.oldId === undefined) return 'create';
  if (u.oldId === u.newId) return 'unchanged';
  if (u.refName.startsWith('refs/tags/')) {
    if (u.force) return 'forced';
    throw new MlstoreError('NOT_FAST_FORWARD', `tag ${u.refName} already points at ${u.oldId}; tags do not move`, {
      details: { ref: u.refName, old: u.oldId, new: u.newId },
      hint: 'Use a new tag name, or --force to move it (the ref state is re-signed).',
    });
  }
  if (await u.isAncestor(u.oldId, u.newId)) return 'fast-forward';
  if (u.force) return 'forced';
  throw new MlstoreError('NOT_FAST_FORWARD', `${u.refName} at ${u.oldId} is not an ancestor of ${u.newId}; the update would drop commits`, {
    details: { ref: u.refName, old: u.oldId, new: u.newId },
    hint: 'Pull and merge first, or pass --force to overwrite (the ref state is re-signed).',
  });
}

// ---- store: the snapshot on a backend, and the client's memory of what it has seen ----

export interface StoredRefState {
  envelope: Envelope;
  bytes: Uint8Array;
  /** Backend version token for compare-and-swap. */
  version: string;
}

export async function readRefStateEnvelope(backend: Backend, signal?: AbortSignal): Promise<StoredRefState | undefined> {
  const doc = await backend.getVersioned(REFSTATE_KEY, { maxBytes: 64 * 1024 * 1024, ...(signal ? { signal } : {}) });
  if (!doc) return undefined;
  return { envelope: parseEnvelope(doc.bytes, `${backend.location}/${REFSTATE_KEY}`), bytes: doc.bytes, version: doc.version };
}

/** Writes the envelope if the stored one is still `expected` (null: none); REF_CONFLICT otherwise. */
export async function writeRefStateEnvelope(backend: Backend, env: Envelope, expected: string | null, signal?: AbortSignal): Promise<void> {
  const ok = await backend.putIfVersion(REFSTATE_KEY, encodeEnvelope(env), expected, signal ? { signal } : {});
  if (!ok) {
    throw new MlstoreError('REF_CONFLICT', `${REFSTATE_KEY} in ${backend.location} was changed by someone else`, {
      details: { key: REFSTATE_KEY, location: backend.location },
      hint: 'Fetch, re-check the refs and publish again.',
    });
  }
}

export interface PublishOptions extends NextRefStateOptions {
  refs: Readonly<Record<string, string>>;
  signers: readonly Signer[];
  signal?: AbortSignal;
}

/**
 * Publishes the next snapshot for `refs`: reads the current one (only its version is used; a
 * hostile remote can at worst make us skip numbers), signs, compare-and-swaps.
 */
export async function publishRefState(backend: Backend, options: PublishOptions): Promise<{ state: RefState; envelope: Envelope; digest: string }> {
  const current = await readRefStateEnvelope(backend, options.signal);
  let currentState: RefState | undefined;
  if (current) {
    try {
      currentState = decodeRefState(fromBase64(current.envelope.payload, 'ref state payload'));
    } catch {
      currentState = undefined; // unreadable: start above minVersion instead
    }
  }
  const state = nextRefState(currentState, options.refs, options);
  const envelope = signRefState(state, options.signers);
  await writeRefStateEnvelope(backend, envelope, current?.version ?? null, options.signal);
  return { state, envelope, digest: sha256Hex(encodeRefState(state)) };
}

/** The highest snapshot seen per remote location, in a small JSON file (e.g. .mlstore/refstate-seen.json). */
export async function readSeen(path: string, location: string): Promise<SeenRecord | undefined> {
  return (await readSeenFile(path))[location];
}

/** Remembers `record` for `location` unless a higher version is already recorded. */
export async function recordSeen(path: string, location: string, record: SeenRecord): Promise<void> {
  const all = await readSeenFile(path);
  const prev = all[location];
  if (prev && prev.version >= record.version) return;
  all[location] = { version: record.version, digest: record.digest };
  const sorted = Object.fromEntries(Object.entries(all).sort(([a], [b]) => (a < b ? -1 : 1)));
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(tmp, JSON.stringify(sorted, null, 2) + '\n');
    await rename(tmp, path);
  } catch (e) {
    throw fromFsError(e, path, 'write');
  }
}

async function readSeenFile(path: string): Promise<Record<string, SeenRecord>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw fromFsError(e, path, 'read');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new MlstoreError('BAD_CONFIG', `${path} is not valid JSON`, { cause: e, hint: 'It only holds versions seen; fix it by hand rather than deleting it (deleting forgets rollback protection).' });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new MlstoreError('BAD_CONFIG', `${path} is not a JSON object`);
  const out: Record<string, SeenRecord> = {};
  for (const [loc, v] of Object.entries(raw as Record<string, unknown>)) {
    const r = v as Partial<SeenRecord> | null;
    if (!r || typeof r.version !== 'number' || typeof r.digest !== 'string') throw new MlstoreError('BAD_CONFIG', `${path}: entry ${JSON.stringify(loc)} is malformed`);
    out[loc] = { version: r.version, digest: r.digest };
  }
  return out;
}

export interface FetchRefStateOptions {
  trustList: TrustList;
  now: Date;
  /** The seen-versions file; the backend's location is the key. */
  seenPath: string;
  threshold?: number;
  /** The individual ref files read from the same remote, checked against the snapshot. */
  refs?: Readonly<Record<string, string>>;
  signal?: AbortSignal;
}

/**
 * Reads, verifies and remembers a remote's snapshot. Throws MISSING_OBJECT when the remote has
 * none, and the verification codes above; the seen version is recorded only after every check passed.
 */
export async function fetchRefState(backend: Backend, options: FetchRefStateOptions): Promise<VerifiedRefState> {
  const stored = await readRefStateEnvelope(backend, options.signal);
  if (!stored) {
    throw new MlstoreError('MISSING_OBJECT', `${backend.location} has no signed ref state (${REFSTATE_KEY})`, {
      details: { key: REFSTATE_KEY, location: backend.location },
      hint: 'A publisher must push with a signing key so the refs are published as a signed snapshot.',
    });
  }
  const seen = await readSeen(options.seenPath, backend.location);
  const verified = verifyRefState({
    envelope: stored.envelope, trustList: options.trustList, now: options.now,
    ...(options.threshold === undefined ? {} : { threshold: options.threshold }),
    ...(seen ? { seen } : {}),
  });
  if (options.refs) assertRefsConsistent(verified.state, options.refs);
  await recordSeen(options.seenPath, backend.location, { version: verified.state.version, digest: verified.digest });
  return verified;
}
