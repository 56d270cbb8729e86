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
  const parts: string[] = [];
  write(value, parts, 0);
  return parts.join('');
}

export function encodeCanonical(value: unknown): Uint8Array {
  return encoder.encode(canonicalize(value));
}

const MAX_DEPTH = 64;

function write(value: unknown, out: string[], depth: number): void {
  if (depth > MAX_DEPTH) throw notCanonical('nesting is deeper than 64 levels');
  if (value === null) return void out.push('null');
  switch (typeof value) {
    case 'boolean':
      return void out.push(value ? 'true' : 'false');
    case 'number':
      if (!Number.isSafeInteger(value)) throw notCanonical(`number ${value} is not a safe integer`);
      return void out.push(Object.is(value, -0) ? '0' : String(value));
    case 'string':
      return void out.push(quote(value));
    case 'object': {
      if (Array.isArray(value)) {
        out.push('[');
        value.forEach((item, i) => {
          if (i > 0) out.push(',');
          write(item, out, depth + 1);
        });
        return void out.push(']');
      }
      const obj = value as Record<string, unknown>;
      // JCS sorts keys by UTF-16 code units, which is what the default sort compares.
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      out.push('{');
      keys.forEach((k, i) => {
        if (i > 0) out.push(',');
        out.push(quote(k), ':');
        write(obj[k], out, depth + 1);
      });
      return void out.push('}');
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
