/**
 * Reads a tree recursively into a flat map of repo-relative paths. Bounded in depth and entry
 * count; names were validated when each tree was decoded, so joined paths cannot escape.
 */
import { MlstoreError, throwIfAborted } from '../errors.js';
import { LIMITS } from '../model/limits.js';
import type { FileEntry } from '../model/tree.js';
import type { ObjectStore } from './object-store.js';

export interface FlatTree {
  files: Map<string, FileEntry>;
  /** Every directory path ('' is the root), including empty ones. */
  dirs: string[];
}

export async function flattenTree(objects: ObjectStore, treeId: string, signal?: AbortSignal): Promise<FlatTree> {
  const out: FlatTree = { files: new Map(), dirs: [] };
  await walk(objects, treeId, '', 0, out, signal);
  return out;
}

async function walk(objects: ObjectStore, id: string, prefix: string, depth: number, out: FlatTree, signal?: AbortSignal): Promise<void> {
  throwIfAborted(signal);
  if (depth > LIMITS.maxTreeDepth) {
    throw new MlstoreError('LIMIT_EXCEEDED', `tree ${id} at ${prefix || '/'} is nested deeper than ${LIMITS.maxTreeDepth}`, { details: { id } });
  }
  out.dirs.push(prefix);
  const tree = await objects.readTree(id, signal ? { signal } : {});
  for (const entry of tree.entries) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.type === 'file') {
      if (out.files.size >= 10 * LIMITS.maxTreeEntries) throw new MlstoreError('LIMIT_EXCEEDED', `tree ${id} lists too many files`);
      out.files.set(path, entry);
    } else {
      await walk(objects, entry.id, path, depth + 1, out, signal);
    }
  }
}
