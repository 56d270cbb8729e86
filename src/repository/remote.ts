/**
 * Named remotes: `.mlstore/config.json` maps a name to a URL (`s3://bucket/prefix`, `file:///abs`
 * or a plain directory path) and S3 settings. A remote holds the same key layout as the local
 * store (layout.ts) under its prefix, plus `mlstore-remote.json`, a format marker written by the
 * first push and checked on every access: a remote written by a newer or unknown format is refused
 * with REMOTE_FORMAT before any other key is read or written, so later formats (packs of small
 * objects) can be introduced without old clients misreading them.
 *
 * Credentials for S3 come from the injected environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
 * / AWS_SESSION_TOKEN) when set, otherwise from the AWS SDK's default chain (AWS_PROFILE and
 * ~/.aws/credentials, SSO, instance roles). Errors say which source was used.
 */
import { mkdir, stat } from 'node:fs/promises';
import { MlstoreError, isMlstoreError } from '../errors.js';
import { openBackend, parseLocation, type Backend, type BackendCapabilities, type ParsedLocation, type RetryOptions, type S3BackendOptions } from '../storage/index.js';
import { ObjectStore } from './object-store.js';
import { RefStore } from './refs.js';
import type { RemoteConfig, RepoConfig } from './config.js';
import type { Repository } from './repository.js';

export const REMOTE_MARKER_KEY = 'mlstore-remote.json';
/** The remote layout version this mlstore reads and writes. */
export const REMOTE_FORMAT_VERSION = 1;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Throws BAD_NAME unless `name` is a usable remote name (letters, digits, '.', '_', '-'). */
export function assertRemoteName(name: string): void {
  if (!NAME_RE.test(name) || name.endsWith('.lock') || name.includes('..')) {
    throw new MlstoreError('BAD_NAME', `invalid remote name ${JSON.stringify(name)}: use 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit`, {
      details: { remote: name },
    });
  }
}

export interface RemoteSettings {
  /** `s3://bucket/prefix`, `file:///abs/path` or an absolute directory path. */
  url: string;
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
  /** Per-request timeout in seconds (S3). */
  timeoutSeconds?: number;
}

/**
 * Validates settings for `remote add` and returns the config entry to store. A relative directory
 * path is made absolute against `cwd`, so the remote means the same place from any subdirectory.
 */
export function remoteConfigFrom(settings: RemoteSettings, cwd: string): RemoteConfig {
  const loc = parseLocation(settings.url, cwd);
  const options: Record<string, string | boolean> = {};
  if (loc.kind === 'local') {
    if (settings.endpoint !== undefined || settings.region !== undefined || settings.pathStyle !== undefined) {
      throw new MlstoreError('USAGE', '--endpoint, --region and --path-style apply to s3:// remotes only', { details: { url: settings.url } });
    }
    return { url: loc.path, ...(settings.timeoutSeconds !== undefined ? { options: { timeout: String(settings.timeoutSeconds) } } : {}) };
  }
  if (settings.endpoint !== undefined) {
    // Reuse the URL parser's endpoint checks.
    parseLocation(`s3://${loc.bucket}/?endpoint=${encodeURIComponent(settings.endpoint)}`);
    options['endpoint'] = settings.endpoint.replace(/\/+$/, '');
  }
  if (settings.region !== undefined) {
    parseLocation(`s3://${loc.bucket}/?region=${encodeURIComponent(settings.region)}`);
    options['region'] = settings.region;
  }
  if (settings.pathStyle !== undefined) options['pathStyle'] = settings.pathStyle;
  if (settings.timeoutSeconds !== undefined) {
    if (!(settings.timeoutSeconds > 0 && settings.timeoutSeconds <= 3600)) throw new MlstoreError('USAGE', 'timeout must be between 0 and 3600 seconds');
    options['timeout'] = String(settings.timeoutSeconds);
  }
  return { url: settings.url, ...(Object.keys(options).length ? { options } : {}) };
}

