/**
 * Builds tree objects bottom-up from a snapshot's flat file map and writes them to the store,
 * children before parents (dependency order). Returns the root tree's id.
 */
import { encodeTree, type FileEntry, type TreeEntry } from '../model/tree.js';
import type { ObjectStore } from '../repository/object-store.js';
import { baseName, parentOf } from './paths.js';

export async function writeTrees(objects: ObjectStore, files: ReadonlyMap<string, FileEntry>, dirs: readonly string[], signal?: AbortSignal): Promise<string> {
  const children = new Map<string, TreeEntry[]>([['', []]]);
  const ensureDir = (dir: string): TreeEntry[] => {
    let list = children.get(dir);
    if (!list) {
      list = [];
      children.set(dir, list);
      if (dir !== '') ensureDir(parentOf(dir));
    }
    return list;
  };
  for (const dir of dirs) ensureDir(dir);
  for (const [path, entry] of files) ensureDir(parentOf(path)).push(entry);

  // Deepest directories first, so each subtree id exists before its parent is encoded.
  const order = [...children.keys()].sort((a, b) => depth(b) - depth(a));
  const ids = new Map<string, string>();
  for (const dir of order) {
    const entries = children.get(dir)!;
    const id = await objects.putMeta(encodeTree({ type: 'tree', entries }), signal);
    ids.set(dir, id);
    if (dir !== '') children.get(parentOf(dir))!.push({ type: 'tree', name: baseName(dir), id });
  }
  return ids.get('')!;
}

function depth(path: string): number {
  return path === '' ? 0 : path.split('/').length;
}
