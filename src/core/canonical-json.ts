/**
 * RFC 8785 (JCS) canonical JSON, restricted to what mlstore objects use: objects, arrays,
 * strings, booleans, null and safe integers. The same value always encodes to the same bytes,
 * so the same content always gets the same id on every machine.
 *
 * Decoding is strict: bytes are accepted only if re-encoding the parsed value gives back the
 * exact same bytes. That single check rejects whitespace, duplicate keys, unsorted keys,
 * non-minimal escapes, floats, a BOM and invalid UTF-8.
 */
import { MlstoreError } from '../errors.js';

export type CanonicalValue =
  | null
  | boolean
  | number
  | string
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue };

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function canonicalize(value: unknown): string {
  return write(value, 0);
}

export function encodeCanonical(value: unknown): Uint8Array {
  return encoder.encode(canonicalize(value));
}

const MAX_DEPTH = 64;

// String concatenation (V8 builds ropes) and plain loops: ≈ 1.3–2× faster than collecting parts
// and joining them, and strict decoding re-encodes every object it reads (status reads a whole
// tree of 20,000 entries).
function write(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw notCanonical('nesting is deeper than 64 levels');
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) throw notCanonical(`number ${value} is not a safe integer`);
      return Object.is(value, -0) ? '0' : String(value);
    case 'string':
      return quote(value);
    case 'object': {
      if (Array.isArray(value)) {
        let s = '[';
        for (let i = 0; i < value.length; i++) s += (i > 0 ? ',' : '') + write(value[i], depth + 1); // a hole is undefined: refused
        return s + ']';
      }
      const obj = value as Record<string, unknown>;
      // JCS sorts keys by UTF-16 code units, which is what the default sort compares.
      const keys = Object.keys(obj).sort();
      let s = '{';
      let first = true;
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        s += (first ? '' : ',') + quote(k) + ':' + write(v, depth + 1);
        first = false;
      }
      return s + '}';
    }
    default:
      throw notCanonical(`a ${typeof value} cannot be encoded`);
  }
}

function quote(s: string): string {
  if (!s.isWellFormed()) throw notCanonical('string contains a lone surrogate');
  // ES2019 JSON.stringify escapes exactly as JCS requires for well-formed strings.
  return JSON.stringify(s);
}

/** Parses canonical bytes; anything that is not byte-for-byte canonical is CORRUPT_OBJECT. */
export function decodeCanonical(bytes: Uint8Array, what = 'object'): CanonicalValue {
  let text: string;
  try {
    text = strictDecoder.decode(bytes);
  } catch (e) {
    throw new MlstoreError('CORRUPT_OBJECT', `${what} is not valid UTF-8`, { cause: e });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new MlstoreError('CORRUPT_OBJECT', `${what} is not valid JSON`, { cause: e });
  }
  let again: string;
  try {
    again = canonicalize(value);
  } catch (e) {
    throw new MlstoreError('CORRUPT_OBJECT', `${what} holds a value outside canonical JSON: ${(e as Error).message}`, { cause: e });
  }
  if (again !== text) {
    throw new MlstoreError('CORRUPT_OBJECT', `${what} is not in canonical form (RFC 8785)`);
  }
  return value as CanonicalValue;
}

function notCanonical(why: string): MlstoreError {
  return new MlstoreError('CORRUPT_OBJECT', `cannot encode canonical JSON: ${why}`);
}
