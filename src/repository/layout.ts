/**
 * The one place that knows where things live in a store. The same keys are used in the local
 * `.mlstore/` directory and under a remote's prefix, so a push is a copy of keys.
 *
 *   objects/chunks/ab/cdef…         raw chunk bytes (id = sha256 of the bytes)
 *   objects/meta/ab/cdef…           canonical JSON: file manifests, trees, commits
 *   objects/signatures/<commit>/<keyid>.dsse   detached DSSE envelopes (src/trust)
 *   refs/heads/<branch>, refs/tags/<tag>       "<commit id>\n", updated by compare-and-swap
 *
 * Local-only files next to them: config.json, HEAD, tracked.json, index/ (LevelDB), tmp/, lock,
 * and packs/ (small chunks many to a file, format 2; src/storage/local-packs.ts).
 */
import type { Namespace } from '../model/object-kind.js';

/** Format of new repositories. 2: the local store may keep small chunks in packs/ (docs/format.md#packs). */
export const FORMAT_VERSION = 2;
/** Formats this mlstore reads: a format-1 repository keeps working, and keeps every object loose. */
export const READABLE_FORMATS: readonly number[] = [1, 2];
export const STORE_DIR = '.mlstore';
export const LOCK_FILE_NAME = 'mlstore.lock';

export function objectKey(ns: Namespace, id: string): string {
  return `objects/${ns}/${id.slice(0, 2)}/${id.slice(2)}`;
}

export function objectPrefix(ns: Namespace, idPrefix = ''): string {
  return idPrefix.length >= 2 ? `objects/${ns}/${idPrefix.slice(0, 2)}/` : `objects/${ns}/`;
}

/** Inverse of objectKey; undefined for keys that are not object keys. */
export function parseObjectKey(key: string): { ns: Namespace; id: string } | undefined {
  const m = /^objects\/(chunks|meta)\/([0-9a-f]{2})\/([0-9a-f]{62})$/.exec(key);
  return m ? { ns: m[1] as Namespace, id: m[2]! + m[3]! } : undefined;
}

export function signatureKey(commitId: string, keyId: string): string {
  return `objects/signatures/${commitId}/${keyId}.dsse`;
}

export function signaturePrefix(commitId: string): string {
  return `objects/signatures/${commitId}/`;
}
