/**
 * Ref names: `refs/heads/<branch>` and `refs/tags/<tag>`. A short name is a subset of Git's
 * check-ref-format rules, strict enough to be a safe file name and S3 key on every platform.
 */
import { MlstoreError } from '../errors.js';

const SEGMENT_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export type RefKind = 'heads' | 'tags';

export function refProblem(short: string): string | undefined {
  if (short.length === 0 || short.length > 200) return 'must be 1–200 characters';
  for (const seg of short.split('/')) {
    if (!SEGMENT_RE.test(seg)) return 'segments use letters, digits, ".", "_" and "-" and start with a letter, digit or "_"';
    if (seg.endsWith('.lock') || seg.endsWith('.')) return 'segments may not end in ".lock" or "."';
    if (seg.includes('..')) return 'may not contain ".."';
  }
  if (/^[0-9a-f]{4,64}$/.test(short)) return 'looks like an object id';
  if (short === 'HEAD' || short.split('/')[0] === 'HEAD') return 'HEAD is reserved';
  return undefined;
}

export function assertValidRefName(short: string, kind: RefKind): void {
  const problem = refProblem(short);
  if (problem) {
    throw new MlstoreError('BAD_NAME', `invalid ${kind === 'heads' ? 'branch' : 'tag'} name ${JSON.stringify(short)}: ${problem}`, {
      details: { name: short },
    });
  }
}

export function fullRef(kind: RefKind, short: string): string {
  assertValidRefName(short, kind);
  return `refs/${kind}/${short}`;
}

export function parseFullRef(full: string): { kind: RefKind; short: string } | undefined {
  const m = /^refs\/(heads|tags)\/(.+)$/.exec(full);
  if (!m || refProblem(m[2]!)) return undefined;
  return { kind: m[1] as RefKind, short: m[2]! };
}
