/** Property tests: every valid object survives encode → decode → encode byte for byte. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFileManifest, encodeFileManifest, type FileManifest } from './file-manifest.js';
import { decodeTree, encodeTree, type Tree, type TreeEntry } from './tree.js';
import { decodeCommit, encodeCommit, environmentDigest, formatTime, type Commit } from './commit.js';
import { nameProblem } from './name.js';

const digest = fc.stringMatching(/^[0-9a-f]{64}$/);
const size = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).filter((n) => nameProblem(n) === undefined);

const entry: fc.Arbitrary<TreeEntry> = fc.oneof(
  fc.record({ type: fc.constant('file' as const), name, mode: fc.constantFrom(0o644 as const, 0o755 as const), size, digest }),
  fc.record({ type: fc.constant('file' as const), name, mode: fc.constantFrom(0o644 as const, 0o755 as const), size, digest, manifest: digest }),
  fc.record({ type: fc.constant('tree' as const), name, id: digest }),
);
const tree: fc.Arbitrary<Tree> = fc
  .uniqueArray(entry, { selector: (e) => e.name, maxLength: 20 })
  .map((entries) => ({ type: 'tree' as const, entries }));

const manifest: fc.Arbitrary<FileManifest> = fc
  .array(fc.tuple(digest, fc.integer({ min: 1, max: 64 * 1024 * 1024 })), { minLength: 2, maxLength: 20 })
  .chain((chunks) => digest.map((d) => ({ type: 'file' as const, digest: d, size: chunks.reduce((n, [, s]) => n + s, 0), chunks })));

const commit: fc.Arbitrary<Commit> = fc
  .record({
    tree: digest,
    parents: fc.uniqueArray(digest, { maxLength: 3 }),
    author: fc.record({ name: text, email: text }),
    time: fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map(formatTime),
    message: fc.string({ unit: 'grapheme', maxLength: 200 }),
    gitCommit: fc.option(fc.stringMatching(/^[0-9a-f]{40}$/), { nil: null }),
    diff: fc.option(digest, { nil: null }),
    components: fc.dictionary(fc.string({ maxLength: 20 }), text, { maxKeys: 6 }),
    inputs: fc.array(fc.record({ commit: digest, path: fc.option(text, { nil: undefined }) }), { maxLength: 3 }),
  })
  .map((r) => ({
    type: 'commit' as const,
    tree: r.tree,
    parents: r.parents,
    author: r.author,
    time: r.time,
    message: r.message,
    code: { commit: r.gitCommit, dirty: r.diff !== null, diff: r.diff },
    environment: { digest: environmentDigest(r.components), components: r.components },
    inputs: r.inputs.map((i) => (i.path === undefined ? { commit: i.commit } : { commit: i.commit, path: i.path })),
  }));

describe('codec round trips (fast-check)', () => {
  it('trees', () => {
    fc.assert(
      fc.property(tree, (t) => {
        const bytes = encodeTree(t);
        const back = decodeTree(bytes);
        expect(new Set(back.entries)).toEqual(new Set(t.entries)); // same entries, in canonical order
        expect(encodeTree(back)).toEqual(bytes);
      }),
      { numRuns: 120 },
    );
  });

  it('file manifests', () => {
    fc.assert(
      fc.property(manifest, (m) => {
        const bytes = encodeFileManifest(m);
        expect(decodeFileManifest(bytes)).toEqual(m);
        expect(encodeFileManifest(decodeFileManifest(bytes))).toEqual(bytes);
      }),
      { numRuns: 120 },
    );
  });

  it('commits', () => {
    fc.assert(
      fc.property(commit, (c) => {
        const bytes = encodeCommit(c);
        expect(decodeCommit(bytes)).toEqual(c);
        expect(encodeCommit(decodeCommit(bytes))).toEqual(bytes);
      }),
      { numRuns: 120 },
    );
  });

  it('a single flipped byte of a valid object is never silently accepted as the same object', () => {
    fc.assert(
      fc.property(tree, fc.nat(), fc.integer({ min: 1, max: 255 }), (t, pos, xor) => {
        const bytes = encodeTree(t);
        const bad = bytes.slice();
        const i = pos % bad.length;
        bad[i] = bad[i]! ^ xor;
        let back: Tree | undefined;
        try {
          back = decodeTree(bad);
        } catch {
          return;
        }
        expect(encodeTree(back)).toEqual(bad); // if it parses, it is a different canonical tree
      }),
      { numRuns: 120 },
    );
  });
});
