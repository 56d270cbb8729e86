import type { Command } from 'commander';
import { type CliIo, printJson, println } from '../io.js';
import { apiBase, globals, JSON_HELP } from './shared.js';
import { verifyOption } from './verify-option.js';
import { formatBytes, shortId, showPath } from '../format.js';
import type { CheckoutSummary } from '../../api/checkout.js';

export function registerCheckout(program: Command, io: CliIo): void {
  program
    .command('checkout')
    .description('put the exact files of a version into the workspace (every chunk verified)')
    .argument('[rev]', 'branch, tag or commit (default: the commit in mlstore.lock)')
    .argument('[paths...]', 'only these files or directories')
    .option('-f, --force', 'replace or remove local changes (they are kept in .mlstore/discarded/)')
    .option('--verify', 'refuse the version unless it passes `mlstore verify` (signatures, trust, policy) — checked before any file is written')
    .option('--policy <file>', 'policy for --verify (default: one trusted signature)')
    .option('--trust-file <file>', 'trust file for --verify (default $MLSTORE_TRUST_FILE or ./mlstore-trust.json)')
    .option('--remote <name>', 'fetch REV from this remote first: its trees and only the data under PATHs')
    .option('--require-signed-refs', 'with --remote: refuse a remote that has no signed ref state')
    .option('--json', JSON_HELP)
    .addHelpText(
      'after',
      `
Refuses to overwrite or delete files changed since the last commit unless --force. With
--force those files are not destroyed: they are moved to .mlstore/discarded/<time>/<path> first
(a rename, no copy), since their bytes may exist nowhere else. Files are written to a temporary
file and renamed into place, so an interrupted checkout leaves no half-written files. Tracked
files that the version does not have are removed.

Examples:
  mlstore checkout dataset-v1
  mlstore checkout HEAD~1 data/val
  mlstore checkout --remote origin dataset-v3 data/val   # downloads only data/val's chunks
  git checkout v0.3 && mlstore checkout     # the data that code version was committed with`,
    )
    .action(async (rev: string | undefined, paths: string[], opts: { force?: boolean; remote?: string; verify?: boolean; policy?: string; trustFile?: string; requireSignedRefs?: boolean }, cmd: Command) => {
      const { checkout } = await import('../../api/checkout.js'); // lazy: keeps `--help` and other commands fast
      const g = globals(cmd, io);
      const r = await checkout({ ...apiBase(g, io), cwd: g.dir, ...(rev ? { rev } : {}), paths, force: opts.force ?? false, ...verifyOption(io, opts), ...(opts.remote !== undefined ? { remote: opts.remote } : {}), ...(opts.requireSignedRefs ? { requireSignedRefs: true } : {}) });
      if (g.json) return printJson(io, { ok: true, ...r });
      if (g.quiet) return;
      println(io, `Checked out ${shortId(r.id)}: ${r.written.length} file(s) written (${formatBytes(r.bytesWritten)}), ${r.removed.length} removed, ${r.unchanged} unchanged.`);
      printDiscarded(io, r.discarded);
    });
}

/** Where a forced checkout (or pull) kept the local changes it replaced or removed. */
export function printDiscarded(io: CliIo, discarded: CheckoutSummary['discarded']): void {
  if (!discarded) return;
  println(io, `Kept ${discarded.paths.length} local change(s) it replaced or removed in ${showPath(discarded.dir)}/ (each under its own path): move them back, or delete the directory once you no longer need them.`);
}
