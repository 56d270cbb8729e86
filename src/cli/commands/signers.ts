/**
 * Which keys sign a new commit: --key / --key-file, else MLSTORE_SIGNING_KEY(_FILE), else the
 * default key in the config dir; none configured → unsigned. A configured key that cannot be
 * used (wrong passphrase, mode 0644) is an error, never a silently unsigned commit.
 */
import type { CommitSigner } from '../../api/commit.js';
import type { CliIo } from '../io.js';

export async function signersFor(io: CliIo, choice: { key?: string; keyFile?: string } = {}): Promise<CommitSigner[]> {
  const { commitSigners } = await import('../../api/sign.js');
  return commitSigners(io.env, choice);
}
