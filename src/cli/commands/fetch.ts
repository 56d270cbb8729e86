import type { Command } from 'commander';
import { type CliIo, printJson, println } from '../io.js';
import { apiBase, globals, JSON_HELP, userPath } from './shared.js';
import { shortId } from '../format.js';
import { parseJobs, rateLine, shortRef } from './transfer-flags.js';

export function registerFetch(program: Command, io: CliIo): void {
  program
    .command('fetch')
    .description("download a remote's branches and tags (verified) without changing the workspace")
    .argument('[remote]', 'remote name (default: origin, or the only remote)')
    .argument('[refs...]', 'only these remote branches or tags')
    .option('-j, --jobs <n>', 'objects in flight at once (default 32 for S3, 16 for directories)')
    .option('--require-signed-refs', 'refuse a remote that has no signed ref state')
    .option('--trust-file <file>', 'trust file for the signed ref state (default $MLSTORE_TRUST_FILE or ./mlstore-trust.json)')
    .option('--json', JSON_HELP)
    .addHelpText(
      'after',
      `
Every object is checked against its SHA-256 and size before it is stored; bad bytes are refused
and never cached. The remote's refs are remembered as remote-tracking refs (see
\`mlstore remote list\`); local branches do not move — use \`mlstore pull\` for that.
Before any remote ref is used, the remote's signed ref state is verified: a rolled-back, expired,
untrusted or inconsistent snapshot is refused (exit 1); a remote without one is used with a
warning unless --require-signed-refs (or one was seen there before: a downgrade, refused).

Examples:
  mlstore fetch
  mlstore fetch origin dataset-v3`,
    )
    .action(async (remote: string | undefined, refs: string[], opts: { jobs?: string; requireSignedRefs?: boolean; trustFile?: string }, cmd: Command) => {
      const { fetch } = await import('../../api/fetch.js'); // lazy: the S3 SDK loads only when needed
      const g = globals(cmd, io);
      const r = await fetch({
        ...apiBase(g, io),
        ...(remote !== undefined ? { remote } : {}),
        refs,
        ...(opts.requireSignedRefs ? { requireSignedRefs: true } : {}),
        ...(opts.trustFile !== undefined ? { trustFile: userPath(io, opts.trustFile) } : {}),
        ...(opts.jobs !== undefined ? { jobs: parseJobs(opts.jobs) } : {}),
      });
      if (g.json) return printJson(io, { ok: true, ...r });
      if (g.quiet) return;
      if (r.empty) return println(io, `Remote ${r.remote} (${r.location}) is empty.`);
      println(io, `From ${r.remote} (${r.location})`);
      for (const ref of r.refs) {
        if (ref.old === ref.new) continue;
        const name = shortRef(ref.ref);
        if (ref.new === null) println(io, ` - [deleted]  ${name}`);
        else if (ref.old === null) println(io, ` * [new]  ${name} (${shortId(ref.new)})`);
        else println(io, `   ${shortId(ref.old)}..${shortId(ref.new)}  ${name}`);
      }
      const o = r.objects;
      println(io, `Downloaded ${rateLine(o.downloaded, o.bytes, r.seconds)}.${o.rejectedSignatures ? ` Refused ${o.rejectedSignatures} malformed signature file(s).` : ''}`);
    });
}
