/**
 * File and directory names inside trees. Validated when a tree is written *and* when it is read,
 * because a tree from a remote is attacker-controlled: a name like "../x" or ".git" must never
 * reach the file system during checkout.
 */
import { MlstoreError } from '../errors.js';
import { LIMITS } from './limits.js';

const RESERVED = new Set(['.git', '.mlstore']);

/** Why `name` is not a valid entry name, or undefined when it is valid. */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'is not a string';
  if (name.length === 0) return 'is empty';
  if (name === '.' || name === '..') return 'is "." or ".."';
  if (/[/\\\0]/.test(name)) return 'contains "/", "\\" or NUL';
  if (!name.isWellFormed()) return 'is not valid Unicode';
  // at most 3 UTF-8 bytes per UTF-16 unit: only a long name needs counting (without a copy)
  if (name.length * 3 > LIMITS.maxNameBytes && Buffer.byteLength(name, 'utf8') > LIMITS.maxNameBytes) return `is longer than ${LIMITS.maxNameBytes} bytes`;
  if (RESERVED.has(name.toLowerCase())) return 'is reserved (.git / .mlstore)';
  return undefined;
}

export function assertValidName(name: unknown): asserts name is string {
  const problem = nameProblem(name);
  if (problem) {
    throw new MlstoreError('BAD_NAME', `invalid name ${JSON.stringify(name)}: it ${problem}`, { details: { name } });
  }
}

/** Bytewise (UTF-8) order, the order of tree entries. Not JS's UTF-16 order. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
