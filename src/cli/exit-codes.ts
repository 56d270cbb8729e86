/**
 * The one map from errors to exit codes: 0 ok · 1 problems found (the data is bad, or a check
 * failed) · 2 usage · 3 operational failure (could not run) · 130 interrupted. A cron job can tell
 * "the data is bad" from "the check could not run". Never 0 after a partial failure.
 */
import { DATA_CODES, USAGE_CODES, type ErrorCode } from '../errors.js';

export const EXIT = { OK: 0, PROBLEMS: 1, USAGE: 2, FAILURE: 3, INTERRUPTED: 130 } as const;

const data = new Set<string>(DATA_CODES);
const usage = new Set<string>(USAGE_CODES);

export function exitCodeFor(code: ErrorCode): number {
  if (code === 'INTERRUPTED') return EXIT.INTERRUPTED;
  if (data.has(code)) return EXIT.PROBLEMS;
  if (usage.has(code)) return EXIT.USAGE;
  return EXIT.FAILURE;
}
