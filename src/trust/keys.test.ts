import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultEnv, type Env } from '../env.js';
import { MlstoreError } from '../errors.js';
import { fromBase64, pae, signCommit, verifySignature } from './dsse.js';
import {
  defaultConfigDir,
  exportPublicKey,
  findKey,
  generateKey,
  keyIdOf,
  listKeys,
  loadKeyFile,
  loadSigningKey,
  publicKeyFromPem,
  signerFor,
} from './keys.js';

let dir: string;
let env: Env;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlstore-keys-'));
  env = defaultEnv({ vars: {}, now: () => new Date('2026-01-02T03:04:05Z') });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return e instanceof MlstoreError ? e.code : `non-mlstore: ${String(e)}`;
  }
  return undefined;
}

describe('defaultConfigDir', () => {
  it('prefers MLSTORE_CONFIG_DIR, then XDG_CONFIG_HOME, then ~/.config', () => {
    expect(defaultConfigDir({ vars: { MLSTORE_CONFIG_DIR: '/a', XDG_CONFIG_HOME: '/x', HOME: '/h' } })).toBe('/a');
    expect(defaultConfigDir({ vars: { XDG_CONFIG_HOME: '/x', HOME: '/h' } })).toBe('/x/mlstore');
    expect(defaultConfigDir({ vars: { HOME: '/h' } })).toBe('/h/.config/mlstore');
  });
});

describe('generate, list, export', () => {
  it('stores a 0600 PKCS#8 key in a 0700 dir, id = sha256(SPKI DER)', async () => {
    const info = await generateKey(env, { configDir: dir, name: 'alice' });
    expect(info.id).toMatch(/^[0-9a-f]{64}$/);
    const der = publicKeyFromPem(info.publicKeyPem).export({ type: 'spki', format: 'der' });
    expect(info.id).toBe(createHash('sha256').update(der).digest('hex'));
    expect(statSync(join(dir, 'keys')).mode & 0o777).toBe(0o700);
    expect(statSync(info.file).mode & 0o777).toBe(0o600);
    expect(readFileSync(info.file, 'utf8')).toContain('-----BEGIN PRIVATE KEY-----');
    expect(info.isDefault).toBe(true);
    expect(info.created).toBe('2026-01-02T03:04:05.000Z');
  });

  it('lists keys by name, marks the default, finds by name or id prefix, exports the public PEM', async () => {
    const a = await generateKey(env, { configDir: dir, name: 'alice' });
    const b = await generateKey(env, { configDir: dir, name: 'bob' });
    const keys = await listKeys(dir);
    expect(keys.map((k) => [k.name, k.isDefault])).toEqual([['alice', true], ['bob', false]]);
    expect((await findKey(dir, 'bob')).id).toBe(b.id);
    expect((await findKey(dir, b.id.slice(0, 10))).id).toBe(b.id);
    expect(await exportPublicKey(dir)).toBe(a.publicKeyPem);
    expect(await exportPublicKey(dir, 'bob')).toBe(b.publicKeyPem);
    expect(await codeOf(findKey(dir, 'carol'))).toBe('NO_KEY');
    expect(await listKeys(join(dir, 'nowhere'))).toEqual([]);
  });

  it('the default key signs and the signature verifies with its public key', async () => {
    const info = await generateKey(env, { configDir: dir });
    const key = await loadSigningKey(env, { configDir: dir });
    expect(key.id).toBe(info.id);
    const env1 = signCommit(new TextEncoder().encode('{}'), signerFor(key));
    expect(env1.signatures[0]!.keyid).toBe(info.id);
    expect(verifySignature(publicKeyFromPem(info.publicKeyPem), env1.payloadType, new TextEncoder().encode('{}'), fromBase64(env1.signatures[0]!.sig, 's'))).toBe(true);
  });
});

