/** What the stat cache trusts, and when a freshly read file may not be cached (racily clean). */
import type { BigIntStats } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cacheMatches, isCacheable, parseIdentity, statIdentity } from './stat-cache.js';

const ms = (n: number) => BigInt(n) * 1_000_000n;
function st(over: Partial<Record<'size' | 'mtimeNs' | 'ctimeNs' | 'ino' | 'dev' | 'mode', bigint>> = {}): BigIntStats {
  return { size: 10n, mtimeNs: ms(1_000_000) + 123n, ctimeNs: ms(1_000_000) + 456n, ino: 7n, dev: 1n, mode: 0o100644n, ...over } as unknown as BigIntStats;
}

describe('stat cache', () => {
  it('matches only when size, mtime, ctime, inode, device and mode are all unchanged', () => {
    const cached = { identity: statIdentity(st()), size: 10, digest: 'd' };
    expect(cacheMatches(cached, statIdentity(st()))).toBe(true);
    for (const change of [{ size: 11n }, { mtimeNs: ms(1_000_000) + 124n }, { ctimeNs: ms(1_000_001) }, { ino: 8n }, { dev: 2n }, { mode: 0o100755n }]) {
      expect(cacheMatches(cached, statIdentity(st(change))), JSON.stringify(change, (_, v) => (typeof v === 'bigint' ? String(v) : v))).toBe(false);
    }
    expect(cacheMatches(undefined, statIdentity(st()))).toBe(false);
  });

  it('keeps every nanosecond and the full inode: no rounding through Number', () => {
    const big = st({ mtimeNs: 1_795_665_385_595_325_276n, ctimeNs: 1_795_665_385_595_325_277n, ino: 2n ** 63n + 5n });
    expect(statIdentity(big)).toBe(`10:1795665385595325276:1795665385595325277:${2n ** 63n + 5n}:1:33188`);
    const cached = { identity: statIdentity(big), size: 10, digest: 'd' };
    expect(cacheMatches(cached, statIdentity(st({ mtimeNs: 1_795_665_385_595_325_277n, ctimeNs: 1_795_665_385_595_325_277n, ino: 2n ** 63n + 5n })))).toBe(false);
    expect(cacheMatches(cached, statIdentity(st({ mtimeNs: 1_795_665_385_595_325_276n, ctimeNs: 1_795_665_385_595_325_277n, ino: 2n ** 63n + 4n })))).toBe(false);
    expect(parseIdentity(statIdentity(big))).toEqual({ size: 10n, mtimeNs: big.mtimeNs, ctimeNs: big.ctimeNs, ino: big.ino, dev: 1n, mode: 0o100644n });
  });

  it('a file changed within the racy window of its read is not cached', () => {
    const t = 1_000_000; // the file's ctime/mtime, in ms
    expect(isCacheable(st(), t + 50)).toBe(false);
    expect(isCacheable(st(), t + 101)).toBe(true);
  });

  it('whole-second timestamps (coarse file systems) need a window of more than 2 s', () => {
    const coarse = st({ mtimeNs: ms(1_000_000), ctimeNs: ms(1_000_000) });
    expect(isCacheable(coarse, 1_000_000 + 1_500)).toBe(false);
    expect(isCacheable(coarse, 1_000_000 + 2_200)).toBe(true);
  });
});
