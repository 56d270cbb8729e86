/**
 * Ed25519 signing keys (node:crypto). A key id is the lowercase hex SHA-256 of the public key's
 * SPKI DER, so anyone holding the public PEM can recompute it with
 * `openssl pkey -pubin -in key.pub -outform DER | sha256sum`.
 *
 * Private keys live outside the repository, under the user's config dir:
 *   <configDir>/keys/<id>.key   PKCS#8 PEM, optionally encrypted (aes-256-cbc), mode 0600
 *   <configDir>/keys/<id>.pub   SPKI PEM
 *   <configDir>/keys/<id>.json  {"created","encrypted","id","name"}
 *   <configDir>/keys/default    the id of the default signing key
 * The keys directory is mode 0700. A private key file that group or others can read is refused
 * (INSECURE_KEY), like ssh does: a key that others could have copied cannot prove identity.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { homedir, platform } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '../core/digest.js';
import type { Env } from '../env.js';
import { fromFsError, MlstoreError } from '../errors.js';
import { ed25519Signer, type Signer } from './dsse.js';

export interface SigningKey {
  id: string;
  name?: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicKeyPem: string;
  /** Where the key came from, for messages: a file path, "MLSTORE_SIGNING_KEY" … */
  source: string;
}

/** The DSSE Signer of a loaded key. */
export function signerFor(key: SigningKey): Signer {
  return ed25519Signer(key.id, key.privateKey);
}

export interface KeyInfo {
  id: string;
  name: string;
  created: string;
  encrypted: boolean;
  publicKeyPem: string;
  isDefault: boolean;
  file: string;
}

const ID_RE = /^[0-9a-f]{64}$/;

/** `$MLSTORE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/mlstore`, else `~/.config/mlstore`. */
export function defaultConfigDir(env: Pick<Env, 'vars'>): string {
  const explicit = env.vars['MLSTORE_CONFIG_DIR'];
  if (explicit) return explicit;
  const xdg = env.vars['XDG_CONFIG_HOME'];
  if (xdg) return join(xdg, 'mlstore');
  return join(env.vars['HOME'] || homedir(), '.config', 'mlstore');
}

export function keysDir(configDir: string): string {
  return join(configDir, 'keys');
}

/** Parses an Ed25519 public key from PEM (SPKI); anything else is BAD_CONFIG. */
export function publicKeyFromPem(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw new MlstoreError('BAD_CONFIG', 'not a PEM public key', { cause: e });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new MlstoreError('BAD_CONFIG', `public key is ${key.asymmetricKeyType ?? 'unknown'}, only Ed25519 is supported`);
  }
  return key;
}

export function publicKeyPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

/** Lowercase hex SHA-256 of the SPKI DER encoding of the public key. */
export function keyIdOf(key: KeyObject | string): string {
  const pub = typeof key === 'string' ? publicKeyFromPem(key) : key.type === 'private' ? createPublicKey(key) : key;
  return sha256Hex(new Uint8Array(pub.export({ type: 'spki', format: 'der' })));
}

export interface GenerateOptions {
  configDir: string;
  name?: string;
  /** Encrypts the PKCS#8 file with aes-256-cbc; the passphrase is needed for every signature. */
  passphrase?: string;
  /** Make it the default signing key (always true for the first key). */
  setDefault?: boolean;
}

export async function generateKey(env: Env, options: GenerateOptions): Promise<KeyInfo> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const id = keyIdOf(publicKey);
  const dir = keysDir(options.configDir);
  await ensurePrivateDir(dir);
  const encrypted = options.passphrase !== undefined && options.passphrase !== '';
  const pem = encrypted
    ? privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: options.passphrase! })
    : privateKey.export({ type: 'pkcs8', format: 'pem' });
  const pubPem = publicKeyPem(publicKey);
  const created = env.now().toISOString();
  const name = options.name ?? `key-${id.slice(0, 8)}`;
  await writePrivate(join(dir, `${id}.key`), pem.toString());
  await writePrivate(join(dir, `${id}.pub`), pubPem);
  await writePrivate(join(dir, `${id}.json`), JSON.stringify({ created, encrypted, id, name }, null, 2) + '\n');
  const current = await readDefaultId(options.configDir);
  if (options.setDefault || current === undefined) await writePrivate(join(dir, 'default'), id + '\n');
  return { id, name, created, encrypted, publicKeyPem: pubPem, isDefault: options.setDefault === true || current === undefined, file: join(dir, `${id}.key`) };
}

