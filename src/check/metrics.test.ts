import { describe, expect, it } from 'vitest';
import { renderMetrics } from './metrics.js';

describe('renderMetrics', () => {
  it('escapes label values and marks a run that could not complete', () => {
    const text = renderMetrics({ store: 's3://b/p"x\\y\nz', shard: '1/4', error: 'REMOTE_UNREACHABLE', finishedAt: new Date(1_700_000_000_500), durationMs: 1500 });
    expect(text).toContain('mlstore_fsck_completed{store="s3://b/p\\"x\\\\y\\nz",shard="1/4",error="REMOTE_UNREACHABLE"} 0\n');
    expect(text).toContain('mlstore_fsck_last_run_timestamp_seconds{store="s3://b/p\\"x\\\\y\\nz",shard="1/4"} 1700000000\n');
    expect(text).toContain('mlstore_fsck_duration_seconds{store="s3://b/p\\"x\\\\y\\nz",shard="1/4"} 1.5\n');
    expect(text).not.toContain('mlstore_fsck_ok');
    expect(text.endsWith('\n')).toBe(true);
    for (const line of text.trimEnd().split('\n')) expect(line).toMatch(/^# (HELP|TYPE) mlstore_fsck_\w+ .+$|^mlstore_fsck_\w+\{.*\} [0-9.]+$/);
  });
});
