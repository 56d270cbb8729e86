/**
 * Pure commit verification: given the commit's bytes, its detached DSSE envelopes, a trust list,
 * a policy and a clock, return a decision document. No I/O, no hidden state, so the same inputs
 * always give the same decision and an auditor can replay it.
 *
 * The decision lists every check with its result and reason. Checks marked `enforced` decide
 * `ok`; the others (`trusted`, `expiry`, `scope` of one signature) only decide whether that
 * signature counts towards the threshold: a co-signature from a key this trust list does not know,
 * or from a key that expired after rotation, is reported but does not poison a commit that enough
 * trusted keys signed. Anything that proves tampering (malformed envelope, wrong payload type,
 * payload of another commit, a signature that fails for the key it names) is enforced.
 */
import { bytesEqual, sha256Hex } from '../core/digest.js';
import type { ErrorCode } from '../errors.js';
import { MlstoreError } from '../errors.js';
import { decodeCommit, type Commit } from '../model/commit.js';
import { COMMIT_PAYLOAD_TYPE, fromBase64, parseEnvelope, validateEnvelope, verifySignature, type Envelope } from './dsse.js';
import { keyIdOf, publicKeyFromPem } from './keys.js';
import { parseRequirement, type Policy } from './policy.js';
import { isExpired, scopeAllows, type TrustedKey, type TrustList } from './trust-list.js';

export type CheckName =
  | 'commit-id'
  | 'commit-format'
  | 'envelope'
  | 'payload-type'
  | 'payload-digest'
  | 'key-id'
  | 'signature'
  | 'trusted'
  | 'expiry'
  | 'scope'
  | 'threshold'
  | 'clean-code'
  | 'environment'
  | 'signed-inputs';

export interface Check {
  check: CheckName;
  ok: boolean;
  /** Whether a failure of this check makes the whole decision fail. */
  enforced: boolean;
  reason: string;
  /** Error code a failure maps to (BAD_SIGNATURE, UNTRUSTED_SIGNER, EXPIRED, POLICY_VIOLATION …). */
  code?: ErrorCode;
  keyId?: string;
  /** Index of the envelope the check is about. */
  envelope?: number;
  /** Input commit the check is about. */
  input?: string;
}

export interface SignerResult {
  keyId: string;
  name?: string;
  envelope: number;
  /** Counted towards the threshold: valid, trusted, unexpired, in scope. */
  counted: boolean;
  reason: string;
}

export interface Decision {
  ok: boolean;
  commit: string;
  refName: string | null;
  /** The clock reading the decision was made at (ISO). */
  time: string;
  policy: Policy;
  checks: Check[];
  signers: SignerResult[];
  /** Distinct trusted key ids that counted. */
  trustedSigners: string[];
  /** Code of the first failing enforced check; absent when ok. */
  code?: ErrorCode;
}

/** What the caller knows about an input commit: a full decision or a short verdict. */
export type InputVerdict = Pick<Decision, 'ok'> & { reason?: string; code?: ErrorCode };

export interface VerifyCommitInput {
  commitId: string;
  commitBytes: Uint8Array;
  /** Raw envelope bytes (as stored) or parsed envelopes. */
  envelopes: readonly (Uint8Array | Envelope)[];
  trustList: TrustList;
  policy: Policy;
  now: Date;
  /** The ref the commit was reached through; enables key scope checks. */
  refName?: string;
  /** Verdicts for input commits (see verifyCommitTree), needed when policy.requireSignedInputs. */
  inputsDecisions?: Readonly<Record<string, InputVerdict>>;
}

