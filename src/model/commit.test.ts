/** Strict commit parsing: exact fields, consistent code state, environment digest, bounds. */
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../core/canonical-json.js';
import { expectCode } from '../../test/helpers/expect-code.js';
import { decodeCommit, encodeCommit, environmentDigest, formatTime, type Commit } from './commit.js';
import { LIMITS } from './limits.js';

const T = 'a1'.repeat(32);
const P = 'b2'.repeat(32);
const components = { os: 'linux', arch: 'x64', 'runtime:node': 'v20.0.0' };
const good: Commit = {
  type: 'commit',
  tree: T,
  parents: [P],
  author: { name: 'A', email: 'a@x' },
  time: '2026-01-02T03:04:05Z',
  message: 'm',
  code: { commit: null, dirty: false, diff: null },
  environment: { digest: environmentDigest(components), components },
  inputs: [],
};
const bytes = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : canonicalize(v));
const patch = (p: Record<string, unknown>) => bytes({ ...good, ...p });

describe('commit codec', () => {
  it('round-trips a valid commit', () => {
    const b = encodeCommit(good);
    expect(decodeCommit(b)).toEqual(good);
    expect(canonicalize(decodeCommit(b))).toBe(new TextDecoder().decode(b));
  });

  it('rejects an unknown type, unknown and missing fields (also nested)', () => {
    expectCode(() => decodeCommit(patch({ type: 'tree' })), 'CORRUPT_OBJECT');
    expectCode(() => decodeCommit(patch({ signature: 'x' })), 'CORRUPT_OBJECT');
    for (const k of Object.keys(good)) {
      const copy: Record<string, unknown> = { ...good };
      delete copy[k];
      expectCode(() => decodeCommit(bytes(copy)), 'CORRUPT_OBJECT');
    }
    expectCode(() => decodeCommit(patch({ author: { name: 'A' } })), 'CORRUPT_OBJECT');
    expectCode(() => decodeCommit(patch({ author: { name: 'A', email: 'e', id: 1 } })), 'CORRUPT_OBJECT');
    expectCode(() => decodeCommit(patch({ code: { commit: null, dirty: false } })), 'CORRUPT_OBJECT');
    expectCode(() => decodeCommit(patch({ environment: { components, digest: good.environment.digest, extra: 'x' } })), 'CORRUPT_OBJECT');
    expectCode(() => decodeCommit(patch({ inputs: [{ commit: P, path: 'x', ref: 'main' }] })), 'CORRUPT_OBJECT');
  });

  it('rejects an environment digest that does not match its components', () => {
    expectCode(() => decodeCommit(patch({ environment: { components: { ...components, os: 'darwin' }, digest: good.environment.digest } })), 'CORRUPT_OBJECT');
    expectCode(() => decodeCommit(patch({ environment: { components: { os: 1 }, digest: environmentDigest({}) } })), 'CORRUPT_OBJECT');
    expectCode(() => encodeCommit({ ...good, environment: { components: {}, digest: good.environment.digest } }), 'CORRUPT_OBJECT');
  });

  it('rejects an inconsistent code state', () => {
    expectCode(() => decodeCommit(patch({ code: { commit: null, dirty: true, diff: null } })), 'CORRUPT_OBJECT');
    expectCode(() => decodeCommit(patch({ code: { commit: null, dirty: false, diff: P } })), 'CORRUPT_OBJECT');
    expectCode(() => decodeCommit(patch({ code: { commit: 'abc', dirty: false, diff: null } })), 'CORRUPT_OBJECT');
    expectCode(() => decodeCommit(patch({ code: { commit: 'A'.repeat(40), dirty: false, diff: null } })), 'CORRUPT_OBJECT');
    expect(decodeCommit(patch({ code: { commit: 'c'.repeat(40), dirty: true, diff: P } })).code.dirty).toBe(true);
    expect(decodeCommit(patch({ code: { commit: 'c'.repeat(64), dirty: false, diff: null } })).code.commit).toHaveLength(64);
  });

  it('rejects bad ids, times and repeated parents', () => {
    expectCode(() => decodeCommit(patch({ tree: 'x' })), 'CORRUPT_OBJECT');
    expectCode(() => decodeCommit(patch({ parents: [P, P] })), 'CORRUPT_OBJECT');
    expectCode(() => decodeCommit(patch({ parents: ['nope'] })), 'CORRUPT_OBJECT');
    for (const time of ['2026-01-02T03:04:05.123Z', '2026-01-02 03:04:05Z', '2026-01-02T03:04:05+00:00', '2026-13-02T03:04:05Z', 1767322845]) {
      expectCode(() => decodeCommit(patch({ time })), 'CORRUPT_OBJECT');
    }
    expect(formatTime(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)))).toBe('2026-01-02T03:04:05Z');
  });

  it('rejects oversize fields', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => i.toString(16).padStart(64, '0'));
    expectCode(() => decodeCommit(patch({ parents: many(LIMITS.maxParents + 1) })), 'CORRUPT_OBJECT');
    expect(decodeCommit(patch({ parents: many(LIMITS.maxParents) })).parents).toHaveLength(LIMITS.maxParents);
    expectCode(() => decodeCommit(patch({ inputs: many(LIMITS.maxInputs + 1).map((commit) => ({ commit })) })), 'CORRUPT_OBJECT');
    expectCode(() => decodeCommit(patch({ message: 'm'.repeat(LIMITS.maxMessageChars + 1) })), 'CORRUPT_OBJECT');
    expect(decodeCommit(patch({ message: 'm'.repeat(LIMITS.maxMessageChars) })).message).toHaveLength(LIMITS.maxMessageChars);
    expectCode(() => decodeCommit(patch({ author: { name: 'n'.repeat(257), email: 'e' } })), 'CORRUPT_OBJECT');
    let deep: unknown = 'x';
    for (let i = 0; i < 100; i++) deep = [deep];
    expectCode(() => decodeCommit(bytes(`{"author":${JSON.stringify(deep)}}`)), 'CORRUPT_OBJECT');
  });

  it('rejects non-canonical bytes', () => {
    const text = canonicalize(good);
    const variants = [
      text.replace('"message":"m"', '"message": "m"'),
      `${text}\n`,
      text.replace('"message":"m"', '"message":"\\u006d"'),
      text.replace('"message":"m"', '"message":"m\\/"'),
      text.replace('{"author"', '{"type":"commit","author"').replace(',"type":"commit"}', '}'), // key order
      text.replace('"message":"m"', '"message":"\\ud800"'), // lone surrogate
    ];
    for (const v of variants) expectCode(() => decodeCommit(bytes(v)), 'CORRUPT_OBJECT');
    // a control character must be escaped the JCS way (\u001f, lowercase), never raw
    const ctl = encodeCommit({ ...good, message: 'a\u001fb\tc' });
    expect(new TextDecoder().decode(ctl)).toContain('"a\\u001fb\\tc"');
    expectCode(() => decodeCommit(bytes(new TextDecoder().decode(ctl).replace('\\u001f', '\\u001F'))), 'CORRUPT_OBJECT');
  });
});
