/**
 * `mlstore fsck`: proves that nothing stored was corrupted, lost or swapped, in the local store or
 * a remote, and says what each problem affects (docs/fsck.md). Read-only unless `repairFrom` is
 * given; then missing and corrupt objects are replaced by verified copies from that store, the bad
 * bytes quarantined, and the store re-checked until nothing more can be repaired.
 * @example
 *   const report = await fsck({ dir: '.', remote: 'origin', maxAgeMs: 30 * 86400_000 });
 *   for (const p of report.problems) console.log(p.severity, p.code, p.id, p.affected.paths);
 *   process.exitCode = report.ok ? 0 : 1;
 */
import { setMaxListeners } from 'node:events';
import { stat } from 'node:fs/promises';
import { defaultEnv, type Env } from '../env.js';
import { isMlstoreError, MlstoreError } from '../errors.js';
import { writeFileAtomic } from '../repository/atomic-file.js';
import { Repository } from '../repository/repository.js';
import { openRemote, Remote, REMOTE_MARKER_KEY } from '../repository/remote.js';
import { openBackend, parseLocation, type Backend, type S3BackendOptions } from '../storage/index.js';
import { defaultPolicy, readPolicy, readSeen, readTrustList, trustFilePath, type SeenRecord } from '../trust/index.js';
import { readLockFile } from '../workspace/lock-file.js';
import { seenFilePath } from './ref-state-sync.js';
import {
  checkStore,
  fsckStatus,
  isRepairable,
  parseShard,
  renderMetrics,
  repairObjects,
  validateSample,
  type CheckStoreResult,
  type FsckReport,
  type Repair,
  type Severity,
  type Shard,
} from '../check/index.js';

export interface FsckOptions {
  /** A directory inside the repository; with a remote URL it may be outside any repository. */
  dir: string;
  env?: Env;
  signal?: AbortSignal;
  /** A remote name from the repository config, or a location (s3://bucket/prefix, a directory). Default: the local store. */
  remote?: string;
  /** Recompute every multi-chunk file's whole-file digest from its chunks. */
  full?: boolean;
  /** S3: compare the server-stored SHA-256 of each chunk with its id instead of downloading it. */
  fast?: boolean;
  /** Verify the bytes of this fraction (0, 1] of the chunks. */
  sample?: number;
  /** Seed of the sample (default: random, reported so a run can be repeated). */
  seed?: number;
  /** Skip chunks verified within this many milliseconds (remembered in the repository index). */
  maxAgeMs?: number;
  /** "I/N" or {index, count}: verify only the chunks of shard I of N. */
  shard?: string | Shard;
  /** Write Prometheus text-format metrics to this file (atomically). */
  metricsFile?: string;
  /** A remote name or location to copy good objects from, replacing missing and corrupt ones. */
  repairFrom?: string;
  trustFile?: string;
  policyFile?: string;
  /** Severity of unsigned/untrusted ref tips; 'auto' (default): error if a trust file exists, else warning. */
  signatureSeverity?: 'auto' | Severity | 'off';
  /** Warnings count as problems for `ok`. */
  strict?: boolean;
  /** Hashing threads (default: one per core; 0 hashes in the calling thread). */
  threads?: number;
}

interface Store {
  backend: Backend;
  localDir?: string;
  /** Key under which the index remembers verification times (differs per endpoint, bucket and prefix). */
  indexKey: string;
  /** The repository's own store (HEAD and mlstore.lock are roots). */
  isRepository: boolean;
  close(): Promise<void>;
}

const MAX_REPAIR_ROUNDS = 8;

export async function fsck(callerOptions: FsckOptions): Promise<FsckReport> {
  const env = callerOptions.env ?? defaultEnv();
  // Many reads in flight each listen on the signal: a private one, linked to the caller's, with room for them.
  const controller = new AbortController();
  setMaxListeners(1024, controller.signal);
  const outer = callerOptions.signal;
  const onAbort = (): void => controller.abort(outer?.reason);
  if (outer?.aborted) onAbort();
  else outer?.addEventListener('abort', onAbort, { once: true });
  const options: FsckOptions = { ...callerOptions, signal: controller.signal };
  try {
    return await runFsck(options, env);
  } finally {
    outer?.removeEventListener('abort', onAbort);
  }
}

