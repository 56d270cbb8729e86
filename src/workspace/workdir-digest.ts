/**
 * The digest of one changed path of a Git working tree, for a commit's `code.diff`
 * (code-state.ts).
 */
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { OPEN_TO_READ } from './file-identity.js';
import { hashHandle } from './hash-file.js';

/**
 * What a changed path holds, as Git sees it: a symlink's target (never followed: a link to
 * /dev/zero or /dev/urandom was read until memory ran out), a regular file's bytes streamed
 * through SHA-256 (opened with O_NONBLOCK, so a FIFO swapped in cannot block), anything else
 * by its kind alone.
 */
export async function workdirDigest(path: string): Promise<string> {
  try {
    const st = await fs.promises.lstat(path);
    if (st.isSymbolicLink()) return `link:${createHash('sha256').update(await fs.promises.readlink(path)).digest('hex')}`;
    if (!st.isFile()) return 'special';
    const fh = await fs.promises.open(path, OPEN_TO_READ);
    try {
      if (!(await fh.stat()).isFile()) return 'special';
      return (await hashHandle(fh)).digest;
    } finally {
      await fh.close().catch(() => {});
    }
  } catch {
    return 'unreadable';
  }
}
