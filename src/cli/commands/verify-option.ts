import { MlstoreError } from '../../errors.js';
import type { CliIo } from '../io.js';
import { userPath } from './shared.js';

/** `--verify [--policy F] [--trust-file F]` of checkout and pull, as the API's `verify` option. */
export function verifyOption(io: CliIo, opts: { verify?: boolean; policy?: string; trustFile?: string }): { verify?: { policyFile?: string; trustFile?: string } } {
  if (!opts.verify) {
    if (opts.policy || opts.trustFile) throw new MlstoreError('USAGE', '--policy and --trust-file only apply with --verify');
    return {};
  }
  return {
    verify: {
      ...(opts.policy ? { policyFile: userPath(io, opts.policy) } : {}),
      ...(opts.trustFile ? { trustFile: userPath(io, opts.trustFile) } : {}),
    },
  };
}
