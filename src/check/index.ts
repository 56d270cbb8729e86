/**
 * The check layer's public surface: one fsck pass over a store (a stream of findings with their
 * blast radius), the explicit repair step, the report shape, metrics rendering and selection.
 */
export { checkStore, type CheckStoreOptions, type CheckStoreResult, type VerificationIndex } from './check-store.js';
export { repairObjects, isRepairable, type RepairOptions } from './repair.js';
export { fsckStatus, type FsckReport, type FsckCounts, type FsckStatus, type Repair } from './report.js';
export { renderMetrics, type MetricsInput } from './metrics.js';
export { parseShard, validateSample, shardOf, inShard, inSample, type Shard, type Sample } from './selection.js';
export { PROBLEM_CODES, type Problem, type ProblemCode, type Severity, type ProblemClass, type Affected, type ObjectKindName } from './problem.js';
