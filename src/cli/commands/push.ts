import type { Command } from 'commander';
import { MlstoreError } from '../../errors.js';
import type { RefPushResult } from '../../api/push.js';
import { type CliIo, printJson, println } from '../io.js';
import { apiBase, globals, JSON_HELP, userPath } from './shared.js';
import { parseDuration } from './fsck.js';
import { shortId } from '../format.js';
import { parseJobs, rateLine, shortRef } from './transfer-flags.js';

export function registerPush(program: Command, io: CliIo): void {
  program
    .command('push')
    .description('upload branches and tags, and the objects they need, to a remote')
    .argument('[remote]', 'remote name (default: origin, or the only remote)')
    .argument('[revs...]', 'branches or tags to push (default: the current branch)')
    .option('--all', 'push every branch and tag')
    .option('-j, --jobs <n>', 'objects in flight at once (default 32 for S3, 16 for directories)')
    .option('-f, --force', 'allow non-fast-forward updates and moving tags')
    .option('--verify-remote', 'check every object on the remote (HEAD) and re-send what is missing')
    .option('--no-sign', "do not publish a signed ref state, even when a signing key is configured")
    .option('--key <key>', 'sign the ref state with this key (id, prefix or name) instead of the default')
    .option('--key-file <file>', 'sign the ref state with this private key file')
    .option('--refs-ttl <duration>', 'lifetime of the signed ref state, e.g. 12h, 30d (default 7d)')
    .option('--json', JSON_HELP)
    .addHelpText(
      'after',
      `
Only objects the remote lacks are sent, in dependency order (data, manifests, trees, commits,
signatures) and the refs last, so an interrupted push never leaves a remote ref pointing at
something missing; run it again to finish. Each upload carries its SHA-256 (ChecksumSHA256).
Refs move by compare-and-swap: a branch update that would drop someone else's commits is refused
unless --force. A local index remembers what the remote has; if the remote lost objects,
--verify-remote finds and re-sends them.
When a signing key is configured (as for commits), the remote's refs are then published as one
signed snapshot (refstate.json: every ref, a version that only increases, an expiry) that
fetch, pull and checkout --remote verify; see docs/security.md.

Examples:
  mlstore push
  mlstore push origin main dataset-v3
  mlstore push origin --all --jobs 64`,
    )
    .action(async (remote: string | undefined, revs: string[], opts: { all?: boolean; jobs?: string; force?: boolean; verifyRemote?: boolean; sign: boolean; key?: string; keyFile?: string; refsTtl?: string }, cmd: Command) => {
      const { push } = await import('../../api/push.js'); // lazy: the S3 SDK loads only when needed
      const { refStateSigners } = await import('../../api/ref-state-sync.js');
      const g = globals(cmd, io);
      const signers = opts.sign ? await refStateSigners(io.env, { ...(opts.key ? { key: opts.key } : {}), ...(opts.keyFile ? { keyFile: userPath(io, opts.keyFile) } : {}) }) : [];
      const ttlMs = opts.refsTtl !== undefined ? parseDuration(opts.refsTtl) : undefined;
      if (ttlMs !== undefined && ttlMs < 1000) throw new MlstoreError('USAGE', '--refs-ttl must be at least 1s');
      const r = await push({
        ...apiBase(g, io),
        ...(remote !== undefined ? { remote } : {}),
        revs,
        all: opts.all ?? false,
        force: opts.force ?? false,
        verifyRemote: opts.verifyRemote ?? false,
        signers,
        ...(ttlMs !== undefined ? { refsTtlSeconds: Math.ceil(ttlMs / 1000) } : {}),
        ...(opts.jobs !== undefined ? { jobs: parseJobs(opts.jobs) } : {}),
      });
      if (g.json) return printJson(io, { ok: true, ...r });
      if (g.quiet) return;
      println(io, `To ${r.remote} (${r.location})`);
      for (const ref of r.refs) println(io, refLine(ref));
      const o = r.objects;
      if (r.refState) println(io, `Signed ref state version ${r.refState.version} (expires ${r.refState.expires}).`);
      println(io, `Uploaded ${rateLine(o.uploaded, o.bytes, r.seconds)}.${o.present ? ` ${o.present} already there.` : ''}${o.repaired ? ` ${o.repaired} repaired.` : ''}`);
    });
}

function refLine(r: RefPushResult): string {
  const name = shortRef(r.ref);
  switch (r.status) {
    case 'created':
      return ` * [new ${r.ref.startsWith('refs/tags/') ? 'tag' : 'branch'}]  ${name} (${shortId(r.new)})`;
    case 'up-to-date':
      return ` = ${name} (up to date)`;
    case 'forced':
      return ` + ${shortId(r.old!)}...${shortId(r.new)}  ${name} (forced)`;
    default:
      return `   ${shortId(r.old!)}..${shortId(r.new)}  ${name}`;
  }
}
