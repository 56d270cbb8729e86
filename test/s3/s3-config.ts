/**
 * How the S3 tests find their server: test/s3/global-setup.ts provides either a config (from
 * MLSTORE_TEST_S3_* or a radosgw it started) or the reason there is none.
 */
import { inject } from 'vitest';

export interface S3TestConfig {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
  /** Where the server came from, e.g. "radosgw started by global-setup" or "MLSTORE_TEST_S3_*". */
  source: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3: S3TestConfig | null;
    s3SkipReason: string;
  }
}

export function s3Config(): { config: S3TestConfig | null; skipReason: string } {
  let config: S3TestConfig | null = null;
  let skipReason = 'the S3 global setup did not run (use the project vitest.config.ts)';
  try {
    config = inject('s3') ?? null;
    skipReason = inject('s3SkipReason') ?? skipReason;
  } catch {
    // not provided
  }
  return { config, skipReason };
}
