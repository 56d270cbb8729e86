/** Entry names and ref names: what may reach the file system and the key space. */
import { describe, expect, it } from 'vitest';
import { expectCode } from '../../test/helpers/expect-code.js';
import { assertValidName, compareNames, nameProblem } from './name.js';
import { assertValidRefName, fullRef, parseFullRef, refProblem } from './ref-name.js';

describe('entry names', () => {
  it('refuses traversal, separators, NUL, reserved names in any case, and > 255 UTF-8 bytes', () => {
    for (const bad of ['', '.', '..', 'a/b', '/', 'a\\b', '\\', 'a\0', '.git', '.GiT', '.mlstore', '.MLSTORE', 'y'.repeat(256), '😀'.repeat(64), '€'.repeat(86), 'é'.repeat(128), '\uDC00x']) {
      expect(nameProblem(bad), JSON.stringify(bad)).toBeDefined();
      expectCode(() => assertValidName(bad), 'BAD_NAME');
    }
    for (const bad of [undefined, null, 1, ['a']]) expect(nameProblem(bad)).toBeDefined();
  });

  it('accepts ordinary odd names', () => {
    for (const ok of ['a', '...', '.hidden', 'with space', 'new\nline', 'tab\t', 'é', '😀'.repeat(63), 'y'.repeat(255), '€'.repeat(85), 'é'.repeat(127), '.gitignore', 'git', 'mlstore']) {
      expect(nameProblem(ok), JSON.stringify(ok)).toBeUndefined();
    }
  });

  it('orders names by UTF-8 bytes', () => {
    expect(compareNames('\uFFFD', '\u{1F600}')).toBeLessThan(0);
    expect('\uFFFD' < '\u{1F600}').toBe(false); // UTF-16 order disagrees
    expect(compareNames('B', 'a')).toBeLessThan(0);
    expect(compareNames('a', 'a')).toBe(0);
  });
});

describe('ref names', () => {
  it('refuses unsafe and confusing ref names', () => {
    for (const bad of ['', '.x', '-x', 'a..b', 'a/', '/a', 'a//b', 'x.lock', 'x.', 'a b', 'a~1', 'a^', 'a:b', 'HEAD@{1}', 'deadbeef', 'a'.repeat(201), 'ä']) {
      expect(refProblem(bad), bad).toBeDefined();
      expectCode(() => assertValidRefName(bad, 'heads'), 'BAD_NAME');
    }
    for (const ok of ['main', 'dataset-v1', 'team/exp_2', 'v1.0', '_x', 'HEAD2']) expect(refProblem(ok), ok).toBeUndefined();
  });

  it('round-trips full ref names', () => {
    expect(fullRef('tags', 'v1')).toBe('refs/tags/v1');
    expect(parseFullRef('refs/heads/a/b')).toEqual({ kind: 'heads', short: 'a/b' });
    expect(parseFullRef('refs/remotes/x')).toBeUndefined();
    expect(parseFullRef('refs/heads/../x')).toBeUndefined();
  });
});
