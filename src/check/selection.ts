/**
 * Which objects a run verifies byte by byte, for periodic jobs on large stores:
 *  - shard I/N: an object belongs to shard (first 8 hex digits of its id as a number) mod N, so
 *    N workers (a Kubernetes indexed Job) cover every object exactly once, and each problem is
 *    reported by exactly one shard (the one owning the object it is about; shard 0 owns problems
 *    that have no object id, such as bad refs).
 *  - sample FRACTION with seed S: an object is in the sample when mix(S, id) / 2^32 < FRACTION.
 *    The same seed picks the same objects on every machine; a different seed picks others.
 * Both are pure functions of the id: no state, no coordination between workers.
 */
import { MlstoreError } from '../errors.js';

export interface Shard {
  index: number;
  count: number;
}

export interface Sample {
  fraction: number;
  seed: number;
}

/** Parses "I/N" (0 ≤ I < N). */
export function parseShard(text: string): Shard {
  const m = /^(\d{1,6})\/(\d{1,6})$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) {
    throw new MlstoreError('USAGE', `--shard must be I/N with 0 ≤ I < N, got ${JSON.stringify(text)}`, {
      hint: 'In a Kubernetes indexed Job: --shard $JOB_COMPLETION_INDEX/<completions>.',
    });
  }
  return { index, count };
}

export function validateSample(fraction: number, seed: number): Sample {
  if (!(fraction > 0 && fraction <= 1)) {
    throw new MlstoreError('USAGE', `--sample must be a fraction in (0, 1], got ${fraction}`, { hint: 'E.g. --sample 0.05 checks about 5 % of the objects.' });
  }
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new MlstoreError('USAGE', `--seed must be an integer from 0 to 4294967295, got ${seed}`);
  }
  return { fraction, seed };
}

export function shardOf(id: string, count: number): number {
  return Number.parseInt(id.slice(0, 8), 16) % count;
}

export function inShard(id: string, shard: Shard | undefined): boolean {
  return shard === undefined || shard.count === 1 || shardOf(id, shard.count) === shard.index;
}

/**
 * A 32-bit mix of the seed and id digits 8..15 (independent of the digits the shard uses, so a
 * sample within a shard is still a fraction of that shard). Finalizer of MurmurHash3.
 */
export function sampleValue(id: string, seed: number): number {
  let h = (Number.parseInt(id.slice(8, 16), 16) ^ seed) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export function inSample(id: string, sample: Sample | undefined): boolean {
  return sample === undefined || sample.fraction >= 1 || sampleValue(id, sample.seed) < sample.fraction * 0x100000000;
}