export function verifyCommit(input: VerifyCommitInput): Decision {
  const checks: Check[] = [];
  const signers: SignerResult[] = [];
  const counted = new Set<string>();
  const add = (c: Check): void => void checks.push(c);

  const actualId = sha256Hex(input.commitBytes);
  add(
    actualId === input.commitId
      ? { check: 'commit-id', ok: true, enforced: true, reason: 'commit bytes hash to the commit id' }
      : { check: 'commit-id', ok: false, enforced: true, code: 'CORRUPT_OBJECT', reason: `commit bytes hash to ${actualId}, not ${input.commitId}` },
  );
  let commit: Commit | undefined;
  try {
    commit = decodeCommit(input.commitBytes);
    add({ check: 'commit-format', ok: true, enforced: true, reason: 'commit is a valid canonical commit object' });
  } catch (e) {
    add({ check: 'commit-format', ok: false, enforced: true, code: 'CORRUPT_OBJECT', reason: (e as Error).message });
  }

  input.envelopes.forEach((raw, index) => {
    checkEnvelope(input, raw, index, add, signers, counted);
  });

  addThreshold(input, signers, counted, add);
  if (commit) addPolicyChecks(input, commit, add);

  const firstFailure = checks.find((c) => c.enforced && !c.ok);
  const decision: Decision = {
    ok: firstFailure === undefined,
    commit: input.commitId,
    refName: input.refName ?? null,
    time: input.now.toISOString(),
    policy: input.policy,
    checks,
    signers,
    trustedSigners: [...counted].sort(),
  };
  if (firstFailure?.code) decision.code = firstFailure.code;
  return decision;
}

function checkEnvelope(
  input: VerifyCommitInput,
  raw: Uint8Array | Envelope,
  index: number,
  add: (c: Check) => void,
  signers: SignerResult[],
  counted: Set<string>,
): void {
  let env: Envelope;
  let payload: Uint8Array;
  try {
    env = raw instanceof Uint8Array ? parseEnvelope(raw) : validateEnvelope(raw);
    payload = fromBase64(env.payload, 'payload');
  } catch (e) {
    add({ check: 'envelope', ok: false, enforced: true, code: 'BAD_SIGNATURE', envelope: index, reason: (e as Error).message });
    return;
  }
  add({ check: 'envelope', ok: true, enforced: true, envelope: index, reason: `well-formed DSSE envelope with ${env.signatures.length} signature(s)` });
  if (env.payloadType !== COMMIT_PAYLOAD_TYPE) {
    add({ check: 'payload-type', ok: false, enforced: true, code: 'BAD_SIGNATURE', envelope: index, reason: `payload type is ${JSON.stringify(env.payloadType)}, expected ${JSON.stringify(COMMIT_PAYLOAD_TYPE)}` });
    return;
  }
  add({ check: 'payload-type', ok: true, enforced: true, envelope: index, reason: 'payload type is the mlstore commit type' });
  const payloadId = sha256Hex(payload);
  if (payloadId !== input.commitId || !bytesEqual(payload, input.commitBytes)) {
    add({ check: 'payload-digest', ok: false, enforced: true, code: 'BAD_SIGNATURE', envelope: index, reason: `envelope signs commit ${payloadId}, not ${input.commitId} (copied from another commit or tampered)` });
    return;
  }
  add({ check: 'payload-digest', ok: true, enforced: true, envelope: index, reason: 'payload is exactly the commit bytes' });

  for (const s of env.signatures) {
    const result = checkOneSignature(input, env, payload, s.keyid, s.sig, index, add);
    signers.push(result);
    if (result.counted) counted.add(result.keyId);
  }
}

