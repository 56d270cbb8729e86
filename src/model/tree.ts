/**
 * A tree lists one directory: {"entries":[…],"type":"tree"}, entries sorted bytewise by name.
 *   file:    {"digest","manifest"?,"mode","name","size","type":"file"}
 *   subtree: {"id","name","type":"tree"}
 * A file entry carries `manifest` exactly when it has more than one chunk (size > 0 is not enough
 * to tell, so the writer decides and the reader trusts the presence of the field, then verifies
 * the manifest's own size and digest against the entry).
 */
import { decodeCanonical, encodeCanonical } from '../core/canonical-json.js';
import { LIMITS } from './limits.js';
import { compareNames, nameProblem } from './name.js';
import { asArray, asDigest, asRecord, asSize, corrupt, exactKeys } from './validate.js';

/** 0o644 and 0o755: the only modes recorded (like Git, only the executable bit matters). */
export const FILE_MODES = [0o644, 0o755] as const;
export type FileMode = (typeof FILE_MODES)[number];

export interface FileEntry {
  type: 'file';
  name: string;
  mode: FileMode;
  size: number;
  digest: string;
  manifest?: string;
}

export interface SubtreeEntry {
  type: 'tree';
  name: string;
  id: string;
}

export type TreeEntry = FileEntry | SubtreeEntry;

export interface Tree {
  type: 'tree';
  entries: readonly TreeEntry[];
}

export function encodeTree(tree: Tree): Uint8Array {
  const entries = [...tree.entries].sort((a, b) => compareNames(a.name, b.name));
  const bytes = encodeCanonical({ type: 'tree', entries });
  decodeTree(bytes); // one validation path: the writer refuses whatever a reader would refuse
  return bytes;
}

export function decodeTree(bytes: Uint8Array): Tree {
  const what = 'tree';
  const obj = asRecord(decodeCanonical(bytes, what), what);
  exactKeys(obj, ['type', 'entries'], [], what);
  if (obj['type'] !== 'tree') throw corrupt(what, `type is ${JSON.stringify(obj['type'])}, expected "tree"`);
  const entries = asArray(obj['entries'], `${what} entries`, LIMITS.maxTreeEntries).map((e, i) => decodeEntry(e, i));
  checkEntries(entries, what);
  return { type: 'tree', entries };
}

function decodeEntry(raw: unknown, i: number): TreeEntry {
  const what = `tree entry ${i}`;
  const e = asRecord(raw, what);
  if (e['type'] === 'tree') {
    exactKeys(e, ['type', 'name', 'id'], [], what);
    return { type: 'tree', name: e['name'] as string, id: asDigest(e['id'], `${what} id`) };
  }
  if (e['type'] !== 'file') throw corrupt(what, `unknown entry type ${JSON.stringify(e['type'])}`);
  exactKeys(e, ['type', 'name', 'mode', 'size', 'digest'], ['manifest'], what);
  const mode = e['mode'];
  if (mode !== 0o644 && mode !== 0o755) throw corrupt(what, `mode ${JSON.stringify(mode)} is not 420 (0644) or 493 (0755)`);
  const entry: FileEntry = {
    type: 'file',
    name: e['name'] as string,
    mode,
    size: asSize(e['size'], `${what} size`),
    digest: asDigest(e['digest'], `${what} digest`),
  };
  if ('manifest' in e) entry.manifest = asDigest(e['manifest'], `${what} manifest`);
  return entry;
}

function checkEntries(entries: readonly TreeEntry[], what: string): void {
  if (entries.length > LIMITS.maxTreeEntries) throw corrupt(what, `more than ${LIMITS.maxTreeEntries} entries`);
  let prev: string | undefined;
  for (const entry of entries) {
    const problem = nameProblem(entry.name);
    if (problem) throw corrupt(what, `entry name ${JSON.stringify(entry.name)} ${problem}`);
    if (prev !== undefined && compareNames(prev, entry.name) >= 0) {
      throw corrupt(what, `entries are not sorted or not unique at ${JSON.stringify(entry.name)}`);
    }
    prev = entry.name;
  }
}
