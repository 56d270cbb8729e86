import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isMlstoreError } from '../errors.js';
import { inSample, inShard, parseShard, shardOf, validateSample } from './selection.js';

const ids = Array.from({ length: 20_000 }, (_, i) => createHash('sha256').update(`obj${i}`).digest('hex'));

function usage(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (e) {
    return isMlstoreError(e, 'USAGE');
  }
}

describe('shards', () => {
  it('parses I/N and refuses anything else', () => {
    expect(parseShard('2/5')).toEqual({ index: 2, count: 5 });
    expect(parseShard(' 0/1 ')).toEqual({ index: 0, count: 1 });
    for (const bad of ['5/5', '1/0', '-1/3', '1', '1/2/3', 'a/b', '']) expect(usage(() => parseShard(bad)), bad).toBe(true);
  });

  it('N shards partition the ids: each in exactly one, and roughly evenly', () => {
    const n = 7;
    const counts = new Array<number>(n).fill(0);
    for (const id of ids) {
      const owners = Array.from({ length: n }, (_, i) => i).filter((i) => inShard(id, { index: i, count: n }));
      expect(owners).toEqual([shardOf(id, n)]);
      counts[owners[0]!]!++;
    }
    for (const c of counts) expect(Math.abs(c - ids.length / n)).toBeLessThan(ids.length / n / 10);
    expect(inShard(ids[0]!, undefined)).toBe(true);
  });
});

describe('samples', () => {
  it('validates fraction and seed', () => {
    expect(validateSample(0.1, 42)).toEqual({ fraction: 0.1, seed: 42 });
    for (const [f, s] of [[0, 1], [1.5, 1], [Number.NaN, 1], [0.5, -1], [0.5, 2 ** 32], [0.5, 1.5]] as const) {
      expect(usage(() => validateSample(f, s))).toBe(true);
    }
  });

  it('selects about the fraction asked, the same ids for the same seed, other ids for another', () => {
    const pick = (seed: number, fraction: number) => ids.filter((id) => inSample(id, { fraction, seed }));
    const a = pick(1, 0.1);
    expect(Math.abs(a.length - 2000)).toBeLessThan(200);
    expect(pick(1, 0.1)).toEqual(a);
    const b = pick(2, 0.1);
    const overlap = a.filter((id) => b.includes(id)).length;
    expect(overlap).toBeLessThan(400); // ~10 % of 10 % if independent
    expect(pick(1, 1)).toHaveLength(ids.length);
  });

  it('a sample within a shard is still that fraction of the shard (independent digits)', () => {
    const shard = ids.filter((id) => inShard(id, { index: 0, count: 4 }));
    const sampled = shard.filter((id) => inSample(id, { fraction: 0.25, seed: 9 }));
    expect(Math.abs(sampled.length - shard.length / 4)).toBeLessThan(shard.length / 4 / 5);
  });
});