function checkOneSignature(
  input: VerifyCommitInput,
  env: Envelope,
  payload: Uint8Array,
  keyid: string,
  sigB64: string,
  index: number,
  add: (c: Check) => void,
): SignerResult {
  const sig = fromBase64(sigB64, 'sig');
  let key: TrustedKey | undefined;
  if (keyid === '') {
    // Envelopes from other tools may omit keyid: try every trusted key.
    key = input.trustList.keys.find((k) => verifySignature(publicKeyFromPem(k.publicKey), env.payloadType, payload, sig));
    if (!key) {
      add({ check: 'trusted', ok: false, enforced: false, code: 'UNTRUSTED_SIGNER', envelope: index, reason: 'signature has no keyid and no trusted key verifies it' });
      return { keyId: '', envelope: index, counted: false, reason: 'no keyid; no trusted key verifies it' };
    }
    keyid = key.id;
  } else {
    key = input.trustList.keys.find((k) => k.id === keyid);
    if (!key) {
      add({ check: 'trusted', ok: false, enforced: false, code: 'UNTRUSTED_SIGNER', keyId: keyid, envelope: index, reason: `key ${keyid} is not in the trust list` });
      return { keyId: keyid, envelope: index, counted: false, reason: 'key is not in the trust list' };
    }
  }
  const base = { keyId: keyid, name: key.name, envelope: index };
  let derived: string;
  try {
    derived = keyIdOf(key.publicKey);
  } catch {
    derived = '';
  }
  if (derived !== keyid) {
    add({ check: 'key-id', ok: false, enforced: true, code: 'BAD_SIGNATURE', keyId: keyid, envelope: index, reason: `trust list entry ${keyid} holds a key whose id is ${derived || 'unreadable'}` });
    return { ...base, counted: false, reason: 'key id does not match the key' };
  }
  add({ check: 'key-id', ok: true, enforced: true, keyId: keyid, envelope: index, reason: 'key id is the SHA-256 of the key' });
  if (!verifySignature(publicKeyFromPem(key.publicKey), env.payloadType, payload, sig)) {
    add({ check: 'signature', ok: false, enforced: true, code: 'BAD_SIGNATURE', keyId: keyid, envelope: index, reason: `signature by ${key.name} does not verify over the DSSE PAE (tampered payload or signature)` });
    return { ...base, counted: false, reason: 'signature does not verify' };
  }
  add({ check: 'signature', ok: true, enforced: true, keyId: keyid, envelope: index, reason: `valid Ed25519 signature by ${key.name}` });
  add({ check: 'trusted', ok: true, enforced: false, keyId: keyid, envelope: index, reason: `key ${key.name} is in the trust list` });
  if (isExpired(key, input.now)) {
    add({ check: 'expiry', ok: false, enforced: false, code: 'EXPIRED', keyId: keyid, envelope: index, reason: `key ${key.name} expired at ${key.expires}` });
    return { ...base, counted: false, reason: `key expired at ${key.expires}` };
  }
  add({ check: 'expiry', ok: true, enforced: false, keyId: keyid, envelope: index, reason: key.expires ? `key valid until ${key.expires}` : 'key has no expiry' });
  if (key.scope !== undefined) {
    if (input.refName === undefined) {
      add({ check: 'scope', ok: true, enforced: false, keyId: keyid, envelope: index, reason: `key is scoped to ${key.scope.join(', ')}; no ref given, scope not applicable` });
    } else if (!scopeAllows(key.scope, input.refName)) {
      add({ check: 'scope', ok: false, enforced: false, code: 'UNTRUSTED_SIGNER', keyId: keyid, envelope: index, reason: `key ${key.name} may sign ${key.scope.join(', ')}, not ${input.refName}` });
      return { ...base, counted: false, reason: `out of scope for ${input.refName}` };
    } else {
      add({ check: 'scope', ok: true, enforced: false, keyId: keyid, envelope: index, reason: `${input.refName} is within the key's scope` });
    }
  }
  return { ...base, counted: true, reason: 'valid, trusted, unexpired, in scope' };
}

