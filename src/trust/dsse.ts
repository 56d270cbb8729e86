/**
 * DSSE v1 envelopes (https://github.com/secure-systems-lab/dsse/blob/master/envelope.md):
 * {"payloadType", "payload": base64, "signatures": [{"keyid", "sig": base64}]}.
 * A signature covers the pre-authentication encoding (PAE), never the JSON, so the envelope's
 * own formatting does not matter and stock tools verify it:
 *   openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in pae.bin -sigfile sig.bin
 *
 * Parsing is strict and bounded: anything truncated, oversized or oddly shaped is BAD_SIGNATURE
 * with a reason, never a crash and never a silently skipped signature.
 */
import { sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';
import { MlstoreError } from '../errors.js';

export const COMMIT_PAYLOAD_TYPE = 'application/vnd.mlstore.commit+json; version=1';
export const REFSTATE_PAYLOAD_TYPE = 'application/vnd.mlstore.refstate+json; version=1';
export const INTOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export interface Signature {
  /** Key id (hex SHA-256 of the SPKI DER); may be empty in envelopes made by other tools. */
  keyid: string;
  /** Standard base64 of the raw 64-byte Ed25519 signature. */
  sig: string;
}

export interface Envelope {
  payloadType: string;
  /** Standard base64 of the payload bytes. */
  payload: string;
  signatures: Signature[];
}

/** Something that can sign PAE bytes: a local key, a KMS, an HSM … */
export interface Signer {
  keyId: string;
  sign(data: Uint8Array): Uint8Array;
}

export const ENVELOPE_LIMITS = {
  maxEnvelopeBytes: 96 * 1024 * 1024, // a commit may be 64 MiB; base64 adds a third
  maxSignatures: 64,
  maxPayloadTypeChars: 256,
  maxKeyIdChars: 256,
} as const;

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN in ASCII decimal bytes. */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = encoder.encode(payloadType);
  const head = encoder.encode(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

/** A Signer over an Ed25519 private key (node:crypto, i.e. OpenSSL). */
export function ed25519Signer(keyId: string, privateKey: KeyObject): Signer {
  return { keyId, sign: (data) => new Uint8Array(edSign(null, data, privateKey)) };
}

export function signEnvelope(payloadType: string, payload: Uint8Array, signers: readonly Signer[]): Envelope {
  const env: Envelope = { payloadType, payload: toBase64(payload), signatures: [] };
  return signers.reduce(addSignature, env);
}

/**
 * The detached signature of one commit by one key: a DSSE envelope whose payload is exactly the
 * commit's canonical bytes. One envelope per key, so co-signing later never touches the others.
 */
export function signCommit(commitBytes: Uint8Array, signer: Signer): Envelope {
  return signEnvelope(COMMIT_PAYLOAD_TYPE, commitBytes, [signer]);
}

/** Adds one more signature (co-signing); the payload and its other signatures are unchanged. */
export function addSignature(env: Envelope, signer: Signer): Envelope {
  const sig = signer.sign(pae(env.payloadType, fromBase64(env.payload, 'payload')));
  return { ...env, signatures: [...env.signatures, { keyid: signer.keyId, sig: toBase64(sig) }] };
}

/** True when `sig` is a valid Ed25519 signature by `publicKey` over PAE(payloadType, payload). */
export function verifySignature(publicKey: KeyObject, payloadType: string, payload: Uint8Array, sig: Uint8Array): boolean {
  if (sig.length !== 64) return false;
  try {
    return edVerify(null, pae(payloadType, payload), publicKey, sig);
  } catch {
    return false;
  }
}

/** Stable JSON bytes of an envelope (keys in a fixed order, one line, newline-terminated). */
export function encodeEnvelope(env: Envelope): Uint8Array {
  const doc = {
    payload: env.payload,
    payloadType: env.payloadType,
    signatures: env.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })),
  };
  return encoder.encode(JSON.stringify(doc) + '\n');
}

