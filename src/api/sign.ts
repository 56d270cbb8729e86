/**
 * `mlstore sign REV`: adds a detached signature (a DSSE envelope over the commit's bytes) by one
 * key, e.g. a reviewer's approval, without changing the commit's id. Also provides the signers
 * `commit` uses when a key is configured.
 * @example
 *   await sign({ dir: '.', rev: 'main', key: 'reviewer' });
 */
import { defaultEnv, type Env } from '../env.js';
import { MlstoreError } from '../errors.js';
import {
  defaultConfigDir,
  encodeEnvelope,
  listKeys,
  loadSigningKey,
  signCommit,
  signerFor,
  type LoadKeyOptions,
  type SigningKey,
} from '../trust/index.js';
import type { CommitSigner } from './commit.js';
import { withRepository, sig, type CommonOptions } from './context.js';

export interface KeyChoice {
  /** A private key file (PKCS#8 PEM, mode 0600). */
  keyFile?: string;
  /** A key id, id prefix or name under the config dir. */
  key?: string;
  passphrase?: string;
  configDir?: string;
}

export interface SignOptions extends CommonOptions, KeyChoice {
  rev: string;
}

export interface SignResult {
  commit: string;
  keyId: string;
  keyName?: string;
  /** The key had already signed this commit (Ed25519 is deterministic: same envelope). */
  alreadySigned: boolean;
}

export async function sign(options: SignOptions): Promise<SignResult> {
  const env = options.env ?? defaultEnv();
  const key = await loadSigningKey(env, loadOptions(options));
  return withRepository(options, (repo) =>
    repo.withLock('sign', async () => {
      const id = await repo.resolveRev(options.rev, options.signal);
      const bytes = await repo.objects.readCommitBytes(id, sig(options.signal));
      const existing = await repo.listSignatures(id, options.signal);
      const alreadySigned = existing.some((s) => s.keyId === key.id);
      if (!alreadySigned) await repo.putSignature(id, key.id, encodeEnvelope(signCommit(bytes, signerFor(key))));
      await repo.backend.flush(sig(options.signal));
      return { commit: id, keyId: key.id, ...(key.name ? { keyName: key.name } : {}), alreadySigned };
    }),
  );
}

/**
 * The signers `commit` should use: the chosen key, else `MLSTORE_SIGNING_KEY(_FILE)`, else the
 * default key; [] when none is configured at all. A configured key that cannot be used (wrong
 * passphrase, file readable by others) is an error, never a silently unsigned commit.
 */
export async function commitSigners(env: Env = defaultEnv(), choice: KeyChoice = {}): Promise<CommitSigner[]> {
  const key = await configuredSigningKey(env, choice);
  return key ? [commitSignerFor(key)] : [];
}

/**
 * The signing key chosen by flags, `MLSTORE_SIGNING_KEY(_FILE)` or the default key; undefined
 * when none is configured at all (commit and push then stay unsigned). Shared by commit and
 * ref-state signing so both resolve keys the same way.
 */
export async function configuredSigningKey(env: Env, choice: KeyChoice = {}): Promise<SigningKey | undefined> {
  const options = loadOptions(choice);
  const configured =
    choice.keyFile !== undefined ||
    choice.key !== undefined ||
    Boolean(env.vars['MLSTORE_SIGNING_KEY']) ||
    Boolean(env.vars['MLSTORE_SIGNING_KEY_FILE']) ||
    (await listKeys(choice.configDir ?? defaultConfigDir(env))).some((k) => k.isDefault);
  return configured ? loadSigningKey(env, options) : undefined;
}

export function commitSignerFor(key: SigningKey): CommitSigner {
  const signer = signerFor(key);
  return {
    sign: async (_commitId, commitBytes) => ({ keyId: key.id, envelope: encodeEnvelope(signCommit(commitBytes, signer)) }),
  };
}

function loadOptions(choice: KeyChoice): LoadKeyOptions {
  if (choice.keyFile !== undefined && choice.key !== undefined) throw new MlstoreError('USAGE', 'give --key or --key-file, not both');
  return {
    ...(choice.keyFile === undefined ? {} : { keyFile: choice.keyFile }),
    ...(choice.key === undefined ? {} : { key: choice.key }),
    ...(choice.passphrase === undefined ? {} : { passphrase: choice.passphrase }),
    ...(choice.configDir === undefined ? {} : { configDir: choice.configDir }),
  };
}
