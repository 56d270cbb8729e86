/**
 * The trust list: `mlstore-trust.json` at the root of the code repository, versioned in Git and
 * reviewed like code. It names the public keys whose signatures count:
 *   {"keys":[{"expires"?,"id","name","publicKey","scope"?}],"version":1}
 * Written as stable sorted JSON (sorted keys, keys sorted by id, two-space indent) so a change
 * shows up as a small, reviewable diff. Parsing re-derives every id from its PEM: a list that
 * names a key by the wrong id is rejected rather than trusted.
 *
 * Scope patterns: an exact ref ("refs/heads/main") or a prefix ending in "*" ("refs/tags/*",
 * "refs/heads/release/*"); "*" matches any rest of the name, "/" included.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Env } from '../env.js';
import { fromFsError, MlstoreError } from '../errors.js';
import { keyIdOf, publicKeyFromPem } from './keys.js';

export const TRUST_FILE_NAME = 'mlstore-trust.json';

export interface TrustedKey {
  id: string;
  name: string;
  /** SPKI PEM of an Ed25519 key. */
  publicKey: string;
  /** ISO 8601 date or date-time; signatures checked at or after it do not count. */
  expires?: string;
  /** Refs this key may sign for; absent means every ref. */
  scope?: string[];
}

export interface TrustList {
  version: 1;
  keys: TrustedKey[];
}

const ISO_RE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;
const SCOPE_RE = /^refs\/(?:heads|tags)\/[A-Za-z0-9._/-]*\*?$|^refs\/\*$|^\*$/;
const MAX_KEYS = 1000;

export function emptyTrustList(): TrustList {
  return { version: 1, keys: [] };
}

/** `flag`, else `$MLSTORE_TRUST_FILE`, else `<repoRoot>/mlstore-trust.json`. */
export function trustFilePath(env: Pick<Env, 'vars'>, repoRoot: string, flag?: string): string {
  return flag ?? env.vars['MLSTORE_TRUST_FILE'] ?? join(repoRoot, TRUST_FILE_NAME);
}