/** The remote a command without an explicit REMOTE uses: `origin`, else the only one configured. */
export function defaultRemoteName(config: RepoConfig): string {
  const names = Object.keys(config.remotes);
  if (config.remotes['origin']) return 'origin';
  if (names.length === 1) return names[0]!;
  if (names.length === 0) {
    throw new MlstoreError('NO_SUCH_REMOTE', 'no remote is configured', { hint: 'Add one: `mlstore remote add origin s3://bucket/prefix`.' });
  }
  throw new MlstoreError('USAGE', `${names.length} remotes are configured and none is called origin: name one (${names.sort().join(', ')})`);
}

export interface OpenRemoteOptions {
  /** Requests in flight at once. Default 32 for S3, 16 for a directory. */
  jobs?: number;
  /** Override the retry policy (tests). */
  retry?: RetryOptions | false;
}

/** An opened remote: its backend, objects and refs. Close it when done. */
export class Remote {
  readonly objects: ObjectStore;
  readonly refs: RefStore;
  #caps: BackendCapabilities | undefined;

  constructor(
    readonly name: string,
    readonly url: string,
    readonly location: ParsedLocation,
    readonly backend: Backend,
    readonly jobs: number,
  ) {
    this.objects = new ObjectStore(backend);
    this.refs = new RefStore(backend);
  }

  /** The key under which the local index remembers what this remote holds (changes with the URL). */
  get indexId(): string {
    const l = this.location;
    return l.kind === 'local' ? `file:${l.path}` : `s3:${l.endpoint ?? 'aws'}/${l.bucket}/${l.prefix}`;
  }

  async capabilities(): Promise<BackendCapabilities> {
    this.#caps ??= await this.backend.capabilities();
    return this.#caps;
  }

  /**
   * Checks the format marker. Returns false when the remote has none (nothing was ever pushed);
   * throws REMOTE_FORMAT for a newer or unreadable marker, REMOTE_NOT_FOUND for a missing directory.
   */
  async checkFormat(signal?: AbortSignal): Promise<boolean> {
    if (this.location.kind === 'local' && !(await isDirectory(this.location.path))) {
      throw new MlstoreError('REMOTE_NOT_FOUND', `the directory ${this.location.path} does not exist`, {
        details: { path: this.location.path },
        hint: 'Check the path (`mlstore remote list`), or push to it first.',
      });
    }
    const doc = await this.backend.getVersioned(REMOTE_MARKER_KEY, { maxBytes: 64 * 1024, ...(signal ? { signal } : {}) });
    if (!doc) return false;
    parseMarker(doc.bytes, this.backend.location);
    return true;
  }

  /** Like checkFormat, but writes the marker when it is missing (the first push). */
  async ensureFormat(now: Date, signal?: AbortSignal): Promise<void> {
    if (this.location.kind === 'local') {
      // A first push may create the directory; a fetch never does.
      await mkdir(this.location.path, { recursive: true }).catch(() => {});
    }
    if (await this.checkFormat(signal)) return;
    const marker = `${JSON.stringify({ format: REMOTE_FORMAT_VERSION, created: now.toISOString(), note: 'mlstore remote: objects/, refs/ (see docs/remotes.md)' })}\n`;
    const wrote = await this.backend.putIfVersion(REMOTE_MARKER_KEY, new TextEncoder().encode(marker), null, signal ? { signal } : {});
    if (!wrote && !(await this.checkFormat(signal))) {
      throw new MlstoreError('REMOTE_FORMAT', `could not create ${REMOTE_MARKER_KEY} in ${this.backend.location}`);
    }
  }