/** Every key under the config dir, sorted by name then id. */
export async function listKeys(configDir: string): Promise<KeyInfo[]> {
  const dir = keysDir(configDir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fromFsError(e, dir, 'list keys in');
  }
  const defaultId = await readDefaultId(configDir);
  const out: KeyInfo[] = [];
  for (const n of names) {
    const m = /^([0-9a-f]{64})\.pub$/.exec(n);
    if (!m) continue;
    const id = m[1]!;
    const pem = await readText(join(dir, n));
    const meta = await readMeta(join(dir, `${id}.json`));
    out.push({
      id,
      name: meta.name ?? `key-${id.slice(0, 8)}`,
      created: meta.created ?? '',
      encrypted: meta.encrypted ?? false,
      publicKeyPem: pem,
      isDefault: id === defaultId,
      file: join(dir, `${id}.key`),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1));
}

/** Finds a key by full id, unique id prefix (≥ 4 hex chars) or name. */
export async function findKey(configDir: string, idOrName: string): Promise<KeyInfo> {
  const keys = await listKeys(configDir);
  const hits = keys.filter((k) => k.id === idOrName || k.name === idOrName || (idOrName.length >= 4 && k.id.startsWith(idOrName)));
  if (hits.length === 1) return hits[0]!;
  if (hits.length === 0) {
    throw new MlstoreError('NO_KEY', `no key ${JSON.stringify(idOrName)} in ${keysDir(configDir)}`, {
      hint: 'List keys with `mlstore key list`, or create one with `mlstore key generate`.',
    });
  }
  throw new MlstoreError('USAGE', `${JSON.stringify(idOrName)} matches ${hits.length} keys; give more of the id`);
}

/** The public PEM of a key (default key when `idOrName` is omitted). */
export async function exportPublicKey(configDir: string, idOrName?: string): Promise<string> {
  if (idOrName !== undefined) return (await findKey(configDir, idOrName)).publicKeyPem;
  const id = await readDefaultId(configDir);
  if (id === undefined) throw noKey(configDir);
  return (await findKey(configDir, id)).publicKeyPem;
}

export interface LoadKeyOptions {
  /** Config dir for the default key; defaults to `defaultConfigDir(env)`. */
  configDir?: string;
  /** A private key file, or a key id/name under the config dir. Wins over the environment. */
  keyFile?: string;
  key?: string;
  /** Decrypts an encrypted key; falls back to `MLSTORE_SIGNING_KEY_PASSPHRASE`. */
  passphrase?: string;
}

/**
 * The key to sign with, in order: `keyFile`/`key` options, `MLSTORE_SIGNING_KEY` (PEM text, for CI
 * secrets), `MLSTORE_SIGNING_KEY_FILE`, the default key of the config dir.
 * Errors: NO_KEY (none configured, wrong passphrase), INSECURE_KEY (file readable by others).
 */
export async function loadSigningKey(env: Env, options: LoadKeyOptions = {}): Promise<SigningKey> {
  const passphrase = options.passphrase ?? env.vars['MLSTORE_SIGNING_KEY_PASSPHRASE'];
  const configDir = options.configDir ?? defaultConfigDir(env);
  if (options.keyFile !== undefined) return loadKeyFile(options.keyFile, passphrase);
  if (options.key !== undefined) return loadKeyFile((await findKey(configDir, options.key)).file, passphrase);
  const pemVar = env.vars['MLSTORE_SIGNING_KEY'];
  if (pemVar) return fromPem(pemVar, passphrase, 'MLSTORE_SIGNING_KEY');
  const fileVar = env.vars['MLSTORE_SIGNING_KEY_FILE'];
  if (fileVar) return loadKeyFile(fileVar, passphrase);
  const id = await readDefaultId(configDir);
  if (id === undefined) throw noKey(configDir);
  const key = await loadKeyFile(join(keysDir(configDir), `${id}.key`), passphrase);
  const meta = await readMeta(join(keysDir(configDir), `${id}.json`));
  return meta.name === undefined ? key : { ...key, name: meta.name };
}

export async function loadKeyFile(path: string, passphrase?: string): Promise<SigningKey> {
  await assertPrivateFileMode(path);
  return fromPem(await readText(path), passphrase, path);
}

/** Refuses a private key file that group or others may read or write (POSIX only). */
export async function assertPrivateFileMode(path: string): Promise<void> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new MlstoreError('NO_KEY', `private key file ${path} does not exist`, { details: { path } });
    }
    throw fromFsError(e, path, 'stat');
  }
  if (platform() === 'win32') return; // no POSIX modes; rely on the ACL of the user profile
  if ((mode & 0o077) !== 0) {
    throw new MlstoreError('INSECURE_KEY', `private key file ${path} is accessible by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')})`, {
      details: { path, mode: mode & 0o777 },
      hint: `Run \`chmod 600 ${path}\`; if others may already have copied it, generate a new key and untrust this one.`,
    });
  }
}

