import type { Command } from 'commander';
import { type CliIo, printJson, println } from '../io.js';
import { apiBase, globals, JSON_HELP, userPath } from './shared.js';
import { shortId } from '../format.js';

export function registerSign(program: Command, io: CliIo): void {
  program
    .command('sign')
    .description('add your signature to an existing commit (co-sign; the commit id does not change)')
    .argument('<rev>', 'the commit to sign')
    .option('--key <key>', 'key id, prefix or name (default: the default key)')
    .option('--key-file <file>', 'a private key file (PKCS#8 PEM, mode 0600)')
    .option('--json', JSON_HELP)
    .addHelpText('after', '\nExample (a reviewer approves a dataset version):\n  mlstore sign dataset-v3 --key reviewer')
    .action(async (rev: string, opts: { key?: string; keyFile?: string }, cmd: Command) => {
      const g = globals(cmd, io);
      const { sign } = await import('../../api/sign.js');
      const r = await sign({ ...apiBase(g, io), rev, ...(opts.key ? { key: opts.key } : {}), ...(opts.keyFile ? { keyFile: userPath(io, opts.keyFile) } : {}) });
      if (g.json) return printJson(io, { ok: true, ...r });
      println(io, `Signed ${shortId(r.commit)} with ${shortId(r.keyId)}${r.keyName ? ` (${r.keyName})` : ''}.`);
    });
}
