/** Small strict-shape helpers shared by the object codecs: every failure is CORRUPT_OBJECT. */
import { MlstoreError } from '../errors.js';
import { isDigest } from '../core/digest.js';

export function corrupt(what: string, why: string): MlstoreError {
  return new MlstoreError('CORRUPT_OBJECT', `${what}: ${why}`);
}

export function asRecord(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw corrupt(what, 'is not an object');
  return v as Record<string, unknown>;
}

/** Rejects unknown or missing fields: a future format must bump the version, not sneak in keys. */
export function exactKeys(obj: Record<string, unknown>, required: string[], optional: string[], what: string): void {
  for (const k of required) if (!(k in obj)) throw corrupt(what, `field "${k}" is missing`);
  const allowed = new Set([...required, ...optional]);
  for (const k of Object.keys(obj)) if (!allowed.has(k)) throw corrupt(what, `unknown field "${k}"`);
}

export function asDigest(v: unknown, what: string): string {
  if (!isDigest(v)) throw corrupt(what, 'is not a lowercase hex SHA-256');
  return v as string;
}

export function asSize(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw corrupt(what, 'is not a non-negative integer');
  return v;
}

export function asString(v: unknown, what: string, maxChars = 4096): string {
  if (typeof v !== 'string') throw corrupt(what, 'is not a string');
  if (v.length > maxChars) throw corrupt(what, `is longer than ${maxChars} characters`);
  return v;
}

export function asArray(v: unknown, what: string, maxItems: number): unknown[] {
  if (!Array.isArray(v)) throw corrupt(what, 'is not an array');
  if (v.length > maxItems) throw corrupt(what, `has more than ${maxItems} items`);
  return v;
}
