/**
 * The fsck report: one JSON document (docs/fsck.md documents every field), and the exit status
 * it maps to. `ok` means no unrepaired error and nothing left unchecked that was asked for.
 */
import type { Problem, Severity } from './problem.js';

export interface FsckCounts {
  /** Objects listed in the store. */
  objects: { chunks: number; meta: number; signatures: number };
  /** Bytes stored: from the listing (S3), or for a directory from the objects read in this run (null when some were not). */
  storedBytes: { chunks: number | null; meta: number | null };
  /** Refs read (valid ones) and commits reached from all roots. */
  refs: number;
  commits: number;
  /** Objects whose bytes this run verified (chunks by the byte scan, metadata by the walk). */
  verified: { chunks: number; meta: number };
  /** Chunks whose bytes were not read: verified within --max-age, left out of --sample, owned by another --shard. */
  skipped: { recent: number; notSampled: number; otherShards: number };
  dangling: number;
  problems: Record<Severity, number>;
}

export interface Repair {
  /** The problem that was repaired (MISSING_OBJECT, HASH_MISMATCH …). */
  code: string;
  id: string;
  kind: string;
  key: string;
  action: 'restored' | 'replaced' | 'quarantined' | 'failed';
  /** Where the bad bytes were moved (replaced objects, quarantined pack indexes). */
  quarantined?: string;
  from: string;
  detail: string;
}

export interface FsckReport {
  ok: boolean;
  /** Every check that was asked for could be done (no unreadable objects, no missing server checksums). */
  complete: boolean;
  store: string;
  startedAt: string;
  durationMs: number;
  bytesChecked: number;
  options: {
    full: boolean;
    fast: boolean;
    sample?: { fraction: number; seed: number };
    shard?: string;
    maxAgeMs?: number;
    signatureSeverity: Severity | 'off';
    trustFile: string | null;
    repairFrom?: string;
  };
  counts: FsckCounts;
  refState?: { version: number; expires: string; trusted: boolean };
  problems: Problem[];
  repairs: Repair[];
  /** Things the operator should know about how the run went (e.g. --max-age without an index). */
  notes: string[];
}

export type FsckStatus = 'ok' | 'problems' | 'incomplete';

/**
 * problems: an error about the data (or, with `strict`, a warning); incomplete: otherwise,
 * something selected could not be checked; ok: neither. Data problems win because they are
 * what an operator must act on first.
 */
export function fsckStatus(problems: readonly Problem[], strict = false): FsckStatus {
  const failing = (p: Problem): boolean => p.severity === 'error' || (strict && p.severity === 'warning');
  if (problems.some((p) => p.class === 'data' && failing(p))) return 'problems';
  if (problems.some((p) => p.class === 'incomplete' && failing(p))) return 'incomplete';
  return 'ok';
}
