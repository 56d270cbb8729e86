/**
 * Reads a file smaller than the minimum chunk size (one chunk) with synchronous calls. For many
 * small files the async fs API costs more than the reading: a libuv round trip, a promise and a
 * FileHandle per call, five calls per file. Synchronous calls on the main thread cut `add` of
 * 20,000 small files by more than half (bench/add.mjs, docs/performance.md). Each call blocks
 * for one read of less than `chunking.min` bytes (256 KiB by default).
 *
 * Like chunkFile it refuses a file that changed: the identity before and after the read, and the
 * one the caller saw when it scanned, must agree (FILE_CHANGED otherwise).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { fromFsError } from '../errors.js';
import { changed, identityOf, sameIdentity, type FileIdentity } from './file-identity.js';

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
    fd = openSync(path, 'r');
  } catch (e) {
    throw fromFsError(e, path, 'open');
  }
  try {
    const before = fstat(fd, path);
    if (expect && !sameIdentity(expect, before)) throw changed(path, 'since it was last examined');
    const size = Number(before.size);
    const bytes = into && size <= into.length ? into.subarray(0, size) : new Uint8Array(size);
    for (let done = 0; done < bytes.length; ) {
      let n: number;
      try {
        n = readSync(fd, bytes, done, bytes.length - done, done);
      } catch (e) {
        throw fromFsError(e, path, 'read');
      }
      if (n === 0) throw changed(path, 'while it was being read (it got shorter)');
      done += n;
    }
    if (!sameIdentity(before, fstat(fd, path))) throw changed(path, 'while it was being read');
    return { bytes, identity: before };
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
