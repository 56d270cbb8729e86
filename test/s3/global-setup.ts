/**
 * vitest globalSetup: finds an S3 server for the S3 tests, in this order
 *  1. MLSTORE_TEST_S3_ENDPOINT/_ACCESS_KEY/_SECRET_KEY/_BUCKET (MinIO from docker-compose, AWS, a
 *     radosgw started by .ci/run) — used as given;
 *  2. a one-node Ceph radosgw started with test/s3/radosgw.sh, when `radosgw` is installed;
 *  3. none: the S3 tests report themselves skipped, and the reason is printed once here.
 * With MLSTORE_REQUIRE_S3=1 (CI), case 3 is a failure, so a CI run without S3 is never green.
 */
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import type { S3TestConfig } from './s3-config.js';

const run = promisify(execFile);
const script = join(dirname(fileURLToPath(import.meta.url)), 'radosgw.sh');

function parseExports(out: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const m of out.matchAll(/(MLSTORE_TEST_S3_[A-Z_]+)=(\S+)/g)) vars[m[1]!] = m[2]!;
  return vars;
}

function fromVars(vars: Record<string, string | undefined>, source: string): S3TestConfig | null {
  const { MLSTORE_TEST_S3_ENDPOINT: endpoint, MLSTORE_TEST_S3_ACCESS_KEY: accessKey, MLSTORE_TEST_S3_SECRET_KEY: secretKey, MLSTORE_TEST_S3_BUCKET: bucket } = vars;
  if (!endpoint || !accessKey || !secretKey || !bucket) return null;
  return { endpoint, accessKey, secretKey, bucket, region: vars.MLSTORE_TEST_S3_REGION ?? 'us-east-1', source };
}

async function hasRadosgw(): Promise<boolean> {
  try {
    await run('sh', ['-c', 'command -v radosgw']);
    return true;
  } catch {
    return false;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const require = process.env.MLSTORE_REQUIRE_S3 === '1';
  let config = fromVars(process.env, 'MLSTORE_TEST_S3_* environment');
  let reason = '';
  let teardown: (() => Promise<void>) | undefined;

  if (!config) {
    if (await hasRadosgw()) {
      const dir = await mkdtemp(join(tmpdir(), 'mlstore-rgw-'));
      const env = { ...process.env, MLSTORE_RGW_DIR: dir };
      try {
        const { stdout } = await run('bash', [script, 'start'], { env, timeout: 120_000 });
        config = fromVars(parseExports(stdout), 'radosgw started by test/s3/global-setup.ts');
        teardown = async () => {
          await run('bash', [script, 'stop'], { env, timeout: 60_000 }).catch(() => {});
        };
        if (!config) reason = `radosgw.sh start printed no MLSTORE_TEST_S3_* exports: ${stdout}`;
      } catch (e) {
        await run('bash', [script, 'stop'], { env, timeout: 60_000 }).catch(() => {});
        reason = `radosgw is installed but could not be started: ${(e as { stderr?: string }).stderr ?? String(e)}`;
      }
    } else {
      reason = 'no S3 server: MLSTORE_TEST_S3_* is not set and radosgw is not installed (bash test/s3/radosgw.sh install, or docker compose up for MinIO)';
    }
  }

  if (!config) {
    if (require) throw new Error(`MLSTORE_REQUIRE_S3=1 but ${reason}`);
    console.warn(`\n[mlstore] S3 tests SKIPPED — ${reason}\n`);
  }
  project.provide('s3', config);
  project.provide('s3SkipReason', reason);
  return teardown;
}
