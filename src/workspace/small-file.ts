/**
 * Reads a file smaller than the minimum chunk size (one chunk) with synchronous calls. For many
 * small files the async fs API costs more than the reading: a libuv round trip, a promise and a
 * FileHandle per call, five calls per file. Synchronous calls on the main thread cut `add` of
 * 20,000 small files by more than half (bench/add.mjs, docs/performance.md). Each call blocks
 * for one read of less than `chunking.min` bytes (256 KiB by default).
 *
 * Like chunkFile it refuses a file that changed: the identity after the read must be the one the
 * caller saw when it scanned, or (without one) the one before the read (FILE_CHANGED otherwise).
 * With the caller's identity there is no fstat before the read: every change after the scan (a
 * write, a truncation, a chmod, a replacement) alters what the fstat after the read sees — ctime
 * at least, or the inode — so one fstat covers the whole span from scan to read, as the two did.
 * That is one system call and one BigInt stat of the five per file gone.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { fromFsError } from '../errors.js';
import { OPEN_TO_READ, changed, identityOf, sameIdentity, type FileIdentity } from './file-identity.js';

export interface SmallFile {
  bytes: Uint8Array;
  identity: FileIdentity;
}

/**
 * `into`: a buffer to read into when the file fits (the result is then a view of it, valid until
 * the caller reads the next file) — one reused buffer instead of a fresh zeroed allocation per
 * file, which for 20,000 files was most of `add`'s garbage-collection time.
 */
export function readSmallFile(path: string, expect: FileIdentity | undefined, into?: Uint8Array): SmallFile {
  let fd: number;
  try {
    fd = openSync(path, OPEN_TO_READ);
  } catch (e) {
    throw fromFsError(e, path, 'open');
  }
  try {
    const before = expect ?? fstat(fd, path);
    const size = Number(before.size);
    const bytes = into && size <= into.length ? into.subarray(0, size) : new Uint8Array(size);
    const when = expect ? 'since it was last examined' : 'while it was being read';
    for (let done = 0; done < bytes.length; ) {
      let n: number;
      try {
        n = readSync(fd, bytes, done, bytes.length - done, done);
      } catch (e) {
        // e.g. EISDIR: the path is now a directory, which is a change, not a disk error
        if (expect && !sameIdentity(expect, fstat(fd, path))) throw changed(path, when);
        throw fromFsError(e, path, 'read');
      }
      if (n === 0) throw changed(path, `${when} (it got shorter)`);
      done += n;
    }
    const after = fstat(fd, path);
    if (!sameIdentity(before, after)) throw changed(path, when);
    return { bytes, identity: after };
  } finally {
    closeSync(fd);
  }
}

function fstat(fd: number, path: string): FileIdentity {
  try {
    return identityOf(fstatSync(fd, { bigint: true }));
  } catch (e) {
    throw fromFsError(e, path, 'stat');
  }
}
