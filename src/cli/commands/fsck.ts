import type { Command } from 'commander';
import type { FsckReport, Problem, Severity } from '../../check/index.js';
import { MlstoreError } from '../../errors.js';
import { type CliIo, printJson, println } from '../io.js';
import { ProblemsFound } from '../problems-found.js';
import { formatBytes, formatDuration, shortId, showPath } from '../format.js';
import { apiBase, globals, JSON_HELP } from './shared.js';

interface FsckFlags {
  remote?: string;
  full?: boolean;
  fast?: boolean;
  sample?: string;
  seed?: string;
  maxAge?: string;
  shard?: string;
  metrics?: string;
  repairFrom?: string;
  trustFile?: string;
  policy?: string;
  signatureSeverity?: string;
  strict?: boolean;
  verbose?: boolean;
  threads?: string;
}

export function registerFsck(program: Command, io: CliIo): void {
  program
    .command('fsck')
    .description('prove that nothing stored was corrupted, lost or swapped, and say what each problem affects')
    .option('--remote <name|location>', 'check a remote (a configured name, s3://bucket/prefix or a directory) instead of the local store')
    .option('--full', "also recompute every file's whole digest from its chunks")
    .option('--fast', "S3: compare the server's stored SHA-256 with each chunk's id instead of downloading it")
    .option('--sample <fraction>', 'verify the bytes of this fraction of the chunks, e.g. 0.05')
    .option('--seed <n>', 'seed of --sample (default random, printed so a run can be repeated)')
    .option('--max-age <duration>', 'skip chunks verified within this long, e.g. 30d, 12h (remembered per store)')
    .option('--shard <i/n>', 'verify only shard I of N (Kubernetes indexed Jobs: $JOB_COMPLETION_INDEX/N)')
    .option('--metrics <file>', 'write Prometheus text-format metrics to this file (atomically)')
    .option('--repair-from <remote>', 'replace missing or corrupt objects with verified copies from this store (bad ones go to quarantine/)')
    .option('--trust-file <file>', 'trust list (default $MLSTORE_TRUST_FILE, else mlstore-trust.json at the repository root)')
    .option('--policy <file>', 'verification policy applied to ref tips')
    .option('--signature-severity <level>', 'unsigned or untrusted ref tips: auto|error|warning|info|off (auto: error when a trust file exists, else warning)', 'auto')
    .option('--strict', 'warnings count as problems (exit 1)')
    .option('-v, --verbose', 'list every problem, information included')
    .option('--threads <n>', 'hashing threads (default: one per core)')
    .option('--json', JSON_HELP)
    .addHelpText(
      'after',
      `
Checks every object's bytes against its id, strict parsing of all metadata, connectivity from every
ref, HEAD, mlstore.lock and the signed ref state, file manifests, signatures and trust, and lists
dangling objects. Each problem names the commits, refs and paths it affects. See docs/fsck.md.

Exit codes: 0 clean · 1 problems found in the data · 3 could not run, or some objects could not be read (and nothing bad was found).

Examples:
  mlstore fsck
  mlstore fsck --remote origin --max-age 30d --metrics /var/lib/node_exporter/mlstore.prom
  mlstore fsck --remote s3://bucket/data --shard 3/8 --json
  mlstore fsck --repair-from backup`,
    )
    .action(async (opts: FsckFlags, cmd: Command) => {
      const g = globals(cmd, io);
      // lazy, like every command: the check layer (and the index) load only when fsck runs
      const [{ fsck }, { fsckStatus }] = await Promise.all([import('../../api/fsck.js'), import('../../check/report.js')]);
      const report = await fsck({
        ...apiBase(g, io),
        ...(opts.remote !== undefined ? { remote: opts.remote } : {}),
        full: opts.full ?? false,
        fast: opts.fast ?? false,
        ...(opts.sample !== undefined ? { sample: parseFraction(opts.sample) } : {}),
        ...(opts.seed !== undefined ? { seed: parseInteger(opts.seed, '--seed') } : {}),
        ...(opts.maxAge !== undefined ? { maxAgeMs: parseDuration(opts.maxAge) } : {}),
        ...(opts.shard !== undefined ? { shard: opts.shard } : {}),
        ...(opts.metrics !== undefined ? { metricsFile: opts.metrics } : {}),
        ...(opts.repairFrom !== undefined ? { repairFrom: opts.repairFrom } : {}),
        ...(opts.trustFile !== undefined ? { trustFile: opts.trustFile } : {}),
        ...(opts.policy !== undefined ? { policyFile: opts.policy } : {}),
        signatureSeverity: parseSeverity(opts.signatureSeverity ?? 'auto'),
        strict: opts.strict ?? false,
        ...(opts.threads !== undefined ? { threads: parseInteger(opts.threads, '--threads') } : {}),
      });
      if (g.json) printJson(io, report);
      else if (!g.quiet || !report.ok) printHuman(io, report, opts.verbose ?? false, g.quiet);
      // the local store's damaged chunks and manifests can be healed from the workspace (api/add.ts)
      const damaged = report.problems.filter((p) => p.severity === 'error' && (p.kind === 'chunk' || p.kind === 'file manifest') && p.affected.paths.length > 0);
      if (!g.json && opts.remote === undefined && opts.repairFrom === undefined && damaged.length > 0) {
        const paths = [...new Set(damaged.flatMap((p) => p.affected.paths))];
        io.stderr.write(`hint: if the workspace still has these files, \`mlstore add --verify ${paths.slice(0, 4).map(showPath).join(' ')}${paths.length > 4 ? ' …' : ''}\` stores them again; \`fsck --repair-from REMOTE\` restores them from a remote\n`);
      }
      // Bad data wins (exit 1); a run whose only failures are objects it could not read is exit 3.
      if (!report.ok) throw new ProblemsFound(fsckStatus(report.problems, opts.strict ?? false) === 'incomplete' ? 3 : 1);
    });
}

