/**
 * A Backend on an S3-compatible bucket (AWS, MinIO, Ceph radosgw) through @aws-sdk/client-s3 v3.
 * Key `k` is the object `<prefix>k` in the bucket.
 *
 * - Uploads are plain PutObject with a buffered body and `requestChecksumCalculation:
 *   'WHEN_REQUIRED'` (radosgw answers the SDK's default aws-chunked uploads with 411). When the
 *   caller knows the SHA-256, it is sent as `ChecksumSHA256` so servers that check it reject bad
 *   bytes in transit (radosgw accepts it unchecked; our re-hash on read is the real guard).
 * - `put` sends `If-None-Match: *`: a 412 means the immutable object is already there (success).
 *   A server that answers 501 to it gets plain PUTs from then on.
 * - Refs use `If-Match: <etag>` / `If-None-Match: *`. The ETag is sent unquoted (radosgw only
 *   matches the unquoted form; AWS and MinIO accept both). `capabilities()` probes once, under the
 *   prefix, whether the server really honours conditional writes; when it does not, CAS falls back
 *   to read-compare-write and `atomicCompareAndSwap` is false so the caller can warn.
 * - The SDK's own retries are off (`maxAttempts: 1`): RetryBackend is the single retry layer.
 * - Every request has a timeout (`timeoutMs`, default 120 s, covering the body download) and every
 *   download a hard size bound (`maxBytes`: checked against Content-Length and while streaming).
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { createHash, randomBytes } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type PutObjectCommandInput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { MlstoreError, throwIfAborted } from '../errors.js';
import {
  assertValidKey,
  missing,
  type Backend,
  type BackendCapabilities,
  type GetOptions,
  type ObjectInfo,
  type PutOptions,
  type Versioned,
} from './backend.js';
import { mapS3Error, s3Code, s3Status } from './s3-errors.js';

export interface S3BackendOptions {
  bucket: string;
  /** Key prefix inside the bucket: '' or segments ending in '/'. */
  prefix?: string;
  /** e.g. http://127.0.0.1:7480 for MinIO/radosgw; omitted for AWS. */
  endpoint?: string;
  region?: string;
  /** Path-style addressing (bucket in the path); needed by most non-AWS servers. */
  forcePathStyle?: boolean;
  /** Explicit credentials or a provider; omitted: the SDK default chain (env, profile, instance role). */
  credentials?: S3ClientConfig['credentials'];
  /** Where the credentials came from, for error messages. */
  credentialSource?: string;
  /** Per-request timeout including the body transfer. Default 120 s. */
  timeoutMs?: number;
  /** Sockets per host (should be ≥ the LimitBackend concurrency). Default 64. */
  maxSockets?: number;
  /** ListObjectsV2 page size (≤ 1000). */
  pageSize?: number;
  /** Skip the probe: true/false asserts whether conditional writes are honoured. */
  conditionalWrites?: boolean;
  /** Use this client instead of building one (its settings win). */
  client?: S3Client;
}

const PROBE_DIR = '.mlstore-probe';

export class S3Backend implements Backend {
  readonly location: string;
  readonly client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #endpoint: string;
  readonly #credentialSource: string;
  readonly #timeoutMs: number;
  readonly #pageSize: number | undefined;
  #conditional: boolean | undefined;
  #caps: Promise<BackendCapabilities> | undefined;

  constructor(options: S3BackendOptions) {
    const prefix = options.prefix ?? '';
    if (prefix !== '') {
      if (!prefix.endsWith('/')) throw new MlstoreError('BAD_CONFIG', `S3 prefix must end in '/': ${prefix}`);
      assertValidKey(prefix.slice(0, -1));
    }
    this.#bucket = options.bucket;
    this.#prefix = prefix;
    this.location = `s3://${options.bucket}/${prefix}`;
    const region = options.region ?? 'us-east-1';
    this.#endpoint = options.endpoint ?? `https://s3.${region}.amazonaws.com`;
    this.#credentialSource =
      options.credentialSource ??
      (options.credentials ? 'explicitly configured credentials' : 'the AWS default credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/credentials, instance role)');
    this.#timeoutMs = options.timeoutMs ?? 120_000;
    this.#pageSize = options.pageSize;
    this.#conditional = options.conditionalWrites;
    const maxSockets = options.maxSockets ?? 64;
    this.client =
      options.client ??
      new S3Client({
        region,
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
        ...(options.credentials ? { credentials: options.credentials } : {}),
        maxAttempts: 1,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        requestHandler: {
          connectionTimeout: 10_000,
          httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
          httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
        },
      });
  }

