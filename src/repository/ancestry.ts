/**
 * Ancestry over the local store's commits, for fast-forward checks. Only local commits are
 * consulted: a commit the local store lacks cannot be proven to be an ancestor, so the answer is
 * then false (the caller refuses the update as a non-fast-forward and the user fetches first).
 */
import { throwIfAborted } from '../errors.js';
import type { ObjectStore } from './object-store.js';

/** True when `ancestor` is `descendant` or reachable from it through parents. */
export async function isAncestor(objects: ObjectStore, ancestor: string, descendant: string, signal?: AbortSignal): Promise<boolean> {
  if (ancestor === descendant) return true;
  const seen = new Set([descendant]);
  const queue = [descendant];
  while (queue.length > 0) {
    throwIfAborted(signal);
    const id = queue.shift()!;
    if (!(await objects.has('meta', id, signal))) continue;
    const commit = await objects.readCommit(id, signal ? { signal } : {});
    for (const p of commit.parents) {
      if (p === ancestor) return true;
      if (!seen.has(p)) {
        seen.add(p);
        queue.push(p);
      }
    }
  }
  return false;
}