function fromPem(pem: string, passphrase: string | undefined, source: string): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(passphrase === undefined ? { key: pem, format: 'pem' } : { key: pem, format: 'pem', passphrase });
  } catch (e) {
    const encrypted = pem.includes('ENCRYPTED');
    throw new MlstoreError('NO_KEY', encrypted ? `cannot decrypt the private key from ${source}: ${passphrase === undefined ? 'a passphrase is needed' : 'wrong passphrase'}` : `${source} does not hold a PEM private key`, {
      cause: e,
      details: { source },
      hint: encrypted ? 'Pass --passphrase or set MLSTORE_SIGNING_KEY_PASSPHRASE.' : undefined,
    });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new MlstoreError('NO_KEY', `the key from ${source} is ${privateKey.asymmetricKeyType ?? 'unknown'}; mlstore signs with Ed25519 only`);
  }
  const publicKey = createPublicKey(privateKey);
  return { id: keyIdOf(publicKey), privateKey, publicKey, publicKeyPem: publicKeyPem(publicKey), source };
}

async function readDefaultId(configDir: string): Promise<string | undefined> {
  const path = join(keysDir(configDir), 'default');
  try {
    const id = (await readFile(path, 'utf8')).trim();
    return ID_RE.test(id) ? id : undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fromFsError(e, path, 'read');
  }
}

async function readMeta(path: string): Promise<{ name?: string; created?: string; encrypted?: boolean }> {
  try {
    const v = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    return {
      ...(typeof v['name'] === 'string' ? { name: v['name'] } : {}),
      ...(typeof v['created'] === 'string' ? { created: v['created'] } : {}),
      ...(typeof v['encrypted'] === 'boolean' ? { encrypted: v['encrypted'] } : {}),
    };
  } catch {
    return {}; // metadata is a convenience; the key files are the truth
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new MlstoreError('NO_KEY', `key file ${path} does not exist`, { details: { path } });
    }
    throw fromFsError(e, path, 'read');
  }
}

async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
  } catch (e) {
    throw fromFsError(e, dir, 'create');
  }
}

/** Write-then-rename so a crash never leaves half a key; mode 0600 from the first byte. */
async function writePrivate(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (e) {
    throw fromFsError(e, path, 'write');
  }
}

function noKey(configDir: string): MlstoreError {
  return new MlstoreError('NO_KEY', `no signing key configured (looked in ${keysDir(configDir)}, MLSTORE_SIGNING_KEY, MLSTORE_SIGNING_KEY_FILE)`, {
    hint: 'Create one with `mlstore key generate`, or set MLSTORE_SIGNING_KEY_FILE.',
  });
}
