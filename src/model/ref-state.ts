/**
 * Signed ref state (ideas from TUF): every ref of a store as one snapshot,
 *   {"expires":"YYYY-MM-DDTHH:MM:SSZ","refs":{"refs/heads/main":<commit id>,…},"type":"refstate","version":N}
 * in canonical JSON. `version` only increases (a client refuses anything lower than it has seen:
 * rollback); `expires` bounds how long a remote can freeze the store at an old state.
 * Signing lives in src/trust/ref-state.ts; this is only the strict codec.
 */
import { decodeCanonical, encodeCanonical } from '../core/canonical-json.js';
import { parseFullRef } from './ref-name.js';
import { asDigest, asRecord, asString, corrupt, exactKeys } from './validate.js';

export interface RefState {
  type: 'refstate';
  /** Starts at 1; every published snapshot has a higher version than the one before. */
  version: number;
  /** UTC, second precision. */
  expires: string;
  refs: Readonly<Record<string, string>>;
}

const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
export const MAX_REFSTATE_REFS = 100_000;

export function encodeRefState(s: RefState): Uint8Array {
  const bytes = encodeCanonical({ expires: s.expires, refs: s.refs, type: 'refstate', version: s.version });
  decodeRefState(bytes); // one validation path for writer and reader
  return bytes;
}

export function decodeRefState(bytes: Uint8Array): RefState {
  const what = 'ref state';
  const obj = asRecord(decodeCanonical(bytes, what), what);
  exactKeys(obj, ['type', 'version', 'expires', 'refs'], [], what);
  if (obj['type'] !== 'refstate') throw corrupt(what, `type is ${JSON.stringify(obj['type'])}, expected "refstate"`);
  const version = obj['version'];
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) throw corrupt(what, 'version is not a positive integer');
  const expires = asString(obj['expires'], 'ref state expires', 20);
  if (!TIME_RE.test(expires) || Number.isNaN(Date.parse(expires))) throw corrupt(what, 'expires is not YYYY-MM-DDTHH:MM:SSZ');
  const rawRefs = asRecord(obj['refs'], 'ref state refs');
  const names = Object.keys(rawRefs);
  if (names.length > MAX_REFSTATE_REFS) throw corrupt(what, `has more than ${MAX_REFSTATE_REFS} refs`);
  const refs: Record<string, string> = {};
  for (const name of names) {
    if (!parseFullRef(name)) throw corrupt(what, `ref name ${JSON.stringify(name)} is not refs/heads/… or refs/tags/…`);
    refs[name] = asDigest(rawRefs[name], `ref state ${name}`);
  }
  return { type: 'refstate', version, expires, refs };
}
