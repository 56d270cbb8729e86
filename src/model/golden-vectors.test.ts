/**
 * Golden vectors for format v1 metadata objects: fixed values → exact canonical bytes → id.
 * The same vectors are printed in docs/format-vectors.md so another implementation can check
 * itself against them. If one of these tests fails, the format changed: that needs a new format
 * version, not a new expected value.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeFileManifest, encodeFileManifest, type FileManifest } from './file-manifest.js';
import { decodeTree, encodeTree, type Tree } from './tree.js';
import { decodeCommit, encodeCommit, environmentDigest, type Commit } from './commit.js';

const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

// Literal ids, not computed from the code under test.
const HELLO = '853ff93762a06ddbf722c4ebe9ddd66d8f63ddaea97f521c3ecc20da7c976020'; // sha256("hello, world\n")
const HI = '98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4'; // sha256("hi\n")
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'; // sha256("")

const MANIFEST: FileManifest = {
  type: 'file',
  size: 13,
  digest: HELLO,
  chunks: [
    ['40a11d59c648b358ae4cc3a40acb67970c1d23345b1da7e5052f68546c85ed7b', 7], // "hello, "
    ['e258d248fda94c63753607f7c4494ee0fcbe92f1a76bfdac795c9d84101eb317', 6], // "world\n"
  ],
};
const MANIFEST_BYTES =
  '{"chunks":[["40a11d59c648b358ae4cc3a40acb67970c1d23345b1da7e5052f68546c85ed7b",7],["e258d248fda94c63753607f7c4494ee0fcbe92f1a76bfdac795c9d84101eb317",6]],"digest":"853ff93762a06ddbf722c4ebe9ddd66d8f63ddaea97f521c3ecc20da7c976020","size":13,"type":"file"}';
const MANIFEST_ID = '1ce8e2740c0252b21d0a21fe41d1284ef944d94e6841eca68109b1e88a8afce1';

const EMPTY_TREE_BYTES = '{"entries":[],"type":"tree"}';
const EMPTY_TREE_ID = 'e57cf8557e56cac1c9030c672c8a997cba25044fcb8876b238b863b5aee4bc33';

/** Given out of order on purpose: the encoder sorts bytewise (UTF-8), which is not UTF-16 order. */
const TREE: Tree = {
  type: 'tree',
  entries: [
    { type: 'file', name: 'hello.txt', mode: 0o644, size: 13, digest: HELLO, manifest: MANIFEST_ID },
    { type: 'tree', name: 'empty dir', id: EMPTY_TREE_ID },
    { type: 'file', name: '\u{1F600}.bin', mode: 0o755, size: 0, digest: EMPTY },
    { type: 'file', name: '\uFFFD.txt', mode: 0o644, size: 3, digest: HI },
    { type: 'file', name: 'Zeta', mode: 0o644, size: 3, digest: HI },
  ],
};
const TREE_BYTES =
  '{"entries":[' +
  '{"digest":"98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4","mode":420,"name":"Zeta","size":3,"type":"file"},' +
  '{"id":"e57cf8557e56cac1c9030c672c8a997cba25044fcb8876b238b863b5aee4bc33","name":"empty dir","type":"tree"},' +
  '{"digest":"853ff93762a06ddbf722c4ebe9ddd66d8f63ddaea97f521c3ecc20da7c976020","manifest":"1ce8e2740c0252b21d0a21fe41d1284ef944d94e6841eca68109b1e88a8afce1","mode":420,"name":"hello.txt","size":13,"type":"file"},' +
  '{"digest":"98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4","mode":420,"name":"\uFFFD.txt","size":3,"type":"file"},' +
  '{"digest":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","mode":493,"name":"\u{1F600}.bin","size":0,"type":"file"}' +
  '],"type":"tree"}';
const TREE_ID = '175e87feecbf0204adbea5614b58521410aeb2b590ae68488862aa52c72f69f2';

const COMPONENTS = {
  os: 'linux',
  arch: 'x64',
  'runtime:node': 'v20.0.0',
  'file:requirements.txt': 'sha256:e77e7045d01a9431264f9262c6b199d8e7988c139276a5266a3cf689588ad66e', // "numpy==1.26.4\n"
};
const ENV_DIGEST = '33d26d7fd1bf96db3ab5092454477020d795503691e68223ceda2bc83e6dc6a5';