/** Strict parse; every problem is BAD_CONFIG naming the source and the entry. */
export function parseTrustList(text: string | Uint8Array, source = TRUST_FILE_NAME): TrustList {
  const str = typeof text === 'string' ? text : new TextDecoder().decode(text);
  let raw: unknown;
  try {
    raw = JSON.parse(str);
  } catch (e) {
    throw badList(source, `is not valid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(raw)) throw badList(source, 'is not a JSON object');
  onlyKeys(raw, ['version', 'keys'], source);
  if (raw['version'] !== 1) throw badList(source, `has version ${JSON.stringify(raw['version'])}; this mlstore reads version 1`);
  const keys = raw['keys'];
  if (!Array.isArray(keys)) throw badList(source, '"keys" is not an array');
  if (keys.length > MAX_KEYS) throw badList(source, `has more than ${MAX_KEYS} keys`);
  const seen = new Set<string>();
  const out = keys.map((k, i) => {
    const key = validateTrustedKey(k, `${source} key ${i}`);
    if (seen.has(key.id)) throw badList(source, `lists key ${key.id} twice`);
    seen.add(key.id);
    return key;
  });
  return { version: 1, keys: sortKeys(out) };
}

export function validateTrustedKey(k: unknown, what: string): TrustedKey {
  if (!isRecord(k)) throw badList(what, 'is not an object');
  onlyKeys(k, ['id', 'name', 'publicKey', 'expires', 'scope'], what);
  const { id, name, publicKey, expires, scope } = k;
  if (typeof name !== 'string' || name.length === 0 || name.length > 256) throw badList(what, '"name" must be a non-empty string');
  if (typeof publicKey !== 'string') throw badList(what, '"publicKey" must be a PEM string');
  let derived: string;
  try {
    derived = keyIdOf(publicKeyFromPem(publicKey));
  } catch (e) {
    throw badList(what, `"publicKey" is not an Ed25519 public key PEM: ${(e as Error).message}`);
  }
  if (id !== derived) throw badList(what, `"id" ${JSON.stringify(id)} is not the SHA-256 of the key's SPKI (${derived})`);
  const out: TrustedKey = { id: derived, name, publicKey: normalizePem(publicKey) };
  if (expires !== undefined) {
    if (typeof expires !== 'string' || !ISO_RE.test(expires) || Number.isNaN(Date.parse(expires))) {
      throw badList(what, '"expires" must be an ISO 8601 date or date-time');
    }
    out.expires = expires;
  }
  if (scope !== undefined) {
    if (!Array.isArray(scope) || scope.length === 0) throw badList(what, '"scope" must be a non-empty array of ref patterns');
    for (const s of scope) {
      if (typeof s !== 'string' || !SCOPE_RE.test(s)) throw badList(what, `scope ${JSON.stringify(s)} is not "refs/heads/…", "refs/tags/…" (optionally ending in *)`);
    }
    out.scope = [...new Set(scope as string[])].sort();
  }
  return out;
}

/** Stable sorted JSON with a trailing newline. */
export function encodeTrustList(list: TrustList): string {
  const keys = sortKeys(list.keys).map((k) => {
    const o: Record<string, unknown> = {};
    if (k.expires !== undefined) o['expires'] = k.expires;
    o['id'] = k.id;
    o['name'] = k.name;
    o['publicKey'] = normalizePem(k.publicKey);
    if (k.scope !== undefined) o['scope'] = [...k.scope].sort();
    return o;
  });
  return JSON.stringify({ keys, version: 1 }, null, 2) + '\n';
}

export interface TrustKeyInput {
  publicKey: string;
  name: string;
  expires?: string;
  scope?: string[];
}

/** Adds (or replaces, by id) a key; returns a new list. BAD_CONFIG if the entry is invalid. */
export function trustKey(list: TrustList, input: TrustKeyInput): TrustList {
  const id = keyIdOf(publicKeyFromPem(input.publicKey));
  const entry = validateTrustedKey({ ...input, id }, `key ${input.name}`);
  return { version: 1, keys: sortKeys([...list.keys.filter((k) => k.id !== id), entry]) };
}

/** Removes a key by full id, unique id prefix (≥ 4 hex) or unique name. NO_KEY if absent. */
export function untrustKey(list: TrustList, idOrName: string): TrustList {
  const hits = list.keys.filter((k) => k.id === idOrName || k.name === idOrName || (idOrName.length >= 4 && k.id.startsWith(idOrName)));
  if (hits.length === 0) throw new MlstoreError('NO_KEY', `no key ${JSON.stringify(idOrName)} in the trust list`);
  if (hits.length > 1) throw new MlstoreError('USAGE', `${JSON.stringify(idOrName)} matches ${hits.length} trusted keys; give the full id`);
  return { version: 1, keys: list.keys.filter((k) => k !== hits[0]) };
}

export function findTrustedKey(list: TrustList, id: string): TrustedKey | undefined {
  return list.keys.find((k) => k.id === id);
}

/** Whether a key's scope allows `refName`; an unscoped key may sign any ref. */
export function scopeAllows(scope: readonly string[] | undefined, refName: string): boolean {
  if (scope === undefined) return true;
  return scope.some((p) => (p.endsWith('*') ? refName.startsWith(p.slice(0, -1)) : refName === p));
}

/** Whether the key has expired at `now` (expiry instant itself counts as expired). */
export function isExpired(key: Pick<TrustedKey, 'expires'>, now: Date): boolean {
  return key.expires !== undefined && now.getTime() >= Date.parse(key.expires);
}

/** Reads the trust file; a missing file is an empty list (nothing is trusted). */
export async function readTrustList(path: string): Promise<TrustList> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyTrustList();
    throw fromFsError(e, path, 'read');
  }
  return parseTrustList(text, path);
}

export async function writeTrustList(path: string, list: TrustList): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    await writeFile(tmp, encodeTrustList(list), { mode: 0o644 });
    await rename(tmp, path);
  } catch (e) {
    throw fromFsError(e, path, 'write');
  }
}

function normalizePem(pem: string): string {
  return pem.replace(/\r\n/g, '\n').trim() + '\n';
}

function sortKeys(keys: readonly TrustedKey[]): TrustedKey[] {
  return [...keys].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function onlyKeys(obj: Record<string, unknown>, allowed: string[], what: string): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) throw badList(what, `has an unknown field "${k}"`);
}

function badList(what: string, why: string): MlstoreError {
  return new MlstoreError('BAD_CONFIG', `trust list ${what} ${why}`, { hint: 'Fix the trust file (it is reviewed like code) or point MLSTORE_TRUST_FILE at a valid one.' });
}
