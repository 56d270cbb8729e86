/**
 * The fsck report as Prometheus text exposition format (version 0.0.4), for node_exporter's
 * textfile collector or any scraper of a .prom file. Every series carries `store` and `shard`
 * labels so N shards writing N files aggregate with sum(). A run that could not complete still
 * writes `mlstore_fsck_completed 0`, so a silent cron failure is an alert, not a gap.
 */
import { PROBLEM_CODES, type ProblemCode } from './problem.js';
import type { FsckReport } from './report.js';

export interface MetricsInput {
  store: string;
  shard: string;
  /** The finished report, or undefined when the run failed. */
  report?: FsckReport;
  /** Error code of a run that could not complete. */
  error?: string;
  finishedAt: Date;
  durationMs: number;
}

export function renderMetrics(m: MetricsInput): string {
  const base = { store: m.store, shard: m.shard };
  const lines: string[] = [];
  const metric = (name: string, help: string, type: 'gauge' | 'counter', samples: [Record<string, string>, number][]): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labelText({ ...base, ...labels })} ${formatValue(value)}`);
  };
  metric('mlstore_fsck_completed', '1 if the last fsck ran to the end, 0 if it could not run', 'gauge', [[m.error ? { error: m.error } : {}, m.report ? 1 : 0]]);
  metric('mlstore_fsck_last_run_timestamp_seconds', 'When the last fsck finished (Unix time)', 'gauge', [[{}, Math.floor(m.finishedAt.getTime() / 1000)]]);
  metric('mlstore_fsck_duration_seconds', 'How long the last fsck took', 'gauge', [[{}, m.durationMs / 1000]]);
  const r = m.report;
  if (r) {
    metric('mlstore_fsck_ok', '1 if the last fsck found no unrepaired error and checked everything it selected', 'gauge', [[{}, r.ok ? 1 : 0]]);
    metric('mlstore_fsck_bytes_checked', 'Bytes hashed by the last fsck', 'gauge', [[{}, r.bytesChecked]]);
    metric('mlstore_fsck_objects', 'Objects listed in the store', 'gauge', [
      [{ namespace: 'chunks' }, r.counts.objects.chunks],
      [{ namespace: 'meta' }, r.counts.objects.meta],
      [{ namespace: 'signatures' }, r.counts.objects.signatures],
    ]);
    metric('mlstore_fsck_objects_verified', 'Objects whose bytes the last fsck verified', 'gauge', [
      [{ namespace: 'chunks' }, r.counts.verified.chunks],
      [{ namespace: 'meta' }, r.counts.verified.meta],
    ]);
    metric('mlstore_fsck_objects_skipped', 'Chunks the last fsck did not read, by reason', 'gauge', [
      [{ reason: 'recent' }, r.counts.skipped.recent],
      [{ reason: 'not-sampled' }, r.counts.skipped.notSampled],
      [{ reason: 'other-shard' }, r.counts.skipped.otherShards],
    ]);
    metric('mlstore_fsck_commits', 'Commits reachable from the roots', 'gauge', [[{}, r.counts.commits]]);
    metric('mlstore_fsck_dangling_objects', 'Objects nothing reachable references', 'gauge', [[{}, r.counts.dangling]]);
    const byCode = new Map<ProblemCode, number>();
    for (const p of r.problems) byCode.set(p.code, (byCode.get(p.code) ?? 0) + 1);
    metric('mlstore_fsck_problems', 'Problems found by the last fsck, by severity', 'gauge', (['error', 'warning', 'info'] as const).map((s) => [{ severity: s }, r.counts.problems[s]]));
    metric(
      'mlstore_fsck_problems_by_code',
      'Problems found by the last fsck, by code (every code is present, 0 when none)',
      'gauge',
      (Object.keys(PROBLEM_CODES) as ProblemCode[]).map((c) => [{ code: c }, byCode.get(c) ?? 0]),
    );
    metric('mlstore_fsck_repaired_objects', 'Objects the last fsck repaired from another store', 'gauge', [[{}, r.repairs.filter((x) => x.action !== 'failed').length]]);
  }
  return `${lines.join('\n')}\n`;
}

function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function formatValue(v: number): string {
  return Number.isFinite(v) ? String(v) : 'NaN';
}
