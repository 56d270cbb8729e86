/**
 * A file manifest lists the chunks of a file that has more than one chunk. A one-chunk file has
 * no manifest: its single chunk's id *is* its digest.
 *   {"chunks":[[id,size],…],"digest":"<sha256 of whole file>","size":N,"type":"file"}
 */
import { decodeCanonical, encodeCanonical } from '../core/canonical-json.js';
import { LIMITS } from './limits.js';
import { asArray, asDigest, asRecord, asSize, corrupt, exactKeys } from './validate.js';

export type ChunkRef = readonly [id: string, size: number];

export interface FileManifest {
  type: 'file';
  size: number;
  digest: string;
  chunks: readonly ChunkRef[];
}

export function encodeFileManifest(m: FileManifest): Uint8Array {
  const bytes = encodeCanonical({ type: 'file', size: m.size, digest: m.digest, chunks: m.chunks });
  decodeFileManifest(bytes); // one validation path: the writer refuses whatever a reader would refuse
  return bytes;
}

export function decodeFileManifest(bytes: Uint8Array): FileManifest {
  const what = 'file manifest';
  const obj = asRecord(decodeCanonical(bytes, what), what);
  exactKeys(obj, ['type', 'size', 'digest', 'chunks'], [], what);
  if (obj['type'] !== 'file') throw corrupt(what, `type is ${JSON.stringify(obj['type'])}, expected "file"`);
  const chunks = asArray(obj['chunks'], `${what} chunks`, LIMITS.maxManifestChunks).map((c, i): ChunkRef => {
    const pair = asArray(c, `${what} chunk ${i}`, 2);
    if (pair.length !== 2) throw corrupt(what, `chunk ${i} is not an [id, size] pair`);
    return [asDigest(pair[0], `${what} chunk ${i} id`), asSize(pair[1], `${what} chunk ${i} size`)];
  });
  const m: FileManifest = {
    type: 'file',
    size: asSize(obj['size'], `${what} size`),
    digest: asDigest(obj['digest'], `${what} digest`),
    chunks,
  };
  checkManifest(m, what);
  return m;
}

function checkManifest(m: FileManifest, what: string): void {
  if (m.chunks.length < 2) throw corrupt(what, 'a manifest must list at least two chunks');
  let total = 0;
  for (const [, size] of m.chunks) {
    if (size <= 0 || size > LIMITS.maxChunkBytes) throw corrupt(what, `chunk size ${size} is out of range`);
    total += size;
  }
  if (total !== m.size) throw corrupt(what, `chunk sizes add up to ${total}, not the file size ${m.size}`);
}
