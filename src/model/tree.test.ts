/**
 * Strict tree parsing: a tree comes from an untrusted remote, so anything that is not exactly a
 * valid, canonical tree is CORRUPT_OBJECT — and the writer refuses to produce one either.
 */
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../core/canonical-json.js';
import { expectCode } from '../../test/helpers/expect-code.js';
import { decodeTree, encodeTree, type Tree, type TreeEntry } from './tree.js';

const D1 = 'a1'.repeat(32);
const D2 = 'b2'.repeat(32);
const enc = new TextEncoder();
const bytes = (s: string) => enc.encode(s);

const file = (name: string, extra: Record<string, unknown> = {}) => ({ type: 'file', name, mode: 420, size: 1, digest: D1, ...extra });
const raw = (entries: unknown[], extra: Record<string, unknown> = {}) => bytes(canonicalize({ type: 'tree', entries, ...extra }));

describe('tree codec', () => {
  it('accepts a valid tree and re-encodes it to the same bytes', () => {
    const b = raw([file('a'), { type: 'tree', name: 'b', id: D2 }, file('c', { manifest: D2, mode: 493 })]);
    const t = decodeTree(b);
    expect(t.entries).toHaveLength(3);
    expect(encodeTree(t)).toEqual(b);
  });

  it('rejects an unknown object type or entry type', () => {
    expectCode(() => decodeTree(bytes(canonicalize({ type: 'tree2', entries: [] }))), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(bytes(canonicalize({ type: 'file', entries: [] }))), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(raw([{ type: 'symlink', name: 'a', target: '/etc' }])), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(bytes('[]')), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(bytes('null')), 'CORRUPT_OBJECT');
  });

  it('rejects unknown and missing fields', () => {
    expectCode(() => decodeTree(raw([], { extra: 1 })), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(bytes('{"type":"tree"}')), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(raw([file('a', { owner: 'root' })])), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(raw([{ type: 'file', name: 'a', mode: 420, digest: D1 }])), 'CORRUPT_OBJECT'); // no size
    expectCode(() => decodeTree(raw([{ type: 'tree', name: 'a' }])), 'CORRUPT_OBJECT'); // no id
    expectCode(() => decodeTree(raw([{ type: 'tree', name: 'a', id: D1, mode: 420 }])), 'CORRUPT_OBJECT');
  });

  it('rejects bad field values', () => {
    expectCode(() => decodeTree(raw([file('a', { mode: 0o777 })])), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(raw([file('a', { mode: 0o100644 })])), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(raw([file('a', { size: -1 })])), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(raw([file('a', { size: '1' })])), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(raw([file('a', { digest: D1.toUpperCase() })])), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(raw([file('a', { digest: D1.slice(1) })])), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(raw([file('a', { manifest: null })])), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(raw([{ type: 'tree', name: 'a', id: 'x' }])), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(raw([file('a', { size: 2 ** 53 })])), 'CORRUPT_OBJECT');
  });

  it('rejects non-canonical bytes of an otherwise valid tree', () => {
    const good = canonicalize({ type: 'tree', entries: [file('a')] });
    expect(decodeTree(bytes(good)).entries).toHaveLength(1);
    const variants = [
      good.replace('{"entries"', '{ "entries"'), // whitespace
      good.replace(':[', ': ['),
      `${good}\n`, // trailing newline
      `\uFEFF${good}`, // BOM
      `{"type":"tree","entries":${JSON.stringify([file('a')].map((e) => JSON.parse(canonicalize(e))))}}`, // key order
      good.replace('"name":"a"', '"name":"\\u0061"'), // needless escape
      good.replace('"name":"a"', '"name":"a","name":"a"'), // duplicate key
      good.replace('"size":1', '"size":1.0'),
      good.replace('"size":1', '"size":1e0'),
    ];
    for (const v of variants) expectCode(() => decodeTree(bytes(v)), 'CORRUPT_OBJECT');
    // invalid UTF-8
    const invalid = new Uint8Array([...bytes(good.slice(0, -2)), 0xff, ...bytes('}')]);
    expectCode(() => decodeTree(invalid), 'CORRUPT_OBJECT');
  });

  it('rejects every unsafe entry name, when reading and when writing', () => {
    const bad = ['', '.', '..', 'a/b', '/abs', 'a\\b', '..\\x', 'a\0b', '.git', '.GIT', '.Git', '.mlstore', '.MLSTORE', '.MLStore', 'x'.repeat(256), 'é'.repeat(128), '\uD800'];
    for (const name of bad) {
      const err = expectCode(() => decodeTree(bytes(`{"entries":[${canonicalizeLoose(file(name))}],"type":"tree"}`)), 'CORRUPT_OBJECT');
      expect(err.message.length).toBeGreaterThan(0);
      expectCode(() => encodeTree({ type: 'tree', entries: [file(name) as TreeEntry] }), 'CORRUPT_OBJECT');
      expectCode(() => decodeTree(bytes(`{"entries":[${canonicalizeLoose({ id: D1, name, type: 'tree' })}],"type":"tree"}`)), 'CORRUPT_OBJECT');
    }
    // the longest allowed name: 255 UTF-8 bytes (85 three-byte characters)
    expect(decodeTree(raw([file('€'.repeat(85))])).entries).toHaveLength(1);
    expect(decodeTree(raw([file('x'.repeat(255))])).entries).toHaveLength(1);
    // names that merely look special are fine
    for (const name of ['...', '.gitignore', '.mlstore.bak', 'git', ' ', 'a b', 'new\nline', '-', '~']) {
      expect(decodeTree(raw([file(name)])).entries[0]!.name).toBe(name);
    }
  });

  it('rejects unsorted and duplicate entries (bytewise UTF-8 order)', () => {
    expectCode(() => decodeTree(raw([file('b'), file('a')])), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(raw([file('a'), file('a')])), 'CORRUPT_OBJECT');
    expectCode(() => decodeTree(raw([file('a'), { type: 'tree', name: 'a', id: D2 }])), 'CORRUPT_OBJECT');
    // UTF-16 order puts U+1F600 (D83D DE00) before U+FFFD; UTF-8 order puts it after.
    expectCode(() => decodeTree(raw([file('\u{1F600}'), file('\uFFFD')])), 'CORRUPT_OBJECT');
    expect(decodeTree(raw([file('\uFFFD'), file('\u{1F600}')])).entries).toHaveLength(2);
    // the writer sorts, but a duplicate name is refused
    expectCode(() => encodeTree({ type: 'tree', entries: [file('a') as TreeEntry, file('a') as TreeEntry] }), 'CORRUPT_OBJECT');
  });

  it('the writer refuses values the reader would refuse', () => {
    const bad: TreeEntry[] = [
      { type: 'file', name: 'a', mode: 0o600 as 0o644, size: 1, digest: D1 },
      { type: 'file', name: 'a', mode: 0o644, size: -1, digest: D1 },
      { type: 'file', name: 'a', mode: 0o644, size: 1, digest: 'nope' },
      { type: 'file', name: 'a', mode: 0o644, size: 1, digest: D1, manifest: 'nope' },
      { type: 'tree', name: 'a', id: 'nope' },
    ];
    for (const entry of bad) expectCode(() => encodeTree({ type: 'tree', entries: [entry] } as Tree), 'CORRUPT_OBJECT');
  });
});

/** JSON text of an object with sorted keys, allowing lone surrogates (which canonicalize refuses). */
function canonicalizeLoose(obj: Record<string, unknown>): string {
  return `{${Object.keys(obj)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${JSON.stringify(obj[k])}`)
    .join(',')}}`;
}