function addThreshold(input: VerifyCommitInput, signers: SignerResult[], counted: Set<string>, add: (c: Check) => void): void {
  const need = input.policy.threshold;
  if (counted.size >= need) {
    add({ check: 'threshold', ok: true, enforced: true, reason: `${counted.size} distinct trusted signer(s), ${need} required` });
    return;
  }
  const onlyExpired = signers.length > 0 && signers.every((s) => s.reason.startsWith('key expired'));
  add({
    check: 'threshold',
    ok: false,
    enforced: true,
    code: onlyExpired ? 'EXPIRED' : 'UNTRUSTED_SIGNER',
    reason: `${counted.size} distinct trusted signer(s), ${need} required` + (signers.length > counted.size ? ` (${signers.length} signature(s) seen; a key counts once)` : ''),
  });
}

function addPolicyChecks(input: VerifyCommitInput, commit: Commit, add: (c: Check) => void): void {
  const { policy } = input;
  if (policy.requireCleanCode) {
    if (commit.code.commit === null) {
      add({ check: 'clean-code', ok: false, enforced: true, code: 'POLICY_VIOLATION', reason: 'policy requires clean code but the commit records no Git commit' });
    } else if (commit.code.dirty) {
      add({ check: 'clean-code', ok: false, enforced: true, code: 'POLICY_VIOLATION', reason: `policy requires clean code but ${commit.code.commit} had uncommitted changes (diff ${commit.code.diff})` });
    } else {
      add({ check: 'clean-code', ok: true, enforced: true, reason: `code is Git commit ${commit.code.commit} with no uncommitted changes` });
    }
  }
  for (const req of policy.requiredEnvironment) {
    const { name, value } = parseRequirement(req);
    const have = commit.environment.components[name];
    if (have === undefined) {
      add({ check: 'environment', ok: false, enforced: true, code: 'POLICY_VIOLATION', reason: `environment component ${JSON.stringify(name)} is required but not recorded` });
    } else if (value !== undefined && have !== value) {
      add({ check: 'environment', ok: false, enforced: true, code: 'POLICY_VIOLATION', reason: `environment component ${JSON.stringify(name)} is ${JSON.stringify(have)}, policy requires ${JSON.stringify(value)}` });
    } else {
      add({ check: 'environment', ok: true, enforced: true, reason: `environment component ${JSON.stringify(name)} is ${JSON.stringify(have)}` });
    }
  }
  if (policy.requireSignedInputs) {
    if (commit.inputs.length === 0) add({ check: 'signed-inputs', ok: true, enforced: true, reason: 'commit has no inputs' });
    for (const inp of commit.inputs) {
      const verdict = input.inputsDecisions?.[inp.commit];
      if (verdict === undefined) {
        add({ check: 'signed-inputs', ok: false, enforced: true, code: 'POLICY_VIOLATION', input: inp.commit, reason: `input ${inp.commit} was not verified` });
      } else if (!verdict.ok) {
        add({ check: 'signed-inputs', ok: false, enforced: true, code: 'POLICY_VIOLATION', input: inp.commit, reason: `input ${inp.commit} fails verification: ${verdict.reason ?? verdict.code ?? 'not trusted'}` });
      } else {
        add({ check: 'signed-inputs', ok: true, enforced: true, input: inp.commit, reason: `input ${inp.commit} is signed and trusted (transitively)` });
      }
    }
  }
}

/** The first failing enforced check's reason, for messages and input verdicts. */
export function failureReason(d: Decision): string | undefined {
  return d.checks.find((c) => c.enforced && !c.ok)?.reason;
}

/** Throws the decision's error code (details carry the whole decision) unless it is ok. */
export function assertVerified(d: Decision): void {
  if (d.ok) return;
  throw new MlstoreError(d.code ?? 'POLICY_VIOLATION', `commit ${d.commit} failed verification: ${failureReason(d) ?? 'unknown reason'}`, {
    details: { decision: d },
    hint: 'Run `mlstore verify --json` for every check and its reason.',
  });
}

