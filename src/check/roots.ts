/**
 * The roots fsck walks from: every ref, HEAD (local repository), `mlstore.lock` (local
 * repository) and every ref of the signed ref state (when the store has one). Roots are read
 * *before* the objects are listed: a writer stores objects before it moves a ref, so every
 * object a root we read points at was already there when we listed, and a concurrent push never
 * shows up as a missing object.
 */
import { isDigest } from '../core/digest.js';
import { isMlstoreError, MlstoreError, throwIfAborted } from '../errors.js';
import { decodeRefState, type RefState } from '../model/ref-state.js';
import { parseFullRef } from '../model/ref-name.js';
import type { Head } from '../repository/head.js';
import type { Backend } from '../storage/backend.js';
import { payloadBytes, readRefStateEnvelope, refMismatches, REFSTATE_KEY, verifyRefState, type SeenRecord, type TrustList } from '../trust/index.js';
import type { Findings } from './findings.js';
import type { Severity } from './problem.js';

export interface Root {
  /** refs/heads/main, HEAD, mlstore.lock, refstate:refs/tags/v1 … */
  name: string;
  id: string;
}

export interface RootSources {
  backend: Backend;
  findings: Findings;
  /** HEAD of the local repository (absent for remotes). */
  head?: () => Promise<Head>;
  /** The commit mlstore.lock names, for the local repository. */
  lockFile?: () => Promise<{ commit: string } | undefined>;
  trustList: TrustList;
  now: Date;
  /** Highest ref state this repository has seen from the store (rollback check). */
  seen?: SeenRecord;
  /** Severity of an untrusted ref state (the same as unsigned tips). */
  untrustedSeverity: Severity | 'off';
  signal?: AbortSignal;
}

export interface RootsResult {
  roots: Root[];
  refs: number;
  refState?: { version: number; expires: string; trusted: boolean };
}

export async function collectRoots(s: RootSources): Promise<RootsResult> {
  const roots: Root[] = [];
  const refs: Record<string, string> = {};
  for await (const info of s.backend.list('refs/', s.signal ? { signal: s.signal } : {})) {
    throwIfAborted(s.signal);
    if (!parseFullRef(info.key)) {
      s.findings.add({ code: 'BAD_REF', id: null, kind: 'ref', key: info.key, detail: `${info.key} is not a valid ref name (refs/heads/<branch> or refs/tags/<tag>)` });
      continue;
    }
    let text: string;
    try {
      const doc = await s.backend.getVersioned(info.key, { maxBytes: 1024, ...(s.signal ? { signal: s.signal } : {}) });
      if (!doc) continue; // deleted since the listing
      text = new TextDecoder().decode(doc.bytes).trim();
    } catch (e) {
      if (isMlstoreError(e, 'INTERRUPTED')) throw e;
      s.findings.add({ code: isMlstoreError(e, 'LIMIT_EXCEEDED') ? 'BAD_REF' : 'UNREADABLE_OBJECT', id: null, kind: 'ref', key: info.key, detail: `${info.key} could not be read: ${(e as Error).message}` });
      continue;
    }
    if (!isDigest(text)) {
      s.findings.add({ code: 'BAD_REF', id: null, kind: 'ref', key: info.key, detail: `${info.key} does not hold a commit id (${JSON.stringify(text.slice(0, 80))})` });
      continue;
    }
    refs[info.key] = text;
    roots.push({ name: info.key, id: text });
  }
  const refCount = roots.length;

  if (s.head) {
    try {
      const head = await s.head();
      if (head.kind === 'detached') roots.push({ name: 'HEAD', id: head.id });
      else if (refs[head.ref] !== undefined) roots.push({ name: 'HEAD', id: refs[head.ref]! });
    } catch (e) {
      if (!isMlstoreError(e)) throw e;
      s.findings.add({ code: 'BAD_REF', id: null, kind: 'ref', key: 'HEAD', detail: `HEAD: ${e.message}` });
    }
  }
  if (s.lockFile) {
    try {
      const lock = await s.lockFile();
      if (lock) roots.push({ name: 'mlstore.lock', id: lock.commit });
    } catch (e) {
      if (!isMlstoreError(e)) throw e;
      s.findings.add({ code: 'BAD_LOCK_FILE', id: null, kind: 'lock file', key: 'mlstore.lock', detail: e.message });
    }
  }
  const result: RootsResult = { roots, refs: refCount };
  const state = await checkRefState(s, refs);
  if (state) {
    result.refState = { version: state.state.version, expires: state.state.expires, trusted: state.trusted };
    for (const [name, id] of Object.entries(state.state.refs)) roots.push({ name: `refstate:${name}`, id });
  }
  return result;
}

