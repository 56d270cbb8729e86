import type { Command } from 'commander';
import type { RemoteInfo } from '../../api/remote.js';

// lazy: the S3 SDK loads only when a remote command runs
const api = () => import('../../api/remote.js');
import { type CliIo, printJson, println } from '../io.js';
import { apiBase, globals, JSON_HELP } from './shared.js';
import { shortId } from '../format.js';
import { MlstoreError } from '../../errors.js';

export function registerRemote(program: Command, io: CliIo): void {
  const remote = program
    .command('remote')
    .description('add, list or remove remotes (S3 buckets and shared directories)')
    .option('--json', JSON_HELP)
    .addHelpText(
      'after',
      `
A remote is an S3-compatible bucket (AWS, MinIO, Ceph) or a shared directory holding the same
layout as .mlstore/. S3 credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or from
the AWS default chain (AWS_PROFILE, ~/.aws/credentials, SSO, instance role).

Examples:
  mlstore remote add origin s3://ml-data/team-a
  mlstore remote add minio s3://datasets --endpoint http://127.0.0.1:9000 --path-style
  mlstore remote add nas /mnt/shared/mlstore
  mlstore remote list`,
    )
    .action(async (_opts: unknown, cmd: Command) => printList(io, cmd, await (await api()).remoteList(apiBase(globals(cmd, io), io))));

  remote
    .command('add')
    .description('add a remote')
    .argument('<name>', 'a short name, e.g. origin')
    .argument('<url>', 's3://bucket[/prefix], file:///absolute/path or a directory path')
    .option('--endpoint <url>', 'S3 endpoint for MinIO, Ceph, other clouds (e.g. http://127.0.0.1:9000)')
    .option('--region <region>', 'S3 region (default: AWS_REGION or us-east-1)')
    .option('--path-style', 'path-style S3 addressing (default with --endpoint)')
    .option('--no-path-style', 'virtual-host S3 addressing')
    .option('--timeout <seconds>', 'per-request timeout (default 120)')
    .option('--json', JSON_HELP)
    .action(async (name: string, url: string, opts: { endpoint?: string; region?: string; pathStyle?: boolean; timeout?: string }, cmd: Command) => {
      const g = globals(cmd, io);
      const timeout = opts.timeout === undefined ? undefined : Number(opts.timeout);
      if (timeout !== undefined && !(timeout > 0)) throw new MlstoreError('USAGE', `--timeout must be a positive number of seconds, got ${JSON.stringify(opts.timeout)}`);
      const info = await (await api()).remoteAdd({
        ...apiBase(g, io),
        name,
        url,
        cwd: g.dir,
        ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
        ...(opts.region !== undefined ? { region: opts.region } : {}),
        ...(opts.pathStyle !== undefined ? { pathStyle: opts.pathStyle } : {}),
        ...(timeout !== undefined ? { timeoutSeconds: timeout } : {}),
      });
      if (g.json) return printJson(io, { ok: true, remote: info });
      if (!g.quiet) println(io, `Added remote ${info.name}: ${info.url}`);
    });

  remote
    .command('list')
    .description('list remotes with their last known refs')
    .option('--json', JSON_HELP)
    .action(async (_opts: unknown, cmd: Command) => printList(io, cmd, await (await api()).remoteList(apiBase(globals(cmd, io), io))));

  remote
    .command('remove')
    .alias('rm')
    .description('forget a remote (its data is not touched)')
    .argument('<name>')
    .option('--json', JSON_HELP)
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const g = globals(cmd, io);
      await (await api()).remoteRemove({ ...apiBase(g, io), name });
      if (g.json) return printJson(io, { ok: true, removed: name });
      if (!g.quiet) println(io, `Removed remote ${name}`);
    });
}

function printList(io: CliIo, cmd: Command, remotes: RemoteInfo[]): void {
  const g = globals(cmd, io);
  if (g.json) return printJson(io, { ok: true, remotes });
  for (const r of remotes) {
    const opts = Object.entries(r.options).map(([k, v]) => `${k}=${String(v)}`);
    println(io, `${r.name}\t${r.url}${opts.length ? `\t(${opts.join(', ')})` : ''}`);
    for (const [ref, id] of Object.entries(r.refs)) println(io, `  ${ref.padEnd(30)} ${shortId(id)}`);
  }
}
