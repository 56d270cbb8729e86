/**
 * Small local files (HEAD, config.json, tracked.json, mlstore.lock) are replaced atomically:
 * write a temp file in the same directory, fsync it, rename over the target, fsync the
 * directory. A crash leaves either the old or the new file, never a torn one. An fsync error is
 * fatal and never retried (after a failed fsync the page cache may already have dropped the data).
 */
import { open, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fromFsError } from '../errors.js';

export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(dir);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw fromFsError(e, path, 'write');
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