describe('passphrase', () => {
  it('round-trips an encrypted key and refuses a missing or wrong passphrase', async () => {
    const info = await generateKey(env, { configDir: dir, passphrase: 'correct horse' });
    const text = readFileSync(info.file, 'utf8');
    expect(text).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    expect(info.encrypted).toBe(true);
    const key = await loadSigningKey(env, { configDir: dir, passphrase: 'correct horse' });
    expect(key.id).toBe(info.id);
    const data = pae('t', new Uint8Array([1, 2, 3]));
    expect(verifySignature(key.publicKey, 't', new Uint8Array([1, 2, 3]), signerFor(key).sign(data))).toBe(true);
    expect(await codeOf(loadSigningKey(env, { configDir: dir }))).toBe('NO_KEY');
    expect(await codeOf(loadSigningKey(env, { configDir: dir, passphrase: 'wrong' }))).toBe('NO_KEY');
    const viaEnv = await loadSigningKey({ ...env, vars: { MLSTORE_SIGNING_KEY_PASSPHRASE: 'correct horse' } }, { configDir: dir });
    expect(viaEnv.id).toBe(info.id);
  });
});

describe('CI key sources', () => {
  it('MLSTORE_SIGNING_KEY (PEM text) wins over the configured default', async () => {
    const a = await generateKey(env, { configDir: dir, name: 'a' });
    const other = mkdtempSync(join(tmpdir(), 'mlstore-keys2-'));
    try {
      const b = await generateKey(env, { configDir: other, name: 'b' });
      const pem = readFileSync(b.file, 'utf8');
      const k = await loadSigningKey({ ...env, vars: { MLSTORE_SIGNING_KEY: pem } }, { configDir: dir });
      expect(k.id).toBe(b.id);
      expect(k.source).toBe('MLSTORE_SIGNING_KEY');
      const f = await loadSigningKey({ ...env, vars: { MLSTORE_SIGNING_KEY_FILE: b.file } }, { configDir: dir });
      expect(f.id).toBe(b.id);
      expect((await loadSigningKey(env, { configDir: dir })).id).toBe(a.id);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('no key configured is NO_KEY', async () => {
    expect(await codeOf(loadSigningKey(env, { configDir: dir }))).toBe('NO_KEY');
    expect(await codeOf(loadKeyFile(join(dir, 'absent.pem')))).toBe('NO_KEY');
  });

  it('a non-Ed25519 key or junk is refused', async () => {
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'hello', { mode: 0o600 });
    expect(await codeOf(loadKeyFile(junk))).toBe('NO_KEY');
  });
});

describe('private key file permissions (negative)', () => {
  it('refuses a key file readable by group or others (0644, 0640) with INSECURE_KEY', async () => {
    const info = await generateKey(env, { configDir: dir });
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      chmodSync(info.file, mode);
      expect(await codeOf(loadSigningKey(env, { configDir: dir })), mode.toString(8)).toBe('INSECURE_KEY');
      expect(await codeOf(loadSigningKey({ ...env, vars: { MLSTORE_SIGNING_KEY_FILE: info.file } }))).toBe('INSECURE_KEY');
    }
    chmodSync(info.file, 0o600);
    expect((await loadSigningKey(env, { configDir: dir })).id).toBe(info.id);
    chmodSync(info.file, 0o400);
    expect((await loadSigningKey(env, { configDir: dir })).id).toBe(info.id);
  });

  it('the error names the file and tells how to fix it', async () => {
    const info = await generateKey(env, { configDir: dir });
    chmodSync(info.file, 0o644);
    const err = await loadKeyFile(info.file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MlstoreError);
    expect((err as MlstoreError).details['path']).toBe(info.file);
    expect((err as MlstoreError).hint).toContain('chmod 600');
  });
});

describe('keyIdOf', () => {
  it('is the same from the public key, the private key and the PEM', async () => {
    const info = await generateKey(env, { configDir: dir });
    const key = await loadKeyFile(info.file);
    expect(keyIdOf(key.privateKey)).toBe(info.id);
    expect(keyIdOf(key.publicKey)).toBe(info.id);
    expect(keyIdOf(info.publicKeyPem)).toBe(info.id);
  });
});