const COMMIT: Commit = {
  type: 'commit',
  tree: TREE_ID,
  parents: [],
  author: { name: 'Ada Lovelace', email: 'ada@example.com' },
  time: '2026-01-02T03:04:05Z',
  message: 'first version\n\nwith "quotes" and é',
  code: { commit: 'a'.repeat(40), dirty: true, diff: 'df087996d45b03e7eb8c133c0298fd98d35113fca26aaba58612fef3cc212cad' },
  environment: { digest: ENV_DIGEST, components: COMPONENTS },
  inputs: [{ commit: 'c96c6d5be8d08a12e7b5cdc1b207fa6b2430974c86803d8891675e76fd992c20', path: 'data/train' }],
};
const COMMIT_BYTES =
  '{"author":{"email":"ada@example.com","name":"Ada Lovelace"},' +
  '"code":{"commit":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","diff":"df087996d45b03e7eb8c133c0298fd98d35113fca26aaba58612fef3cc212cad","dirty":true},' +
  '"environment":{"components":{"arch":"x64","file:requirements.txt":"sha256:e77e7045d01a9431264f9262c6b199d8e7988c139276a5266a3cf689588ad66e","os":"linux","runtime:node":"v20.0.0"},' +
  '"digest":"33d26d7fd1bf96db3ab5092454477020d795503691e68223ceda2bc83e6dc6a5"},' +
  '"inputs":[{"commit":"c96c6d5be8d08a12e7b5cdc1b207fa6b2430974c86803d8891675e76fd992c20","path":"data/train"}],' +
  '"message":"first version\\n\\nwith \\"quotes\\" and é","parents":[],"time":"2026-01-02T03:04:05Z",' +
  '"tree":"175e87feecbf0204adbea5614b58521410aeb2b590ae68488862aa52c72f69f2","type":"commit"}';
const COMMIT_ID = '0d44c7d6296a7da34bfdbf0518d7cbf13dad6bccd9b81999c6c3178c7b83fe4e';

describe('golden vectors (format v1)', () => {
  it('the vector inputs are what their comments say', () => {
    expect(sha('hello, world\n')).toBe(HELLO);
    expect(sha('hi\n')).toBe(HI);
    expect(sha('')).toBe(EMPTY);
    expect(MANIFEST.chunks[0]![0]).toBe(sha('hello, '));
    expect(MANIFEST.chunks[1]![0]).toBe(sha('world\n'));
    expect(COMPONENTS['file:requirements.txt']).toBe(`sha256:${sha('numpy==1.26.4\n')}`);
    expect(environmentDigest(COMPONENTS)).toBe(ENV_DIGEST);
    // environment.digest is SHA-256 of the canonical JSON of the components (keys sorted)
    expect(sha('{"arch":"x64","file:requirements.txt":"sha256:e77e7045d01a9431264f9262c6b199d8e7988c139276a5266a3cf689588ad66e","os":"linux","runtime:node":"v20.0.0"}')).toBe(ENV_DIGEST);
  });

  it('file manifest → exact bytes and id, and back', () => {
    const bytes = encodeFileManifest(MANIFEST);
    expect(text(bytes)).toBe(MANIFEST_BYTES);
    expect(sha(bytes)).toBe(MANIFEST_ID);
    expect(decodeFileManifest(bytes)).toEqual(MANIFEST);
  });

  it('empty tree → exact bytes and id', () => {
    const bytes = encodeTree({ type: 'tree', entries: [] });
    expect(text(bytes)).toBe(EMPTY_TREE_BYTES);
    expect(sha(bytes)).toBe(EMPTY_TREE_ID);
  });

  it('tree → exact bytes (entries sorted by UTF-8 bytes, not UTF-16) and id, and back', () => {
    const bytes = encodeTree(TREE);
    expect(text(bytes)).toBe(TREE_BYTES);
    expect(sha(bytes)).toBe(TREE_ID);
    const back = decodeTree(bytes);
    expect(back.entries.map((e) => e.name)).toEqual(['Zeta', 'empty dir', 'hello.txt', '\uFFFD.txt', '\u{1F600}.bin']);
    expect(encodeTree(back)).toEqual(bytes);
  });

  it('commit → exact bytes and id, and back', () => {
    const bytes = encodeCommit(COMMIT);
    expect(text(bytes)).toBe(COMMIT_BYTES);
    expect(sha(bytes)).toBe(COMMIT_ID);
    expect(decodeCommit(bytes)).toEqual(COMMIT);
  });
});
