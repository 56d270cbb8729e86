import type { Command } from 'commander';
import { type CliIo, printJson, println } from '../io.js';
import { apiBase, globals, userPath } from './shared.js';
import { shortId, showText } from '../format.js';
import { ProblemsFound } from '../problems-found.js';

export function registerVerify(program: Command, io: CliIo): void {
  program
    .command('verify')
    .description('check a commit\'s signatures against the trust file and a policy')
    .argument('[rev]', 'the commit to verify', 'HEAD')
    .option('--policy <file>', 'policy JSON: threshold, requireCleanCode, requiredEnvironment, requireSignedInputs')
    .option('--trust-file <file>', 'another trust file (default $MLSTORE_TRUST_FILE or ./mlstore-trust.json)')
    .option('--json', 'print the decision document (input for OPA/Rego, Kyverno)')
    .addHelpText(
      'after',
      `
Exit 0 when the commit satisfies the policy, 1 when it does not (each failing check is listed).

Example policy (policy.json):
  {"threshold": 2, "requireCleanCode": true, "requiredEnvironment": ["file:requirements.txt"], "requireSignedInputs": true}
  mlstore verify dataset-v3 --policy policy.json`,
    )
    .action(async (rev: string, opts: { policy?: string; trustFile?: string }, cmd: Command) => {
      const g = globals(cmd, io);
      const { verify } = await import('../../api/verify.js');
      const d = await verify({ ...apiBase(g, io), rev, ...(opts.policy ? { policyFile: userPath(io, opts.policy) } : {}), ...(opts.trustFile ? { trustFile: userPath(io, opts.trustFile) } : {}) });
      if (g.json) printJson(io, d);
      else {
        println(io, `${d.ok ? 'OK' : 'FAILED'}: commit ${shortId(d.commit)}${d.refName ? ` (${d.refName})` : ''}, ${d.trustedSigners.length} trusted signer(s) of ${d.policy.threshold} required`);
        for (const c of d.checks) {
          if (!c.ok || !g.quiet) println(io, `  ${c.ok ? 'ok  ' : c.enforced ? 'FAIL' : 'warn'} ${c.check}: ${showText(c.reason)}`);
        }
      }
      if (!d.ok) throw new ProblemsFound();
    });
}