export interface VerifyTreeOptions extends Omit<VerifyCommitInput, 'commitBytes' | 'envelopes' | 'inputsDecisions'> {
  loadCommit(id: string): Promise<Uint8Array>;
  /** The stored envelopes of a commit; [] when it has none. */
  loadEnvelopes(id: string): Promise<readonly (Uint8Array | Envelope)[]>;
  /** Policy applied to inputs; default: same threshold, signed inputs required, nothing else. */
  inputPolicy?: Policy;
  /** Most commits verified in one walk (default 10 000); more is a LIMIT_EXCEEDED failure. */
  maxCommits?: number;
  /** Deepest input chain (default 256). */
  maxDepth?: number;
  signal?: AbortSignal;
}

/**
 * Verifies a commit and, when the policy requires signed inputs, every input transitively
 * (memoized, depth- and size-bounded). A commit that cannot be loaded fails with its reason.
 */
export async function verifyCommitTree(options: VerifyTreeOptions): Promise<Decision & { inputs: Record<string, InputVerdict> }> {
  const maxCommits = options.maxCommits ?? 10_000;
  const maxDepth = options.maxDepth ?? 256;
  const inputPolicy: Policy = options.inputPolicy ?? { threshold: options.policy.threshold, requireCleanCode: false, requiredEnvironment: [], requireSignedInputs: true };
  const memo = new Map<string, InputVerdict>();
  const onPath = new Set<string>();

  const verdictOf = async (id: string, depth: number): Promise<InputVerdict> => {
    const known = memo.get(id);
    if (known) return known;
    if (onPath.has(id)) return { ok: false, code: 'CORRUPT_OBJECT', reason: `input cycle through ${id}` };
    if (depth > maxDepth) return { ok: false, code: 'LIMIT_EXCEEDED', reason: `inputs nested deeper than ${maxDepth}` };
    if (memo.size >= maxCommits) return { ok: false, code: 'LIMIT_EXCEEDED', reason: `more than ${maxCommits} input commits` };
    onPath.add(id);
    try {
      const d = await verifyOne(id, inputPolicy, undefined, depth);
      const v: InputVerdict = d.ok ? { ok: true } : { ok: false, reason: failureReason(d) ?? 'failed', ...(d.code ? { code: d.code } : {}) };
      memo.set(id, v);
      return v;
    } finally {
      onPath.delete(id);
    }
  };

  const verifyOne = async (id: string, policy: Policy, refName: string | undefined, depth: number): Promise<Decision> => {
    if (options.signal?.aborted) throw new MlstoreError('INTERRUPTED', 'Interrupted', { cause: options.signal.reason });
    let bytes: Uint8Array;
    let envelopes: readonly (Uint8Array | Envelope)[];
    try {
      bytes = await options.loadCommit(id);
      envelopes = await options.loadEnvelopes(id);
    } catch (e) {
      const code: ErrorCode = e instanceof MlstoreError ? e.code : 'IO_ERROR';
      return {
        ok: false, commit: id, refName: refName ?? null, time: options.now.toISOString(), policy, signers: [], trustedSigners: [], code,
        checks: [{ check: 'commit-id', ok: false, enforced: true, code, reason: `could not load commit ${id}: ${(e as Error).message}` }],
      };
    }
    const inputsDecisions: Record<string, InputVerdict> = {};
    if (policy.requireSignedInputs) {
      let inputs: readonly { commit: string }[] = [];
      try {
        inputs = decodeCommit(bytes).inputs;
      } catch {
        // verifyCommit reports the format problem
      }
      for (const inp of inputs) inputsDecisions[inp.commit] = await verdictOf(inp.commit, depth + 1);
    }
    return verifyCommit({
      commitId: id, commitBytes: bytes, envelopes, trustList: options.trustList, policy, now: options.now, inputsDecisions,
      ...(refName === undefined ? {} : { refName }),
    });
  };

  const top = await verifyOne(options.commitId, options.policy, options.refName, 0);
  return { ...top, inputs: Object.fromEntries([...memo].sort(([a], [b]) => (a < b ? -1 : 1))) };
}
