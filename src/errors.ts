/**
 * Every failure mlstore reports on purpose is an MlstoreError with a stable string `code`.
 * Tests and scripts match on the code, never on the message text. The CLI maps codes to exit
 * codes in one place (src/cli/exit-codes.ts): "the data is bad" (1) is kept apart from "the
 * check could not run" (3), so a cron job can tell them apart.
 */

/** Problems with stored data or its trust: verification found something wrong (exit 1). */
export const DATA_CODES = [
  'CORRUPT_OBJECT', // bytes do not hash to their name, or a metadata object fails strict parsing
  'MISSING_OBJECT', // an object that a ref/tree/manifest references is not in the store
  'WRONG_OBJECT_KIND', // an object was found where another kind was expected
  'BAD_SIGNATURE',
  'UNTRUSTED_SIGNER',
  'POLICY_VIOLATION',
  'ROLLBACK', // a remote served an older signed ref state than one already seen
  'EXPIRED', // signed state or key past its expiry
  'TAMPERED', // anything else that proves data was altered
  'PROBLEMS_FOUND', // fsck / verify found problems (details carry them)
] as const;

/** The user asked for something impossible or malformed (exit 2). */
export const USAGE_CODES = [
  'USAGE',
  'BAD_PATH',
  'BAD_NAME',
  'BAD_REV',
  'UNKNOWN_REV',
  'AMBIGUOUS_REV',
  'NOT_A_REPOSITORY',
  'ALREADY_EXISTS',
  'NOTHING_TO_COMMIT',
  'LOCAL_CHANGES', // checkout would overwrite uncommitted workspace changes
  'BAD_CONFIG',
  'NO_SUCH_REMOTE',
  'NO_KEY',
  'INSECURE_KEY', // a private key file is readable by group/others: refused, fix with chmod 600
  'NOT_FAST_FORWARD', // a branch update that loses commits or a tag move, without --force
] as const;

/** The operation could not run (exit 3). */
export const OPERATIONAL_CODES = [
  'IO_ERROR',
  'UNREADABLE_OBJECT', // present but could not be read (permissions, I/O) — not the same as corrupt
  'FILE_CHANGED', // a file changed while it was being read
  'LOCKED',
  'REMOTE_UNREACHABLE',
  'REMOTE_AUTH',
  'REMOTE_NOT_FOUND',
  'REMOTE_FORBIDDEN',
  'REMOTE_FORMAT', // the remote was written by an unknown or newer format version
  'REF_CONFLICT', // compare-and-swap of a ref lost a race
  'UNSUPPORTED_FORMAT',
  'NO_SPACE',
  'LIMIT_EXCEEDED',
  'INTERNAL',
] as const;

export const INTERRUPTED_CODES = ['INTERRUPTED'] as const;

export type DataCode = (typeof DATA_CODES)[number];
export type UsageCode = (typeof USAGE_CODES)[number];
export type OperationalCode = (typeof OPERATIONAL_CODES)[number];
export type ErrorCode = DataCode | UsageCode | OperationalCode | (typeof INTERRUPTED_CODES)[number];

export interface ErrorOptions {
  /** Machine-readable context (object id, path, remote name …); rendered in --json output. */
  details?: Record<string, unknown>;
  cause?: unknown;
  /** What the user should do about it; printed after the message. */
  hint?: string;
}

export class MlstoreError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MlstoreError';
    this.code = code;
    this.details = options.details ?? {};
    this.hint = options.hint;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, hint: this.hint, details: this.details };
  }
}

export function isMlstoreError(e: unknown, code?: ErrorCode): e is MlstoreError {
  return e instanceof MlstoreError && (code === undefined || e.code === code);
}

/** Turns an fs error into an MlstoreError that names the path; disk full gets its own code. */
export function fromFsError(e: unknown, path: string, action: string): MlstoreError {
  if (e instanceof MlstoreError) return e;
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ENOSPC' || errno === 'EDQUOT') {
    return new MlstoreError('NO_SPACE', `No space left on device while trying to ${action} ${path}`, {
      cause: e,
      details: { path },
      hint: 'Free some disk space and run the command again; nothing already stored was changed.',
    });
  }
  return new MlstoreError('IO_ERROR', `Could not ${action} ${path}: ${(e as Error)?.message ?? String(e)}`, {
    cause: e,
    details: { path, errno },
  });
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new MlstoreError('INTERRUPTED', 'Interrupted', { cause: signal.reason });
  }
}