  /**
   * Adds the remote's name to an error about it, so every message says which remote failed.
   * Errors that name another location (the local store) pass through unchanged.
   */
  wrapError(e: unknown): unknown {
    if (!isMlstoreError(e) || e.code === 'INTERRUPTED' || e.details['remote'] !== undefined) return e;
    const where = e.details['location'];
    if (where !== undefined && where !== this.backend.location) return e;
    const err = new MlstoreError(e.code, `remote ${this.name}: ${e.message}`, {
      details: { ...e.details, remote: this.name },
      cause: e.cause ?? e,
      ...(e.hint !== undefined ? { hint: e.hint } : {}),
    });
    return err;
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}

function parseMarker(bytes: Uint8Array, location: string): void {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    raw = undefined;
  }
  const format = (raw as { format?: unknown } | undefined)?.format;
  if (raw === null || typeof raw !== 'object' || !Number.isSafeInteger(format) || (format as number) < 1) {
    throw new MlstoreError('REMOTE_FORMAT', `${location} has an unreadable ${REMOTE_MARKER_KEY}; it was not written by mlstore`, {
      details: { location },
      hint: 'Check the remote URL; do not push to a location another tool manages.',
    });
  }
  if (format !== REMOTE_FORMAT_VERSION) {
    throw new MlstoreError('REMOTE_FORMAT', `${location} uses remote format ${String(format)}; this mlstore reads format ${REMOTE_FORMAT_VERSION}`, {
      details: { location, format, supported: REMOTE_FORMAT_VERSION },
      hint: 'Upgrade mlstore to read this remote.',
    });
  }
}

/** Opens remote `name` (default: see defaultRemoteName) of `repo`. Does not touch the network yet. */
export function openRemote(repo: Repository, name: string | undefined, options: OpenRemoteOptions = {}): Remote {
  const remoteName = name ?? defaultRemoteName(repo.config);
  const cfg = repo.config.remotes[remoteName];
  if (!cfg) {
    const known = Object.keys(repo.config.remotes).sort();
    throw new MlstoreError('NO_SUCH_REMOTE', `no remote named ${JSON.stringify(remoteName)}`, {
      details: { remote: remoteName, known },
      hint: known.length ? `Configured remotes: ${known.join(', ')}.` : 'Add one: `mlstore remote add origin s3://bucket/prefix`.',
    });
  }
  if (typeof cfg.url !== 'string') throw new MlstoreError('BAD_CONFIG', `remote ${remoteName} in ${repo.dir}/config.json has no url`);
  const location = parseLocation(cfg.url, repo.root);
  const opts = cfg.options ?? {};
  const jobs = Math.max(1, Math.min(256, options.jobs ?? (location.kind === 's3' ? 32 : 16)));
  const timeout = opts['timeout'] !== undefined ? Number(opts['timeout']) : undefined;
  const vars = repo.env.vars;
  const s3: Partial<S3BackendOptions> = { maxSockets: Math.max(64, jobs) };
  if (location.kind === 's3') {
    if (typeof opts['endpoint'] === 'string') location.endpoint ??= opts['endpoint'];
    if (typeof opts['region'] === 'string') location.region ??= opts['region'];
    location.region ??= vars['AWS_REGION'] ?? vars['AWS_DEFAULT_REGION'];
    if (typeof opts['pathStyle'] === 'boolean') location.forcePathStyle ??= opts['pathStyle'];
    if (timeout !== undefined && Number.isFinite(timeout) && timeout > 0) s3.timeoutMs = Math.round(timeout * 1000);
    const id = vars['AWS_ACCESS_KEY_ID'];
    const secret = vars['AWS_SECRET_ACCESS_KEY'];
    if (id && secret) {
      const token = vars['AWS_SESSION_TOKEN'];
      s3.credentials = { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) };
      s3.credentialSource = `the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables (key ${id.slice(0, 4)}…)`;
    } else if (vars['AWS_PROFILE']) {
      s3.credentialSource = `the AWS default credential chain with AWS_PROFILE=${vars['AWS_PROFILE']}`;
    }
    const { kind: _kind, ...fromLoc } = location;
    Object.assign(s3, fromLoc);
  }
  const backend = openBackend(location.kind === 'local' ? location.path : `s3://${location.bucket}/${location.prefix}`, {
    concurrency: jobs,
    s3,
    local: { owner: { pid: repo.env.pid, isAlive: (pid) => repo.env.isAlive(pid) } }, // a directory remote's ref locks
    ...(options.retry !== undefined ? { retry: options.retry } : {}),
  });
  return new Remote(remoteName, cfg.url, location, backend, jobs);
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
