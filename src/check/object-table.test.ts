import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FLAG, ObjectTable } from './object-table.js';

const id = (n: number | string) => createHash('sha256').update(String(n)).digest('hex');

describe('ObjectTable', () => {
  it('adds, finds, flags and sizes ids, growing as needed', () => {
    const t = new ObjectTable(4);
    for (let i = 0; i < 50_000; i++) t.add(id(i), FLAG.PRESENT, i);
    expect(t.size).toBe(50_000);
    expect(t.has(id(123))).toBe(true);
    expect(t.has(id('absent'))).toBe(false);
    expect(t.sizeOf(id(49_999))).toBe(49_999);
    expect(t.sizeOf(id('absent'))).toBeUndefined();
    t.mark(id(7), FLAG.VERIFIED);
    t.add(id(7), FLAG.REFERENCED);
    expect(t.flags(id(7))).toBe(FLAG.PRESENT | FLAG.VERIFIED | FLAG.REFERENCED);
    t.unmark(id(7), FLAG.PRESENT);
    expect(t.flags(id(7))).toBe(FLAG.VERIFIED | FLAG.REFERENCED);
    expect(t.sizeOf(id(7))).toBe(7); // re-adding without a size keeps the size
    t.mark(id('absent'), FLAG.BAD); // no-op
    expect(t.has(id('absent'))).toBe(false);
  });

  it('an id added with flags 0 is still present; size 0 is a size', () => {
    const t = new ObjectTable();
    t.add(id('x'), 0, 0);
    expect(t.has(id('x'))).toBe(true);
    expect(t.flags(id('x'))).toBe(0);
    expect(t.sizeOf(id('x'))).toBe(0);
  });

  it('ids() filters by required and excluded flags', () => {
    const t = new ObjectTable();
    t.add(id(1), FLAG.PRESENT);
    t.add(id(2), FLAG.PRESENT | FLAG.REFERENCED);
    t.add(id(3), FLAG.REFERENCED);
    expect([...t.ids(FLAG.PRESENT)].sort()).toEqual([id(1), id(2)].sort());
    expect([...t.ids(FLAG.PRESENT, FLAG.REFERENCED)]).toEqual([id(1)]);
    expect([...t.ids(0, FLAG.PRESENT)]).toEqual([id(3)]);
  });

  it('rejects what is not an object id', () => {
    const t = new ObjectTable();
    expect(() => t.add('abc', 0)).toThrow(RangeError);
    expect(() => t.has('zz'.repeat(32))).toThrow(RangeError);
  });

  it('behaves like a Map of flags (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(300), fc.constantFrom(1, 2, 4, 8, 16), fc.boolean())), (ops) => {
        const t = new ObjectTable(2);
        const m = new Map<string, number>();
        for (const [n, flag, set] of ops) {
          const k = id(n);
          if (set) {
            t.add(k, flag);
            m.set(k, (m.get(k) ?? 0) | flag);
          } else {
            t.unmark(k, flag);
            if (m.has(k)) m.set(k, m.get(k)! & ~flag);
          }
        }
        expect(t.size).toBe(m.size);
        for (const [k, f] of m) expect(t.flags(k)).toBe(f);
        expect([...t.ids()].sort()).toEqual([...m.keys()].sort());
      }),
    );
  });
});
