import type { Command } from 'commander';
import { type CliIo, printJson, println } from '../io.js';
import { apiBase, globals, JSON_HELP, userPath } from './shared.js';
import { shortId, showText } from '../format.js';
import { signersFor } from './signers.js';

export function registerCommit(program: Command, io: CliIo): void {
  program
    .command('commit')
    .description('record the tracked files as a new version, with code and environment provenance')
    .requiredOption('-m, --message <msg>', 'what this version is')
    .option('--author <name>', 'author name (default: git config user.name)')
    .option('--email <email>', 'author email (default: git config user.email)')
    .option('--input <rev[:path]>', 'lineage: a version this one was produced from (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--allow-empty', 'record a commit even if nothing changed')
    .option('--no-sign', 'do not sign, even when a signing key is configured')
    .option('--key <key>', 'sign with this key (id, prefix or name) instead of the default')
    .option('--key-file <file>', 'sign with this private key file')
    .option('--verify', 're-read every file instead of trusting the stat cache')
    .option('--json', JSON_HELP)
    .addHelpText(
      'after',
      `
A commit records: the data tree; the Git HEAD of the code repository around it, whether the code
had uncommitted changes and a digest of them; an environment digest over lock files
(requirements*.txt, poetry.lock, uv.lock, Pipfile.lock, environment.yml, conda-lock.yml,
package-lock.json, pnpm-lock.yaml, Dockerfile), OS/arch and runtime versions; and --input edges.
It updates mlstore.lock: commit that file to Git so the code version names its data.

Examples:
  mlstore commit -m "cleaned labels"
  mlstore commit -m "model trained on v3" --input dataset-v3:data/train`,
    )
    .action(async (opts: { message: string; author?: string; email?: string; input: string[]; allowEmpty?: boolean; sign: boolean; verify?: boolean; key?: string; keyFile?: string }, cmd: Command) => {
      const { commit } = await import('../../api/commit.js'); // lazy: keeps `--help` and other commands fast
      const g = globals(cmd, io);
      const signers = opts.sign ? await signersFor(io, { ...(opts.key ? { key: opts.key } : {}), ...(opts.keyFile ? { keyFile: userPath(io, opts.keyFile) } : {}) }) : [];
      const result = await commit({
        ...apiBase(g, io),
        message: opts.message,
        author: { ...(opts.author ? { name: opts.author } : {}), ...(opts.email ? { email: opts.email } : {}) },
        inputs: opts.input,
        allowEmpty: opts.allowEmpty ?? false,
        verify: opts.verify ?? false,
        signers,
        system: io.system,
      });
      if (g.json) return printJson(io, { ok: true, ...result });
      if (g.quiet) return;
      const where = result.ref ? result.ref.replace('refs/heads/', '') : 'detached HEAD';
      println(io, `[${where} ${shortId(result.id)}] ${showText(result.commit.message.split('\n')[0]!)}`);
      println(io, `  ${result.files} file(s); code ${result.commit.code.commit ? shortId(result.commit.code.commit) : 'not in Git'}${result.commit.code.dirty ? ' (dirty)' : ''}; environment ${shortId(result.commit.environment.digest)}`);
      if (result.signedBy.length) println(io, `  signed by ${result.signedBy.map(shortId).join(', ')}`);
      else println(io, '  not signed (see `mlstore key generate`)');
    });
}