async function checkRefState(s: RootSources, refs: Readonly<Record<string, string>>): Promise<{ state: RefState; trusted: boolean } | undefined> {
  const add = (code: 'REFSTATE_INVALID' | 'REFSTATE_UNTRUSTED' | 'REFSTATE_EXPIRED' | 'REFSTATE_ROLLBACK', detail: string, facts?: Record<string, unknown>): void => {
    if (code === 'REFSTATE_UNTRUSTED' && s.untrustedSeverity === 'off') return;
    s.findings.add({
      code, id: null, kind: 'ref state', key: REFSTATE_KEY, detail,
      ...(facts ? { facts } : {}),
      ...(code === 'REFSTATE_UNTRUSTED' && s.untrustedSeverity !== 'off' ? { severity: s.untrustedSeverity } : {}),
    });
  };
  let stored;
  try {
    stored = await readRefStateEnvelope(s.backend, s.signal);
  } catch (e) {
    if (!isMlstoreError(e) || e.code === 'INTERRUPTED') throw e;
    if (e.code === 'UNREADABLE_OBJECT' || e.code === 'IO_ERROR') {
      s.findings.add({ code: 'UNREADABLE_OBJECT', id: null, kind: 'ref state', key: REFSTATE_KEY, detail: e.message });
    } else {
      add('REFSTATE_INVALID', `${REFSTATE_KEY} is not a valid signed ref state: ${e.message}`);
    }
    return undefined;
  }
  if (!stored) return undefined;
  let state: RefState;
  try {
    state = decodeRefState(payloadBytes(stored.envelope));
  } catch (e) {
    add('REFSTATE_INVALID', `${REFSTATE_KEY} holds a malformed ref state: ${(e as Error).message}`);
    return undefined;
  }
  let trusted = false;
  try {
    verifyRefState({ envelope: stored.envelope, trustList: s.trustList, now: s.now, ...(s.seen ? { seen: s.seen } : {}) });
    trusted = true;
  } catch (e) {
    if (!(e instanceof MlstoreError)) throw e;
    if (e.code === 'BAD_SIGNATURE') add('REFSTATE_INVALID', e.message);
    else if (e.code === 'UNTRUSTED_SIGNER') {
      add('REFSTATE_UNTRUSTED', e.message, { version: state.version });
      // verifyRefState stops at the first failure; rollback and expiry still deserve a finding
      if (s.seen && state.version < s.seen.version) add('REFSTATE_ROLLBACK', `ref state version ${state.version} is older than version ${s.seen.version} already seen`, { version: state.version, seenVersion: s.seen.version });
      if (s.now.getTime() >= Date.parse(state.expires)) add('REFSTATE_EXPIRED', `ref state version ${state.version} expired at ${state.expires}`, { version: state.version, expires: state.expires });
    } else if (e.code === 'ROLLBACK') add('REFSTATE_ROLLBACK', e.message, e.details);
    else if (e.code === 'EXPIRED') {
      add('REFSTATE_EXPIRED', e.message, e.details);
      trusted = true;
    } else add('REFSTATE_INVALID', e.message);
  }
  for (const m of refMismatches(state, refs)) {
    const pid = s.findings.add({
      code: 'REFSTATE_MISMATCH', id: null, kind: 'ref', key: m.ref,
      detail: `${m.ref} is ${m.actual ?? 'absent'} but signed ref state version ${state.version} says ${m.snapshot ?? 'absent'}`,
      facts: { snapshot: m.snapshot, actual: m.actual, version: state.version },
      ownRefsOnly: true,
    });
    s.findings.affectRef(pid, m.ref);
    for (const c of [m.snapshot, m.actual]) if (c) s.findings.affectCommit(pid, c);
  }
  return { state, trusted };
}