  capabilities(): Promise<BackendCapabilities> {
    this.#caps ??= this.#probe().catch((e: unknown) => {
      this.#caps = undefined;
      throw e;
    });
    return this.#caps;
  }

  async get(key: string, options: GetOptions = {}): Promise<Uint8Array> {
    const v = await this.getVersioned(key, options);
    if (!v) throw missing(key, this.location);
    return v.bytes;
  }

  async put(key: string, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    assertValidKey(key);
    const input: PutObjectCommandInput = { Bucket: this.#bucket, Key: this.#prefix + key, Body: bytes, ContentLength: bytes.length };
    if (options.sha256 !== undefined) input.ChecksumSHA256 = hexToBase64(options.sha256);
    if (this.#conditional !== false) {
      try {
        await this.#send('put', key, options.signal, (s) => this.client.send(new PutObjectCommand({ ...input, IfNoneMatch: '*' }), s));
        return;
      } catch (e) {
        if (isPreconditionFailed(e)) return; // already there: immutable, same bytes
        if (!isNotImplemented(e)) throw e;
        this.#conditional = false;
      }
    }
    await this.#send('put', key, options.signal, (s) => this.client.send(new PutObjectCommand(input), s));
  }

  async stat(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectInfo | undefined> {
    assertValidKey(key);
    try {
      const r = await this.#send('stat', key, options.signal, (s) =>
        this.client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key, ChecksumMode: 'ENABLED' }), s),
      );
      const info: ObjectInfo = { key, size: r.ContentLength ?? 0 };
      const sum = r.ChecksumSHA256;
      if (sum && !sum.includes('-') && r.ChecksumType !== 'COMPOSITE') info.sha256 = Buffer.from(sum, 'base64').toString('hex');
      return info;
    } catch (e) {
      if (isMlstoreMissing(e)) return undefined;
      throw await this.#explainHead403(e, key, options.signal);
    }
  }

  /** A HEAD 403 has no body, so no error code: ask again with a GET to tell bad credentials from denied access. */
  async #explainHead403(e: unknown, key: string, signal: AbortSignal | undefined): Promise<unknown> {
    if (!(e instanceof MlstoreError) || e.code !== 'REMOTE_FORBIDDEN' || e.details.s3Code === 'AccessDenied') return e;
    try {
      const r = await this.#send('stat', key, signal, (s) =>
        this.client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key, Range: 'bytes=0-0' }), s),
      );
      (r.Body as { destroy?: () => void } | undefined)?.destroy?.();
      return e;
    } catch (e2) {
      return e2 instanceof MlstoreError && e2.code !== 'MISSING_OBJECT' ? e2 : e;
    }
  }

  async *list(prefix: string, options: { signal?: AbortSignal } = {}): AsyncIterable<ObjectInfo> {
    if (prefix !== '') {
      if (!prefix.endsWith('/')) throw new MlstoreError('BAD_PATH', `list prefix must end in '/': ${prefix}`);
      assertValidKey(prefix.slice(0, -1));
    }
    let token: string | undefined;
    do {
      throwIfAborted(options.signal);
      const page = await this.#send('list', prefix, options.signal, (s) =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: this.#prefix + prefix,
            ...(token ? { ContinuationToken: token } : {}),
            ...(this.#pageSize ? { MaxKeys: this.#pageSize } : {}),
          }),
          s,
        ),
      );
      for (const o of page.Contents ?? []) {
        const key = o.Key?.slice(this.#prefix.length);
        if (key === undefined || !isValidKey(key) || key.startsWith(`${PROBE_DIR}/`)) continue;
        yield { key, size: o.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    assertValidKey(key);
    try {
      await this.#send('delete', key, options.signal, (s) => this.client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }), s));
    } catch (e) {
      if (!isMlstoreMissing(e)) throw e;
    }
  }

  async getVersioned(key: string, options: GetOptions = {}): Promise<Versioned | undefined> {
    assertValidKey(key);
    try {
      return await this.#send('get', key, options.signal, async (s) => {
        const r = await this.client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }), s);
        const body = r.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
        const limit = options.maxBytes;
        const tooBig = (size: number): MlstoreError => {
          body?.destroy?.();
          return new MlstoreError('LIMIT_EXCEEDED', `${key} in ${this.location} is ${size} bytes or more, above the limit of ${limit}`, {
            details: { key, size, maxBytes: limit, location: this.location },
          });
        };
        if (limit !== undefined && r.ContentLength !== undefined && r.ContentLength > limit) throw tooBig(r.ContentLength);
        const chunks: Uint8Array[] = [];
        let total = 0;
        for await (const chunk of body ?? []) {
          total += chunk.length;
          if (limit !== undefined && total > limit) throw tooBig(total);
          chunks.push(chunk);
        }
        return { bytes: concat(chunks, total), version: unquote(r.ETag ?? '') };
      });
    } catch (e) {
      if (isMlstoreMissing(e)) return undefined;
      throw e;
    }
  }

  async putIfVersion(key: string, bytes: Uint8Array, expected: string | null, options: PutOptions = {}): Promise<boolean> {
    assertValidKey(key);
    const caps = await this.capabilities();
    const input: PutObjectCommandInput = { Bucket: this.#bucket, Key: this.#prefix + key, Body: bytes, ContentLength: bytes.length };
    if (options.sha256 !== undefined) input.ChecksumSHA256 = hexToBase64(options.sha256);
    if (!caps.atomicCompareAndSwap) {
      // Best effort on servers without conditional writes: a race window remains (documented).
      const current = await this.stat(key, options).then((i) => (i ? this.#etag(key, options.signal) : null));
      if (current !== expected) return false;
    } else if (expected === null) {
      input.IfNoneMatch = '*';
    } else {
      input.IfMatch = unquote(expected);
    }
    try {
      await this.#send('update', key, options.signal, (s) => this.client.send(new PutObjectCommand(input), s));
      return true;
    } catch (e) {
      // 412: version moved; 409: a concurrent conditional write is in flight; 404: If-Match on a deleted key (AWS).
      if (isPreconditionFailed(e) || isConflict(e) || (expected !== null && isMlstoreMissing(e))) return false;
      if (caps.atomicCompareAndSwap && isServerError(e)) return this.#resolveAmbiguous(key, bytes, e, options.signal);
      throw e;
    }
  }

  async flush(options: { signal?: AbortSignal } = {}): Promise<void> {
    throwIfAborted(options.signal); // S3 acknowledges a PUT only once it is stored
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  async #etag(key: string, signal: AbortSignal | undefined): Promise<string | null> {
    try {
      const r = await this.#send('stat', key, signal, (s) => this.client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }), s));
      return unquote(r.ETag ?? '');
    } catch (e) {
      if (isMlstoreMissing(e)) return null;
      throw e;
    }
  }

  /**
   * radosgw answers the losers of a race of conditional PUTs on one key with 500 (its RADOS-level
   * compare failed) instead of 412. Whether the write landed is then read back: if the object's
   * ETag is the MD5 of our bytes, our write (or an identical one, which is the same outcome) is in
   * place; otherwise another writer won or nothing was written, and the caller re-reads.
   */
  async #resolveAmbiguous(key: string, bytes: Uint8Array, original: unknown, signal: AbortSignal | undefined): Promise<boolean> {
    const etag = await this.#etag(key, signal).catch(() => {
      throw original;
    });
    return etag === createHash('md5').update(bytes).digest('hex');
  }

  /** Puts, re-puts and overwrites a probe object to see which conditional writes are honoured. */
  async #probe(): Promise<BackendCapabilities> {
    const key = `${PROBE_DIR}/${randomBytes(8).toString('hex')}`;
    const full = this.#prefix + key;
    const body = new TextEncoder().encode('mlstore capability probe');
    const realSha = createHash('sha256').update(body).digest('base64');
    const send = (input: Partial<PutObjectCommandInput>) =>
      this.#send('probe', key, undefined, (s) =>
        this.client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: full, Body: body, ...input }), s),
      );
    const rejected = async (input: Partial<PutObjectCommandInput>): Promise<boolean> => {
      try {
        await send(input);
        return false;
      } catch (e) {
        if (isPreconditionFailed(e)) return true;
        if (isNotImplemented(e)) return false;
        throw e;
      }
    };
    try {
      await send({ ChecksumSHA256: realSha });
      let conditional = this.#conditional;
      if (conditional === undefined) {
        conditional = (await rejected({ IfNoneMatch: '*' })) && (await rejected({ IfMatch: 'mlstore-not-the-etag' }));
        this.#conditional ??= conditional;
      }
      const st = await this.stat(key);
      return { atomicCompareAndSwap: conditional, storedChecksums: st?.sha256 !== undefined };
    } finally {
      await this.delete(key).catch(() => {});
    }
  }

  /** Runs one SDK call with the timeout and caller's signal, mapping failures to MlstoreError. */
  async #send<T>(op: string, key: string, signal: AbortSignal | undefined, call: (o: { abortSignal: AbortSignal }) => Promise<T>): Promise<T> {
    throwIfAborted(signal);
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error('timeout'));
    }, this.#timeoutMs);
    const onAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await call({ abortSignal: controller.signal });
    } catch (e) {
      throw mapS3Error(e, {
        op,
        key,
        location: this.location,
        endpoint: this.#endpoint,
        credentialSource: this.#credentialSource,
        signal,
        timedOut,
        timeoutMs: this.#timeoutMs,
      });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

function isPreconditionFailed(e: unknown): boolean {
  const cause = e instanceof MlstoreError ? e.cause : e;
  return s3Status(cause) === 412 || s3Code(cause) === 'PreconditionFailed';
}

function isConflict(e: unknown): boolean {
  const cause = e instanceof MlstoreError ? e.cause : e;
  return s3Status(cause) === 409;
}

function isServerError(e: unknown): boolean {
  const status = s3Status(e instanceof MlstoreError ? e.cause : e);
  return status !== undefined && status >= 500 && status !== 501;
}

function isNotImplemented(e: unknown): boolean {
  const cause = e instanceof MlstoreError ? e.cause : e;
  return s3Status(cause) === 501 || s3Code(cause) === 'NotImplemented';
}

function isMlstoreMissing(e: unknown): boolean {
  return e instanceof MlstoreError && e.code === 'MISSING_OBJECT';
}

function isValidKey(key: string): boolean {
  try {
    assertValidKey(key);
    return true;
  } catch {
    return false;
  }
}

function unquote(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

function hexToBase64(hex: string): string {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new MlstoreError('USAGE', `sha256 must be 64 lowercase hex digits, got ${JSON.stringify(hex)}`);
  return Buffer.from(hex, 'hex').toString('base64');
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
