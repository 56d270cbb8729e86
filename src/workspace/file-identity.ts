/**
 * A file's identity as fstat reports it, used to notice a file that changes while mlstore reads
 * it: the identity before, after, and as the caller last saw it must agree, or the read is
 * FILE_CHANGED and nothing of it is recorded.
 */
import { constants } from 'node:fs';
import { MlstoreError } from '../errors.js';

/**
 * Flags for opening a workspace file to read it. O_NONBLOCK: a file swapped for a FIFO after the
 * scan must not block the open until some writer appears (forever, in a cron job); the open
 * returns, and the identity check that follows reports FILE_CHANGED. On a regular file the flag
 * changes nothing.
 */
export const OPEN_TO_READ = constants.O_RDONLY | constants.O_NONBLOCK;

/** What fstat says about a file, to tell whether it changed (nanosecond times). */
export interface FileIdentity {
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  dev: bigint;
}

/** What the workspace keeps of an lstat: the identity plus the mode (BigIntStats satisfies it). */
export interface FileStat extends FileIdentity {
  mode: bigint;
}

/** Keeps only what FileStat needs, so a scan of many files does not hold whole BigIntStats. */
export function fileStatOf(s: FileStat): FileStat {
  return { size: s.size, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, ino: s.ino, dev: s.dev, mode: s.mode };
}

export function identityOf(s: FileIdentity): FileIdentity {
  return { size: s.size, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, ino: s.ino, dev: s.dev };
}

export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino && a.dev === b.dev;
}

export function changed(path: string, when: string): MlstoreError {
  return new MlstoreError('FILE_CHANGED', `${path} changed ${when}`, {
    details: { path },
    hint: 'Run the command again once nothing is writing to the file.',
  });
}