export function printHuman(io: CliIo, r: FsckReport, verbose: boolean, quiet: boolean): void {
  const c = r.counts;
  const secs = r.durationMs / 1000;
  const rate = secs > 0 ? ` (${formatBytes(r.bytesChecked / secs)}/s)` : '';
  const verdict = r.ok ? 'no problems' : r.complete ? 'PROBLEMS FOUND' : 'PROBLEMS FOUND (some objects could not be checked)';
  if (!quiet) {
    println(io, `fsck ${r.store}: ${verdict} — ${c.problems.error} error(s), ${c.problems.warning} warning(s), ${c.problems.info} info`);
    println(io, `  ${formatBytes(r.bytesChecked)} verified in ${formatDuration(r.durationMs)}${rate}`);
    const stored = c.storedBytes.chunks === null ? '' : ` (${formatBytes(c.storedBytes.chunks)})`;
    println(io, `  store: ${c.objects.chunks} chunks${stored}, ${c.objects.meta} metadata, ${c.objects.signatures} signatures; ${c.refs} ref(s), ${c.commits} commit(s) reachable`);
    const skipped = [
      c.skipped.recent ? `${c.skipped.recent} verified recently` : '',
      c.skipped.notSampled ? `${c.skipped.notSampled} not in the sample (seed ${r.options.sample?.seed})` : '',
      c.skipped.otherShards ? `${c.skipped.otherShards} in other shards` : '',
    ].filter(Boolean);
    println(io, `  verified: ${c.verified.chunks} chunks, ${c.verified.meta} metadata${skipped.length ? `; not read: ${skipped.join(', ')}` : ''}`);
    if (r.refState) println(io, `  signed ref state: version ${r.refState.version}, expires ${r.refState.expires}${r.refState.trusted ? '' : ' (not trusted)'}`);
  }
  if (!quiet) for (const n of r.notes) println(io, `  note: ${n}`);
  const groups: [Severity, string][] = [['error', 'ERRORS'], ['warning', 'WARNINGS'], ['info', 'INFO']];
  for (const [severity, title] of groups) {
    const list = r.problems.filter((p) => p.severity === severity);
    if (list.length === 0 || (quiet && severity !== 'error')) continue;
    println(io);
    println(io, `${title} (${list.length})`);
    if (severity === 'info' && !verbose && list.length > 10) {
      const byCode = new Map<string, number>();
      for (const p of list) byCode.set(`${p.code} ${p.kind}`, (byCode.get(`${p.code} ${p.kind}`) ?? 0) + 1);
      for (const [k, n] of byCode) println(io, `  ${k} ×${n}`);
      println(io, '  (--verbose lists them)');
      continue;
    }
    for (const p of list) printProblem(io, p);
  }
  if (r.repairs.length > 0) {
    println(io);
    println(io, `REPAIRS from ${r.options.repairFrom} (${r.repairs.length})`);
    for (const x of r.repairs) println(io, `  ${x.action.padEnd(8)} ${x.kind} ${x.id}${x.quarantined ? ` (bad copy: ${x.quarantined})` : ''}${x.action === 'failed' ? `: ${x.detail}` : ''}`);
  }
}

function printProblem(io: CliIo, p: Problem): void {
  println(io, `  ${p.code}  ${p.kind}${p.id ? ` ${p.id}` : p.key ? ` ${p.key}` : ''}`);
  println(io, `      ${p.detail}`);
  const a = p.affected;
  if (a.paths.length) println(io, `      paths:   ${list(a.paths.map(showPath), a.more?.paths)}`);
  if (a.commits.length) println(io, `      commits: ${list(a.commits.map(shortId), a.more?.commits)}`);
  if (a.refs.length) println(io, `      refs:    ${list(a.refs, 0)}`);
}

function list(items: string[], more: number | undefined): string {
  const shown = items.slice(0, 8);
  const rest = items.length - shown.length + (more ?? 0);
  return shown.join(', ') + (rest > 0 ? ` … and ${rest} more` : '');
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "30d", "12h", "1d12h", "90m", "45s" → milliseconds. */
export function parseDuration(text: string): number {
  const t = text.trim();
  let total = 0;
  let rest = t;
  while (rest.length > 0) {
    const m = /^(\d+)(ms|s|m|h|d|w)/.exec(rest);
    if (!m) throw new MlstoreError('USAGE', `cannot read ${JSON.stringify(text)} as a duration`, { hint: 'Write durations like 30d, 12h, 1d12h, 90m or 45s.' });
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  if (t.length === 0) throw new MlstoreError('USAGE', 'empty duration', { hint: 'Write durations like 30d or 12h.' });
  return total;
}

function parseFraction(text: string): number {
  const v = /^\d*\.?\d+(e-?\d+)?$/i.test(text.trim()) ? Number(text) : NaN;
  if (!(v > 0 && v <= 1)) throw new MlstoreError('USAGE', `--sample must be a fraction in (0, 1], got ${JSON.stringify(text)}`, { hint: 'E.g. --sample 0.05 for 5 %.' });
  return v;
}

function parseInteger(text: string, flag: string): number {
  if (!/^\d{1,10}$/.test(text.trim())) throw new MlstoreError('USAGE', `${flag} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

function parseSeverity(text: string): 'auto' | Severity | 'off' {
  if (['auto', 'error', 'warning', 'info', 'off'].includes(text)) return text as 'auto' | Severity | 'off';
  throw new MlstoreError('USAGE', `--signature-severity must be auto, error, warning, info or off, got ${JSON.stringify(text)}`);
}
