/**
 * The digest of one changed path of a Git working tree, for a commit's `code.diff`
 * (code-state.ts, git-binary.ts).
 */
import { lstat, readlink } from 'node:fs/promises';
import { sha256Hex } from '../core/digest.js';
import { hashRegularFile } from './hash-file.js';

/**
 * What a changed path holds, as Git sees it: a symlink's target (never followed: a link to
 * /dev/zero or /dev/urandom was read until memory ran out), a regular file's bytes streamed
 * through SHA-256 (hash-file.ts: a FIFO swapped in cannot block), anything else by its kind alone.
 */
export async function workdirDigest(path: string): Promise<string> {
  try {
    const st = await lstat(path);
    if (st.isSymbolicLink()) return `link:${sha256Hex(await readlink(path))}`;
    if (!st.isFile()) return 'special';
    return (await hashRegularFile(path)) ?? 'special';
  } catch {
    return 'unreadable';
  }
}
