import type { Command } from 'commander';
import { type CliIo, printJson, println } from '../io.js';
import { printDiscarded } from './checkout.js';
import { apiBase, globals, JSON_HELP } from './shared.js';
import { verifyOption } from './verify-option.js';
import { formatBytes, shortId } from '../format.js';
import { parseJobs, shortRef } from './transfer-flags.js';

export function registerPull(program: Command, io: CliIo): void {
  program
    .command('pull')
    .description('fetch a branch, tag or commit from a remote and check it out')
    .argument('[remote]', 'remote name (default: origin, or the only remote)')
    .argument('[rev]', 'remote branch, tag or commit (default: the current branch)')
    .option('-j, --jobs <n>', 'objects in flight at once (default 32 for S3, 16 for directories)')
    .option('--verify', 'refuse the version unless it passes `mlstore verify` (signatures, trust, policy) — checked before any file is written')
    .option('--policy <file>', 'policy for --verify (default: one trusted signature)')
    .option('--trust-file <file>', 'trust file for --verify (default $MLSTORE_TRUST_FILE or ./mlstore-trust.json)')
    .option('-f, --force', 'overwrite local changes; reset a diverged local branch or tag')
    .option('--require-signed-refs', 'refuse a remote that has no signed ref state')
    .option('--json', JSON_HELP)
    .addHelpText(
      'after',
      `
A branch is fetched with its history; the local branch of the same name is created or
fast-forwarded and HEAD moves onto it. For only one version's files (or only some paths), use
\`mlstore checkout --remote REMOTE REV [PATH...]\`, which fetches nothing else.

Examples:
  mlstore init && mlstore remote add origin s3://ml-data/team-a && mlstore pull
  mlstore pull origin dataset-v3`,
    )
    .action(async (remote: string | undefined, rev: string | undefined, opts: { jobs?: string; force?: boolean; verify?: boolean; policy?: string; trustFile?: string; requireSignedRefs?: boolean }, cmd: Command) => {
      const { pull } = await import('../../api/pull.js'); // lazy: the S3 SDK loads only when needed
      const g = globals(cmd, io);
      const r = await pull({
        ...apiBase(g, io),
        cwd: g.dir,
        ...(remote !== undefined ? { remote } : {}),
        ...(rev !== undefined ? { rev } : {}),
        force: opts.force ?? false,
        ...(opts.requireSignedRefs ? { requireSignedRefs: true } : {}),
        ...verifyOption(io, opts),
        ...(opts.jobs !== undefined ? { jobs: parseJobs(opts.jobs) } : {}),
      });
      if (g.json) return printJson(io, { ok: true, ...r });
      if (g.quiet) return;
      const what = r.ref ? shortRef(r.ref) : shortId(r.id);
      println(io, `Pulled ${what} (${shortId(r.id)}) from ${r.remote}: ${r.objects.downloaded} object(s), ${formatBytes(r.objects.bytes)} downloaded.`);
      if (r.local && r.local.status !== 'up-to-date') println(io, `  ${shortRef(r.local.ref)}: ${r.local.status}${r.local.old ? ` from ${shortId(r.local.old)}` : ''}`);
      const c = r.checkout;
      println(io, `  ${c.written.length} file(s) written (${formatBytes(c.bytesWritten)}), ${c.removed.length} removed, ${c.unchanged} unchanged.`);
      printDiscarded(io, c.discarded);
    });
}
