/**
 * The storage layer's public surface: the Backend contract, its implementations and decorators,
 * and `openBackend`, which turns a remote URL into a ready backend.
 */
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MlstoreError } from '../errors.js';
import { assertValidKey, type Backend } from './backend.js';
import { LimitBackend } from './limit-backend.js';
import { LocalBackend, type LocalBackendOptions } from './local-backend.js';
import { RetryBackend, type RetryOptions } from './retry-backend.js';
import type { S3BackendOptions } from './s3-backend.js';
import { DeferredBackend } from './deferred-backend.js';

export * from './backend.js';
export { MemoryBackend, type MemoryBackendOptions, type MemoryOp } from './memory-backend.js';
export { LocalBackend, type LocalBackendOptions, type LocalFs } from './local-backend.js';
// S3Backend itself is imported from './s3-backend.js' where needed: loading the AWS SDK costs
// ≈ 0.25 s, so openBackend defers it until an S3 location is actually used.
export type { S3BackendOptions } from './s3-backend.js';
export { DeferredBackend } from './deferred-backend.js';
export { RetryBackend, isRetryable, type RetryOptions } from './retry-backend.js';
export { LimitBackend, type LimitOptions } from './limit-backend.js';

export interface OpenBackendOptions {
  /** Base for relative plain paths; without it a relative path is a USAGE error. */
  cwd?: string;
  /** Operations in flight (LimitBackend). Default 32 for S3, 64 for local. */
  concurrency?: number;
  /** Retry settings, or false for none. Local directories are never retried. */
  retry?: RetryOptions | false;
  /** Extra S3 settings (credentials, timeouts …); URL parameters win over these. */
  s3?: Partial<S3BackendOptions>;
  local?: LocalBackendOptions;
}

export type ParsedLocation =
  | { kind: 'local'; path: string }
  | { kind: 's3'; bucket: string; prefix: string; endpoint?: string; region?: string; forcePathStyle?: boolean };

const S3_PARAMS = new Set(['endpoint', 'region', 'path-style']);
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses `s3://bucket/prefix?endpoint=…&region=…&path-style=true`, `file:///abs/path` or a plain
 * path. Throws BAD_CONFIG naming what is wrong.
 */
export function parseLocation(url: string, cwd?: string): ParsedLocation {
  // never echo credentials someone put in the URL (or in its endpoint) into logs
  const shown = url.replace(/\/\/[^/?#@]*@/g, '//…@').replace(/(%2F%2F)[^/?#&@]*(@|%40)/gi, '$1…$2');
  const bad = (why: string, hint?: string): MlstoreError =>
    new MlstoreError('BAD_CONFIG', `Invalid storage location ${JSON.stringify(shown)}: ${why}`, { details: { url: shown }, hint });
  if (url.trim() === '') throw bad('it is empty');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (isAbsolute(url)) return { kind: 'local', path: resolve(url) };
    if (cwd === undefined) throw bad('a relative path needs a working directory', 'Use an absolute path or a file:// URL.');
    return { kind: 'local', path: resolve(cwd, url) };
  }
  if (scheme === 'file') {
    let path: string;
    try {
      path = fileURLToPath(url);
    } catch (e) {
      throw bad(`not a local file URL (${(e as Error).message})`, 'Use file:///absolute/path.');
    }
    return { kind: 'local', path };
  }
  if (scheme !== 's3') throw bad(`unsupported scheme ${scheme}://`, 'Use s3://bucket/prefix, file:///path or a directory path.');
  const rawPath = url.slice('s3://'.length).split(/[?#]/)[0]!;
  if (rawPath.split('/').some((seg) => seg === '.' || seg === '..')) throw bad("'.' and '..' are not allowed in the prefix");
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad('not a URL');
  }
  const bucket = u.hostname;
  if (!BUCKET_RE.test(bucket) || bucket.includes('..')) throw bad(`bucket name ${JSON.stringify(bucket)} is not a valid S3 bucket name`);
  if (u.username || u.password) throw bad('credentials do not belong in the URL', 'Use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an AWS profile.');
  if (u.port) throw bad('put the port in ?endpoint=, not after the bucket');
  let prefix = decodeURIComponent(u.pathname).replace(/^\/+/, '');
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  if (prefix !== '') {
    try {
      assertValidKey(prefix.slice(0, -1));
    } catch {
      throw bad(`prefix ${JSON.stringify(prefix)} must be segments of [A-Za-z0-9._-] separated by '/'`);
    }
  }
  const out: ParsedLocation = { kind: 's3', bucket, prefix };
  for (const [name, value] of u.searchParams) {
    if (!S3_PARAMS.has(name)) throw bad(`unknown parameter ${name}`, 'Known parameters: endpoint, region, path-style.');
    if (name === 'endpoint') {
      let e: URL;
      try {
        e = new URL(value);
      } catch {
        throw bad(`endpoint ${JSON.stringify(value)} is not a URL`, 'Example: ?endpoint=http://127.0.0.1:9000');
      }
      if (e.protocol !== 'http:' && e.protocol !== 'https:') throw bad('endpoint must be http:// or https://');
      if (e.username || e.password) throw bad('credentials do not belong in the endpoint', 'Use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an AWS profile.');
      out.endpoint = value.replace(/\/+$/, '');
    } else if (name === 'region') {
      if (!/^[a-z0-9-]{1,40}$/.test(value)) throw bad(`region ${JSON.stringify(value)} is not a region name`);
      out.region = value;
    } else {
      if (value !== 'true' && value !== 'false') throw bad('path-style must be true or false');
      out.forcePathStyle = value === 'true';
    }
  }
  return out;
}

/** Opens the backend for a location, with retry (S3 only) and concurrency limits applied. */
export function openBackend(url: string, options: OpenBackendOptions = {}): Backend {
  const loc = parseLocation(url, options.cwd);
  if (loc.kind === 'local') {
    // a directory remote may be shared: never write through a symlink someone planted in it
    return new LimitBackend(new LocalBackend(loc.path, { noSymlinks: true, ...options.local }), { concurrency: options.concurrency ?? 64 });
  }
  const { kind: _kind, ...fromUrl } = loc;
  const s3Options: S3BackendOptions = { ...options.s3, ...fromUrl };
  const deferred = new DeferredBackend(`s3://${s3Options.bucket}/${s3Options.prefix ?? ''}`, async () => {
    const { S3Backend } = await import('./s3-backend.js');
    const s3 = new S3Backend(s3Options);
    return options.retry === false ? s3 : new RetryBackend(s3, options.retry);
  });
  return new LimitBackend(deferred, { concurrency: options.concurrency ?? 32 });
}
