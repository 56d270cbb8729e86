/**
 * Which keys sign a new commit. Until key management lands this returns no signer; src/trust
 * provides the implementation (configured key, MLSTORE_SIGNING_KEY, MLSTORE_SIGNING_KEY_FILE).
 */
import type { CommitSigner } from '../../api/commit.js';
import type { CliIo } from '../io.js';

export async function signersFor(_io: CliIo): Promise<CommitSigner[]> {
  return [];
}