async function runFsck(options: FsckOptions, env: Env): Promise<FsckReport> {
  const started = env.now();
  const shard = typeof options.shard === 'string' ? parseShard(options.shard) : options.shard;
  const sample = options.sample === undefined ? undefined : validateSample(options.sample, options.seed ?? randomSeed(env));
  if (options.maxAgeMs !== undefined && !(options.maxAgeMs >= 0)) throw new MlstoreError('USAGE', '--max-age must be a positive duration');
  const shardText = shard ? `${shard.index}/${shard.count}` : '0/1';
  let storeName = options.remote ?? options.dir;
  const writeMetrics = async (report: FsckReport | undefined, error?: string): Promise<void> => {
    if (!options.metricsFile) return;
    const finishedAt = env.now();
    const text = renderMetrics({ store: storeName, shard: shardText, finishedAt, durationMs: finishedAt.getTime() - started.getTime(), ...(report ? { report } : {}), ...(error ? { error } : {}) });
    await writeFileAtomic(options.metricsFile, text);
  };

  let repo: Repository | undefined;
  let target: Store | undefined;
  let source: Store | undefined;
  try {
    repo = await findRepository(options, env);
    target = await openStore(repo, options.remote, options.dir, env, options.signal);
    storeName = target.backend.location;
    if (options.fast && target.localDir !== undefined) {
      throw new MlstoreError('USAGE', '--fast needs a store that keeps SHA-256 checksums (S3); a directory is checked by reading it', { hint: 'Drop --fast: local reads are fast, or use --sample / --max-age.' });
    }
    if (options.repairFrom !== undefined) source = await openStore(repo, options.repairFrom, options.dir, env, options.signal);

    const trustFile = options.trustFile ?? env.vars['MLSTORE_TRUST_FILE'] ?? (repo ? trustFilePath(env, repo.root) : undefined);
    const trustExists = trustFile !== undefined && (await stat(trustFile).then(() => true, () => false));
    const trustList = trustExists ? await readTrustList(trustFile!) : { version: 1 as const, keys: [] };
    const policy = options.policyFile ? await readPolicy(options.policyFile) : defaultPolicy();
    const severity = options.signatureSeverity === undefined || options.signatureSeverity === 'auto' ? (trustExists ? 'error' : 'warning') : options.signatureSeverity;
    // the highest signed ref state push/fetch accepted from this remote (rollback check)
    const seen: SeenRecord | undefined = repo && !target.isRepository ? await readSeen(seenFilePath(repo), target.backend.location) : undefined;
    const index = repo ? await repo.index() : undefined;
    const notes: string[] = [];
    if (!index && (options.maxAgeMs !== undefined || repo)) {
      notes.push(
        options.maxAgeMs !== undefined
          ? 'the repository index is in use by another process or unavailable: --max-age could not skip anything, and verification times were not recorded'
          : 'the repository index is in use by another process or unavailable: verification times were not recorded',
      );
    }
    for (const n of notes) env.log.warn(n);

    const t = target;
    const run = async (): Promise<FsckReport> => {
      const rounds: CheckStoreResult[] = [];
      const repairs: Repair[] = [];
      const attempted = new Set<string>();
      for (let round = 0; round < MAX_REPAIR_ROUNDS; round++) {
        const result = await checkStore({
          backend: t.backend,
          ...(t.localDir !== undefined ? { localDir: t.localDir } : {}),
          ...(t.isRepository && repo ? { head: () => repo!.head(), lockFile: () => readLockFile(repo!.root) } : {}),
          trustList, policy, signatureSeverity: severity,
          ...(seen ? { seen } : {}),
          full: options.full ?? false,
          fast: options.fast ?? false,
          ...(sample ? { sample } : {}),
          ...(shard ? { shard } : {}),
          ...(options.maxAgeMs !== undefined ? { maxAgeMs: options.maxAgeMs } : {}),
          ...(index ? { index } : {}),
          storeKey: t.indexKey,
          ...(rounds.length > 0 ? { exclude: (id: string) => rounds.some((r) => r.verifiedChunk(id)) } : {}),
          now: () => env.now(),
          ...(options.signal ? { signal: options.signal } : {}),
          ...(env.progress ? { progress: env.progress } : {}),
          ...(options.threads !== undefined ? { threads: options.threads } : {}),
        });
        rounds.push(result);
        if (!source) break;
        const todo = result.problems.filter((p) => isRepairable(p) && !attempted.has(`${p.kind}:${p.id}`));
        if (todo.length === 0) break;
        for (const p of todo) attempted.add(`${p.kind}:${p.id}`);
        const done = await repairObjects(todo, { target: t.backend, source: source.backend, now: env.now(), ...(options.signal ? { signal: options.signal } : {}) });
        repairs.push(...done);
        if (!done.some((r) => r.action !== 'failed')) break;
      }
      return buildReport(rounds, repairs);
    };

    const buildReport = (rounds: CheckStoreResult[], repairs: Repair[]): FsckReport => {
      const first = rounds[0]!;
      const last = rounds[rounds.length - 1]!;
      const problems = last.problems;
      const counts = { ...last.counts, skipped: first.counts.skipped, problems: { error: 0, warning: 0, info: 0 } };
      counts.verified = { chunks: rounds.reduce((n, r) => n + r.counts.verified.chunks, 0), meta: last.counts.verified.meta };
      for (const p of problems) counts.problems[p.severity]++;
      const status = fsckStatus(problems, options.strict ?? false);
      const report: FsckReport = {
        ok: status === 'ok',
        complete: !problems.some((p) => p.class === 'incomplete'),
        store: t.backend.location,
        startedAt: started.toISOString(),
        durationMs: env.now().getTime() - started.getTime(),
        bytesChecked: rounds.reduce((n, r) => n + r.bytesChecked, 0),
        options: {
          full: options.full ?? false,
          fast: options.fast ?? false,
          ...(sample ? { sample } : {}),
          ...(shard ? { shard: shardText } : {}),
          ...(options.maxAgeMs !== undefined ? { maxAgeMs: options.maxAgeMs } : {}),
          signatureSeverity: severity,
          trustFile: trustExists ? trustFile! : null,
          ...(source ? { repairFrom: source.backend.location } : {}),
        },
        counts,
        ...(last.refState ? { refState: last.refState } : {}),
        problems,
        repairs,
        notes,
      };
      return report;
    };

    const report = source && repo && target.isRepository ? await repo.withLock('fsck --repair-from', run) : await run();
    await writeMetrics(report);
    return report;
  } catch (e) {
    await writeMetrics(undefined, isMlstoreError(e) ? e.code : 'INTERNAL').catch(() => {});
    throw e;
  } finally {
    await source?.close().catch(() => {});
    await target?.close().catch(() => {});
    await repo?.close().catch(() => {});
  }
}

