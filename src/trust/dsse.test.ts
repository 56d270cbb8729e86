import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isMlstoreError } from '../errors.js';
import {
  addSignature,
  COMMIT_PAYLOAD_TYPE,
  ed25519Signer,
  encodeEnvelope,
  fromBase64,
  pae,
  parseEnvelope,
  payloadBytes,
  signCommit,
  signEnvelope,
  verifySignature,
} from './dsse.js';
import { keyIdOf, publicKeyPem } from './keys.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

function newSigner() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { publicKey, signer: ed25519Signer(keyIdOf(publicKey), privateKey) };
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isMlstoreError(e) ? e.code : `non-mlstore: ${String(e)}`;
  }
  return undefined;
}

describe('PAE', () => {
  it('matches the DSSE spec test vector', () => {
    // https://github.com/secure-systems-lab/dsse/blob/master/protocol.md (test vector)
    expect(dec.decode(pae('http://example.com/HelloWorld', enc.encode('hello world')))).toBe(
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
  });

  it('counts lengths in UTF-8 bytes, not characters', () => {
    expect(dec.decode(pae('t/é', enc.encode('ü')))).toBe('DSSEv1 4 t/é 2 ü');
    expect(dec.decode(pae(COMMIT_PAYLOAD_TYPE, new Uint8Array()))).toBe(`DSSEv1 46 ${COMMIT_PAYLOAD_TYPE} 0 `);
  });
});

describe('envelopes', () => {
  const { publicKey, signer } = newSigner();
  const payload = enc.encode('{"type":"commit"}');

  it('round-trips and verifies, and a co-signature keeps the payload', () => {
    const env = signCommit(payload, signer);
    const parsed = parseEnvelope(encodeEnvelope(env));
    expect(parsed).toEqual(env);
    expect(parsed.payloadType).toBe(COMMIT_PAYLOAD_TYPE);
    expect(payloadBytes(parsed)).toEqual(payload);
    const sig = fromBase64(parsed.signatures[0]!.sig, 'sig');
    expect(sig.length).toBe(64);
    expect(verifySignature(publicKey, parsed.payloadType, payload, sig)).toBe(true);
    const other = newSigner();
    const cosigned = addSignature(parsed, other.signer);
    expect(cosigned.payload).toBe(parsed.payload);
    expect(cosigned.signatures).toHaveLength(2);
    expect(verifySignature(other.publicKey, cosigned.payloadType, payload, fromBase64(cosigned.signatures[1]!.sig, 'sig'))).toBe(true);
  });

  it('a tampered payload or a different payload type does not verify', () => {
    const env = signEnvelope(COMMIT_PAYLOAD_TYPE, payload, [signer]);
    const sig = fromBase64(env.signatures[0]!.sig, 'sig');
    expect(verifySignature(publicKey, env.payloadType, enc.encode('{"type":"commiT"}'), sig)).toBe(false);
    expect(verifySignature(publicKey, 'application/vnd.in-toto+json', payload, sig)).toBe(false);
    expect(verifySignature(publicKey, env.payloadType, payload, sig.subarray(0, 63))).toBe(false);
  });

  it('accepts URL-safe base64 as DSSE allows', () => {
    const env = signCommit(enc.encode('x?>>'), signer);
    const urlSafe = { ...env, payload: Buffer.from(payloadBytes(env)).toString('base64url') };
    expect(payloadBytes(parseEnvelope(JSON.stringify(urlSafe)))).toEqual(enc.encode('x?>>'));
  });

  it('refuses truncated and malformed envelopes with BAD_SIGNATURE', () => {
    const good = dec.decode(encodeEnvelope(signCommit(payload, signer)));
    const obj = JSON.parse(good) as Record<string, unknown>;
    const cases: [string, string | Uint8Array][] = [
      ['empty', ''],
      ['truncated JSON', good.slice(0, good.length - 10)],
      ['truncated in half', good.slice(0, good.length / 2)],
      ['not an object', '[]'],
      ['not UTF-8', new Uint8Array([0x7b, 0xff, 0x7d])],
      ['missing payload', JSON.stringify({ ...obj, payload: undefined })],
      ['missing payloadType', JSON.stringify({ ...obj, payloadType: undefined })],
      ['no signatures', JSON.stringify({ ...obj, signatures: [] })],
      ['signatures not array', JSON.stringify({ ...obj, signatures: {} })],
      ['unknown field', JSON.stringify({ ...obj, extra: 1 })],
      ['payload not base64', JSON.stringify({ ...obj, payload: 'not base64!!' })],
      ['payload with junk bits', JSON.stringify({ ...obj, payload: 'QQ=' })],
      ['sig empty', JSON.stringify({ ...obj, signatures: [{ keyid: 'a', sig: '' }] })],
      ['sig not base64', JSON.stringify({ ...obj, signatures: [{ keyid: 'a', sig: '%%%%' }] })],
      ['signature not object', JSON.stringify({ ...obj, signatures: ['x'] })],
      ['too many signatures', JSON.stringify({ ...obj, signatures: Array.from({ length: 65 }, () => ({ keyid: 'a', sig: 'AAAA' })) })],
    ];
    for (const [name, bytes] of cases) {
      expect(code(() => parseEnvelope(bytes)), name).toBe('BAD_SIGNATURE');
    }
  });
});

describe('stock OpenSSL verifies our signatures', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlstore-dsse-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('openssl pkeyutl -verify -rawin over the PAE bytes', () => {
    const { publicKey, signer } = newSigner();
    const payload = enc.encode('{"message":"hello","type":"commit"}');
    const env = parseEnvelope(encodeEnvelope(signCommit(payload, signer)));
    writeFileSync(join(dir, 'pae.bin'), pae(env.payloadType, payloadBytes(env)));
    writeFileSync(join(dir, 'sig.bin'), fromBase64(env.signatures[0]!.sig, 'sig'));
    writeFileSync(join(dir, 'pub.pem'), publicKeyPem(publicKey));
    const args = ['pkeyutl', '-verify', '-pubin', '-inkey', 'pub.pem', '-rawin', '-in', 'pae.bin', '-sigfile', 'sig.bin'];
    expect(execFileSync('openssl', args, { cwd: dir, encoding: 'utf8' })).toContain('Signature Verified Successfully');
    // and the key id is the SHA-256 of the SPKI DER that openssl prints
    const der = execFileSync('openssl', ['pkey', '-pubin', '-in', 'pub.pem', '-outform', 'DER'], { cwd: dir });
    expect(keyIdOf(publicKey)).toBe(execFileSync('sha256sum', { input: der, encoding: 'utf8' }).split(' ')[0]);
    // negative: one flipped payload byte
    const tampered = pae(env.payloadType, payloadBytes(env));
    tampered[tampered.length - 2]! ^= 1;
    writeFileSync(join(dir, 'pae.bin'), tampered);
    expect(() => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })).toThrow();
  });
});
