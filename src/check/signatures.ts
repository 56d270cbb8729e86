/**
 * Signature and trust checks of reachable commits, through the pure verifier of src/trust.
 *  - A signature that is malformed, fails to verify or signs another commit is BAD_SIGNATURE,
 *    an error wherever the commit is: it proves something was altered.
 *  - At a ref tip (what users check out), an unsigned commit, one no trusted key signed, or one
 *    that breaks the policy is reported with the configured severity (default: error when a trust
 *    file exists, warning when none does).
 *  - Deeper in history the same findings are information, grouped into one problem per code:
 *    a signed tip covers its ancestors through the parent ids in its signed bytes.
 */
import { isMlstoreError } from '../errors.js';
import type { Backend } from '../storage/backend.js';
import { signatureKey } from '../repository/layout.js';
import { parseFullRef } from '../model/ref-name.js';
import { failureReason, verifyCommit, type Decision, type Policy, type TrustList } from '../trust/index.js';
import type { Findings } from './findings.js';
import type { ProblemCode, Severity } from './problem.js';

export interface SignatureContext {
  backend: Backend;
  findings: Findings;
  /** commit id → key ids of its stored signature files. */
  signatures: ReadonlyMap<string, readonly string[]>;
  trustList: TrustList;
  policy: Policy;
  now: Date;
  /** Severity of unsigned/untrusted/policy findings at ref tips; 'off' skips them, in history too (BAD_SIGNATURE still counts). */
  tipSeverity: Severity | 'off';
  signal?: AbortSignal;
}

const ENVELOPE_MAX_BYTES = 1024 * 1024;

/** Checks one commit's signatures; `tips` are the roots naming it directly (refs, HEAD, lock file). */
export async function checkCommitSignatures(ctx: SignatureContext, id: string, bytes: Uint8Array, tips: readonly string[]): Promise<void> {
  const envelopes: Uint8Array[] = [];
  for (const keyId of ctx.signatures.get(id) ?? []) {
    const key = signatureKey(id, keyId);
    try {
      envelopes.push(await ctx.backend.get(key, { maxBytes: ENVELOPE_MAX_BYTES, ...(ctx.signal ? { signal: ctx.signal } : {}) }));
    } catch (e) {
      if (isMlstoreError(e, 'INTERRUPTED')) throw e;
      const code = isMlstoreError(e, 'LIMIT_EXCEEDED') ? 'BAD_SIGNATURE' : 'UNREADABLE_OBJECT';
      ctx.findings.add({ code, id, kind: 'signature', key, detail: `signature ${key} could not be read: ${(e as Error).message}` });
    }
  }
  // Policy conditions on inputs need a whole-graph verdict that `mlstore verify` computes; fsck
  // checks signatures, trust, threshold, clean code and environment.
  const policy: Policy = { ...ctx.policy, requireSignedInputs: false };
  const refTips = tips.filter((t) => parseFullRef(t) !== undefined);
  const runs: (string | undefined)[] = refTips.length > 0 ? refTips : [undefined];
  for (const refName of runs) {
    const decision = verifyCommit({ commitId: id, commitBytes: bytes, envelopes, trustList: ctx.trustList, policy, now: ctx.now, ...(refName ? { refName } : {}) });
    record(ctx, id, decision, envelopes.length, tips.length > 0, refName, tips);
  }
}

function record(ctx: SignatureContext, id: string, d: Decision, envelopes: number, isTip: boolean, refName: string | undefined, tips: readonly string[]): void {
  if (d.ok) return;
  const failing = d.checks.filter((c) => c.enforced && !c.ok);
  let code: ProblemCode;
  if (failing.some((c) => c.code === 'BAD_SIGNATURE')) code = 'BAD_SIGNATURE';
  else if (failing.some((c) => c.code === 'CORRUPT_OBJECT')) return; // the walk reported the commit itself
  else if (envelopes === 0) code = 'UNSIGNED_COMMIT';
  else if (failing.some((c) => c.check === 'threshold')) code = 'UNTRUSTED_COMMIT';
  else code = 'POLICY_VIOLATION';
  const reason = failureReason(d) ?? 'failed';
  const facts = {
    failedChecks: failing.map((c) => ({ check: c.check, reason: c.reason, ...(c.keyId ? { keyId: c.keyId } : {}) })),
    signers: d.signers.map((s) => ({ keyId: s.keyId, counted: s.counted, reason: s.reason })),
    ...(refName ? { ref: refName } : {}),
  };
  if (code === 'BAD_SIGNATURE') {
    const pid = ctx.findings.add({ code, id, kind: 'commit', detail: `commit ${id} carries a bad signature: ${reason}`, facts });
    ctx.findings.affectCommit(pid, id);
    return;
  }
  if (ctx.tipSeverity === 'off') return;
  if (isTip) {
    const what = code === 'UNSIGNED_COMMIT' ? 'is not signed' : code === 'UNTRUSTED_COMMIT' ? 'is not signed by enough trusted keys' : 'breaks the policy';
    const at = tips.join(', ');
    const pid = ctx.findings.add(
      { code, id, kind: 'commit', detail: `commit ${id} at ${refName ?? at} ${what}: ${reason}`, facts, severity: ctx.tipSeverity, ownRefsOnly: true },
      `tip:${code}:${id}:${refName ?? ''}`,
    );
    ctx.findings.affectCommit(pid, id);
    // the ref checked, and HEAD / mlstore.lock when they name the same commit
    for (const t of tips) if (t === refName || parseFullRef(t) === undefined) ctx.findings.affectRef(pid, t);
    return;
  }
  const pid = ctx.findings.add(
    { code, id: null, kind: 'commit', detail: `commits in history that ${code === 'UNSIGNED_COMMIT' ? 'are not signed' : code === 'UNTRUSTED_COMMIT' ? 'are not signed by enough trusted keys' : 'break the policy'} (covered by a signed descendant only if one exists)`, severity: 'info' },
    `history:${code}`,
  );
  ctx.findings.affectCommit(pid, id);
}
