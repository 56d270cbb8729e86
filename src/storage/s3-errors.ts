/**
 * Maps AWS SDK v3 / network failures to MlstoreError codes, naming the endpoint or credential
 * source so the message says what to do. Transient failures (throttling, 5xx, resets, timeouts)
 * carry `details.retryable = true`, which is what RetryBackend acts on.
 */
import { MlstoreError } from '../errors.js';

export interface S3ErrorContext {
  op: string;
  key?: string;
  location: string;
  endpoint: string;
  credentialSource: string;
  signal?: AbortSignal | undefined;
  timedOut?: boolean;
  timeoutMs?: number;
}

const NETWORK_ERRNOS = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH',
  'EAI_AGAIN', 'ENOTFOUND', 'ENETDOWN', 'EPROTO', 'UND_ERR_SOCKET',
]);
const AUTH_CODES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'TokenRefreshRequired', 'InvalidClientTokenId']);
const RETRYABLE_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'RequestTimeTooSkewed', 'InternalError', 'ServiceUnavailable', 'TooManyRequests', 'RequestLimitExceeded']);

export function s3Status(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

export function s3Code(e: unknown): string | undefined {
  const err = e as { name?: string; Code?: string } | undefined;
  return err?.Code ?? err?.name;
}

export function mapS3Error(e: unknown, ctx: S3ErrorContext): MlstoreError {
  if (e instanceof MlstoreError) return e;
  const where = ctx.key === undefined ? ctx.location : `${ctx.key} in ${ctx.location}`;
  const status = s3Status(e);
  const code = s3Code(e);
  const errno = findErrno(e);
  const details: Record<string, unknown> = { op: ctx.op, location: ctx.location, endpoint: ctx.endpoint, status, s3Code: code };
  if (ctx.key !== undefined) details.key = ctx.key;

  if (ctx.signal?.aborted) return new MlstoreError('INTERRUPTED', 'Interrupted', { cause: ctx.signal.reason });
  if (ctx.timedOut) {
    return new MlstoreError('REMOTE_UNREACHABLE', `S3 ${ctx.op} of ${where} timed out after ${ctx.timeoutMs} ms (${ctx.endpoint})`, {
      cause: e,
      details: { ...details, retryable: true, timeout: true },
    });
  }
  if (code === 'CredentialsProviderError' || (e as Error | undefined)?.name === 'CredentialsProviderError') {
    return new MlstoreError('REMOTE_AUTH', `No S3 credentials found for ${ctx.location} (${ctx.credentialSource})`, {
      cause: e,
      details,
      hint: 'Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE naming a profile in ~/.aws/credentials.',
    });
  }
  if (status === undefined && errno !== undefined) {
    return new MlstoreError('REMOTE_UNREACHABLE', `Could not reach S3 endpoint ${ctx.endpoint} for ${ctx.op} of ${where}: ${errno}`, {
      cause: e,
      details: { ...details, errno, retryable: errno !== 'ENOTFOUND' },
      hint: 'Check the endpoint URL and your network connection.',
    });
  }
  if (code !== undefined && AUTH_CODES.has(code)) {
    return new MlstoreError('REMOTE_AUTH', `${ctx.endpoint} rejected the S3 credentials (${code}) from ${ctx.credentialSource}`, {
      cause: e,
      details,
      hint: 'Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the AWS profile in use) and that the key belongs to this endpoint.',
    });
  }
  if (code === 'AccessDenied' || code === 'AllAccessDisabled' || status === 403) {
    return new MlstoreError('REMOTE_FORBIDDEN', `Access denied to ${where} (${ctx.op})`, {
      cause: e,
      details,
      hint: 'The credentials are valid but lack permission; check the bucket policy / IAM role.',
    });
  }
  if (code === 'NoSuchBucket') {
    return new MlstoreError('REMOTE_NOT_FOUND', `The bucket of ${ctx.location} does not exist at ${ctx.endpoint}`, {
      cause: e,
      details,
      hint: 'Check the bucket name and region, or create the bucket.',
    });
  }
  if (code === 'NoSuchKey' || code === 'NotFound' || status === 404) {
    return new MlstoreError('MISSING_OBJECT', `${where} is missing`, { cause: e, details });
  }
  const retryable =
    status === 429 || (status !== undefined && status >= 500 && status !== 501) || (code !== undefined && RETRYABLE_CODES.has(code)) ||
    (status === undefined && isTransientSdkError(e));
  const msg = (e as Error | undefined)?.message ?? String(e);
  return new MlstoreError(
    retryable ? 'REMOTE_UNREACHABLE' : 'IO_ERROR',
    `S3 ${ctx.op} of ${where} failed: ${code ?? 'error'}${status ? ` (HTTP ${status})` : ''}: ${msg}`,
    { cause: e, details: { ...details, retryable } },
  );
}

function findErrno(e: unknown): string | undefined {
  for (let cur = e as { code?: unknown; cause?: unknown } | undefined, i = 0; cur && i < 5; cur = cur.cause as typeof cur, i++) {
    if (typeof cur.code === 'string' && NETWORK_ERRNOS.has(cur.code)) return cur.code;
  }
  return undefined;
}

function isTransientSdkError(e: unknown): boolean {
  const name = (e as Error | undefined)?.name;
  return name === 'TimeoutError' || name === 'RequestTimeout' || name === 'ECONNRESET';
}
