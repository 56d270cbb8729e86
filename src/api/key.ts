/**
 * `mlstore key …`: generate, list and export signing keys (stored under the user's config dir,
 * never in the repository), and trust/untrust public keys in the repository's trust file.
 * @example
 *   const k = await keyGenerate({ name: 'ci' });
 *   await keyTrust({ dir: '.', publicKeyPem: k.publicKeyPem, name: 'ci', scope: ['refs/heads/main'] });
 */
import { defaultEnv, type Env } from '../env.js';
import {
  defaultConfigDir,
  exportPublicKey,
  generateKey,
  keyIdOf,
  listKeys,
  readTrustList,
  trustFilePath,
  trustKey,
  untrustKey,
  writeTrustList,
  type KeyInfo,
  type TrustList,
} from '../trust/index.js';
import { withRepository, type CommonOptions } from './context.js';

export interface KeyStoreOptions {
  env?: Env;
  /** Default: `$MLSTORE_CONFIG_DIR`, `$XDG_CONFIG_HOME/mlstore` or `~/.config/mlstore`. */
  configDir?: string;
}

export interface KeyGenerateOptions extends KeyStoreOptions {
  name?: string;
  passphrase?: string;
  setDefault?: boolean;
}

export async function keyGenerate(options: KeyGenerateOptions = {}): Promise<KeyInfo> {
  const env = options.env ?? defaultEnv();
  return generateKey(env, {
    configDir: options.configDir ?? defaultConfigDir(env),
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.passphrase === undefined ? {} : { passphrase: options.passphrase }),
    ...(options.setDefault === undefined ? {} : { setDefault: options.setDefault }),
  });
}

export async function keyList(options: KeyStoreOptions = {}): Promise<KeyInfo[]> {
  const env = options.env ?? defaultEnv();
  return listKeys(options.configDir ?? defaultConfigDir(env));
}

/** The public PEM of a key (id, id prefix or name; default key when omitted). */
export async function keyExport(options: KeyStoreOptions & { key?: string } = {}): Promise<string> {
  const env = options.env ?? defaultEnv();
  return exportPublicKey(options.configDir ?? defaultConfigDir(env), options.key);
}

export interface TrustFileOptions extends CommonOptions {
  /** Overrides `$MLSTORE_TRUST_FILE` and `<repo root>/mlstore-trust.json`. */
  trustFile?: string;
}

export interface KeyTrustOptions extends TrustFileOptions {
  publicKeyPem: string;
  name: string;
  expires?: string;
  scope?: string[];
}

export interface TrustChange {
  id: string;
  trustFile: string;
  trustList: TrustList;
}

/** Adds (or replaces) a public key in the trust file; commit the file to Git afterwards. */
export async function keyTrust(options: KeyTrustOptions): Promise<TrustChange> {
  return editTrustFile(options, (list) =>
    trustKey(list, {
      publicKey: options.publicKeyPem,
      name: options.name,
      ...(options.expires === undefined ? {} : { expires: options.expires }),
      ...(options.scope === undefined || options.scope.length === 0 ? {} : { scope: options.scope }),
    }),
  ).then((r) => ({ ...r, id: keyIdOf(options.publicKeyPem) }));
}

/** Removes a key (id, id prefix or name) from the trust file: its signatures stop counting. */
export async function keyUntrust(options: TrustFileOptions & { key: string }): Promise<TrustChange> {
  let removed = '';
  const r = await editTrustFile(options, (list) => {
    const next = untrustKey(list, options.key);
    removed = list.keys.find((k) => !next.keys.includes(k))?.id ?? '';
    return next;
  });
  return { ...r, id: removed };
}

/** The trust file path and list a repository uses (flag, env var, repo root). */
export async function loadTrust(options: TrustFileOptions): Promise<{ trustFile: string; trustList: TrustList }> {
  const env = options.env ?? defaultEnv();
  const trustFile = options.trustFile ?? env.vars['MLSTORE_TRUST_FILE'] ?? (await withRepository(options, async (repo) => trustFilePath(env, repo.root)));
  return { trustFile, trustList: await readTrustList(trustFile) };
}

async function editTrustFile(options: TrustFileOptions, edit: (l: TrustList) => TrustList): Promise<Omit<TrustChange, 'id'>> {
  const { trustFile, trustList } = await loadTrust(options);
  const next = edit(trustList);
  await writeTrustList(trustFile, next);
  return { trustFile, trustList: next };
}
