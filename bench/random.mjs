// Deterministic random numbers for the bench scripts (mulberry32), so runs and machines can be
// compared: the same --seed gives the same overwrite positions.

/** A function returning numbers in [0, 1), seeded. */
export function seededRandom(seed) {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