/** The repository around `dir`, or undefined when there is none and the remote is a location. */
async function findRepository(options: FsckOptions, env: Env): Promise<Repository | undefined> {
  try {
    return await Repository.find(options.dir, { env });
  } catch (e) {
    const canRunWithout = options.remote !== undefined && looksLikeLocation(options.remote) && (options.repairFrom === undefined || looksLikeLocation(options.repairFrom));
    if (isMlstoreError(e, 'NOT_A_REPOSITORY') && canRunWithout) {
      if (options.maxAgeMs !== undefined) {
        throw new MlstoreError('USAGE', '--max-age remembers verification times in a repository index, and there is no repository here', {
          hint: 'Run fsck inside a repository (mlstore init creates one; it can stay empty), or drop --max-age.',
        });
      }
      return undefined;
    }
    throw e;
  }
}

function looksLikeLocation(spec: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(spec) || spec.startsWith('/') || spec.startsWith('.') || spec.includes('/');
}

/** The store to check: the repository's own, a remote named in its config, or a location. */
async function openStore(repo: Repository | undefined, spec: string | undefined, cwd: string, env: Env, signal?: AbortSignal): Promise<Store> {
  if (spec === undefined) {
    if (!repo) throw new MlstoreError('NOT_A_REPOSITORY', `${cwd} is not inside an mlstore repository`, { hint: 'Run inside a repository, or pass --remote LOCATION.' });
    return { backend: repo.backend, localDir: repo.dir, indexKey: 'local', isRepository: true, close: async () => {} };
  }
  let remote: Remote;
  if (repo && (repo.config.remotes[spec] || !looksLikeLocation(spec))) remote = openRemote(repo, spec);
  else if (looksLikeLocation(spec)) remote = remoteAt(spec, repo?.root ?? cwd, env);
  else throw new MlstoreError('NO_SUCH_REMOTE', `no remote named ${JSON.stringify(spec)} (and no repository here to name one)`, { details: { remote: spec } });
  try {
    if (!(await remote.checkFormat(signal))) {
      throw new MlstoreError('REMOTE_NOT_FOUND', `${remote.backend.location} is not an mlstore remote (it has no ${REMOTE_MARKER_KEY}; nothing was ever pushed there)`, {
        details: { remote: spec },
        hint: 'Check the name or location; a first push creates the remote.',
      });
    }
  } catch (e) {
    await remote.close().catch(() => {});
    throw remote.wrapError(e);
  }
  const loc = remote.location;
  return { backend: remote.backend, ...(loc.kind === 'local' ? { localDir: loc.path } : {}), indexKey: remote.indexId, isRepository: false, close: () => remote.close() };
}

/** A remote given by location rather than by name (runs without a repository too). */
function remoteAt(url: string, cwd: string, env: Env): Remote {
  const loc = parseLocation(url, cwd);
  const s3: Partial<S3BackendOptions> = {};
  if (loc.kind === 's3') {
    loc.region ??= env.vars['AWS_REGION'] ?? env.vars['AWS_DEFAULT_REGION'];
    const id = env.vars['AWS_ACCESS_KEY_ID'];
    const secret = env.vars['AWS_SECRET_ACCESS_KEY'];
    if (id && secret) {
      const token = env.vars['AWS_SESSION_TOKEN'];
      s3.credentials = { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
      s3.credentialSource = `the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables (key ${id.slice(0, 4)}…)`;
    }
    const { kind: _kind, ...fromLoc } = loc;
    Object.assign(s3, fromLoc);
  }
  const jobs = loc.kind === 's3' ? 32 : 16;
  const backend = openBackend(loc.kind === 'local' ? loc.path : `s3://${loc.bucket}/${loc.prefix}`, { concurrency: jobs, s3 });
  return new Remote(url, url, loc, backend, jobs);
}

function randomSeed(env: Env): number {
  const b = env.random(4);
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}
