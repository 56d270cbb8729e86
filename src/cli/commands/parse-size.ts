import { MlstoreError } from '../../errors.js';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3 };

/** "256KiB", "1MiB", "4m", "1048576" → bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new MlstoreError('USAGE', `cannot read ${JSON.stringify(text)} as a size`, { hint: 'Write sizes like 65536, 64KiB or 4MiB.' });
  return Number(m[1]) * unit;
}
