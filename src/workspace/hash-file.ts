/**
 * Streams a file through SHA-256 without storing it (status). A file that changes while it is
 * read is FILE_CHANGED: its stat before, after, and as scanned must agree.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { OPEN_TO_READ, type FileIdentity } from './file-identity.js';
import { MlstoreError, fromFsError, throwIfAborted } from '../errors.js';
import { sha256Stream } from '../core/digest.js';

const BUFFER_BYTES = 1024 * 1024;

export async function hashFile(path: string, options: { expect?: FileIdentity; signal?: AbortSignal } = {}): Promise<{ size: number; digest: string }> {
  let fh;
  try {
    fh = await open(path, OPEN_TO_READ);
  } catch (e) {
    throw fromFsError(e, path, 'open');
  }
  try {
    const before = await fh.stat({ bigint: true });
    if (options.expect) assertSame(path, options.expect, before);
    const { size, digest } = await hashHandle(fh, options.signal);
    const after = await fh.stat({ bigint: true });
    assertSame(path, before, after);
    if (BigInt(size) !== after.size) throw changed(path);
    return { size, digest };
  } catch (e) {
    throw fromFsError(e, path, 'read');
  } finally {
    await fh.close();
  }
}

/**
 * SHA-256 of the file at `path` if it is, or a symlink leads to, a regular file; undefined when
 * it is not (a FIFO, a device, a directory) or does not exist. Opened with O_NONBLOCK, so a FIFO
 * cannot block the open, and streamed, so a device could not have filled memory either.
 */
export async function hashRegularFile(path: string): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(path, OPEN_TO_READ);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fromFsError(e, path, 'open');
  }
  try {
    if (!(await fh.stat()).isFile()) return undefined;
    return (await hashHandle(fh)).digest;
  } catch (e) {
    throw fromFsError(e, path, 'read');
  } finally {
    await fh.close().catch(() => {});
  }
}

/** Streams an open file from its start through SHA-256, 1 MiB at a time (never whole in memory). */
async function hashHandle(fh: FileHandle, signal?: AbortSignal): Promise<{ size: number; digest: string }> {
  const hash = sha256Stream();
  const buf = Buffer.allocUnsafe(BUFFER_BYTES);
  let size = 0;
  for (;;) {
    throwIfAborted(signal);
    const { bytesRead } = await fh.read(buf, 0, buf.length, size);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    size += bytesRead;
  }
  return { size, digest: hash.digest('hex') };
}

export function assertSame(path: string, a: FileIdentity, b: FileIdentity): void {
  if (a.size !== b.size || a.mtimeNs !== b.mtimeNs || a.ctimeNs !== b.ctimeNs || a.ino !== b.ino) throw changed(path);
}

function changed(path: string): MlstoreError {
  return new MlstoreError('FILE_CHANGED', `${path} changed while mlstore was reading it`, {
    details: { path },
    hint: 'Wait until whatever writes the file has finished, then run the command again. Nothing was recorded for it.',
  });
}