/** Strictly parses envelope bytes; every problem is BAD_SIGNATURE with the reason in the message. */
export function parseEnvelope(bytes: Uint8Array | string, what = 'signature envelope'): Envelope {
  const size = typeof bytes === 'string' ? encoder.encode(bytes).length : bytes.length;
  if (size > ENVELOPE_LIMITS.maxEnvelopeBytes) throw bad(what, `is ${size} bytes, more than the ${ENVELOPE_LIMITS.maxEnvelopeBytes} allowed`);
  if (size === 0) throw bad(what, 'is empty');
  let text: string;
  try {
    text = typeof bytes === 'string' ? bytes : strictUtf8.decode(bytes);
  } catch {
    throw bad(what, 'is not valid UTF-8');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw bad(what, `is not valid JSON (truncated?): ${(e as Error).message}`);
  }
  return validateEnvelope(raw, what);
}

export function validateEnvelope(raw: unknown, what = 'signature envelope'): Envelope {
  if (!isRecord(raw)) throw bad(what, 'is not a JSON object');
  onlyKeys(raw, ['payloadType', 'payload', 'signatures'], what);
  const { payloadType, payload, signatures } = raw;
  if (typeof payloadType !== 'string' || payloadType.length === 0 || payloadType.length > ENVELOPE_LIMITS.maxPayloadTypeChars) {
    throw bad(what, 'payloadType is missing, empty or too long');
  }
  if (typeof payload !== 'string') throw bad(what, 'payload is missing or not a string');
  fromBase64(payload, `${what} payload`);
  if (!Array.isArray(signatures)) throw bad(what, 'signatures is missing or not an array');
  if (signatures.length === 0) throw bad(what, 'has no signatures');
  if (signatures.length > ENVELOPE_LIMITS.maxSignatures) throw bad(what, `has more than ${ENVELOPE_LIMITS.maxSignatures} signatures`);
  const sigs = signatures.map((s, i): Signature => {
    const w = `${what} signature ${i}`;
    if (!isRecord(s)) throw bad(w, 'is not an object');
    onlyKeys(s, ['keyid', 'sig'], w);
    const keyid = s['keyid'] ?? '';
    if (typeof keyid !== 'string' || keyid.length > ENVELOPE_LIMITS.maxKeyIdChars) throw bad(w, 'keyid is not a string');
    if (typeof s['sig'] !== 'string' || s['sig'].length === 0) throw bad(w, 'sig is missing or empty');
    fromBase64(s['sig'], `${w} sig`);
    return { keyid, sig: s['sig'] };
  });
  return { payloadType, payload, signatures: sigs };
}

export function payloadBytes(env: Envelope): Uint8Array {
  return fromBase64(env.payload, 'envelope payload');
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const B64URL_RE = /^[A-Za-z0-9_-]*$/;

/**
 * Decodes standard base64 (padded) or URL-safe base64 (DSSE allows both). Node's decoder
 * silently skips junk, so the text is checked first and must round-trip exactly.
 */
export function fromBase64(text: string, what: string): Uint8Array {
  if (B64_RE.test(text)) {
    const bytes = Buffer.from(text, 'base64');
    if (bytes.toString('base64') === text) return new Uint8Array(bytes);
  } else if (B64URL_RE.test(text) && text.length % 4 !== 1) {
    const bytes = Buffer.from(text, 'base64url');
    if (bytes.toString('base64url') === text) return new Uint8Array(bytes);
  }
  throw bad(what, 'is not valid base64 (truncated or altered?)');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function onlyKeys(obj: Record<string, unknown>, allowed: string[], what: string): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) throw bad(what, `has an unknown field "${k}"`);
}

function bad(what: string, why: string): MlstoreError {
  return new MlstoreError('BAD_SIGNATURE', `${what} ${why}`, { details: { reason: `${what} ${why}` } });
}
