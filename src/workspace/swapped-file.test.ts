// A file that the scan saw as a regular file but that is something else by the time it is read:
// every reader reports FILE_CHANGED, and none blocks on a FIFO's open (which, without O_NONBLOCK,
// waits for a writer forever).
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectCode, expectCodeAsync } from '../../test/helpers/expect-code.js';
import { validateChunkParams } from '../core/fastcdc.js';
import { ChunkPool, chunkFile } from './chunk-file.js';
import { fileStatOf, type FileStat } from './file-identity.js';
import { hashFile } from './hash-file.js';
import { readSmallFile } from './small-file.js';

const dir = mkdtempSync(join(tmpdir(), 'mlstore-swapped-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const TINY = validateChunkParams({ min: 256, avg: 1024, max: 4096 });
const pool = new ChunkPool({ mode: 'inline' });

/** A regular file's identity as a scan saw it, after which the path becomes what `swap` makes. */
function swapped(name: string, size: number, swap: (path: string) => void): { path: string; scanned: FileStat } {
  const path = join(dir, name);
  writeFileSync(path, Buffer.alloc(size, 1));
  const scanned = fileStatOf(lstatSync(path, { bigint: true }));
  rmSync(path);
  swap(path);
  return { path, scanned };
}

const fifo = (path: string) => execFileSync('mkfifo', [path]);
const directory = (path: string) => mkdirSync(path);

describe('a file swapped after the scan', () => {
  it.each([
    ['a FIFO', fifo],
    ['a directory', directory],
  ])('readSmallFile: FILE_CHANGED for %s', (kind, swap) => {
    const { path, scanned } = swapped(`small-${kind}`, 100, swap);
    expectCode(() => readSmallFile(path, scanned, new Uint8Array(256)), 'FILE_CHANGED');
  });

  it.each([
    ['a FIFO', fifo],
    ['a directory', directory],
  ])('chunkFile and hashFile: FILE_CHANGED for %s', async (kind, swap) => {
    const { path, scanned } = swapped(`large-${kind}`, 10_000, swap);
    await expectCodeAsync(chunkFile(path, TINY, { pool, expect: scanned, onChunk: async () => {} }), 'FILE_CHANGED');
    await expectCodeAsync(hashFile(path, { expect: scanned }), 'FILE_CHANGED');
  });

  it('readSmallFile: FILE_CHANGED when the file grew or shrank since the scan, with no fstat before the read', () => {
    const grown = swapped('grown', 100, (p) => writeFileSync(p, Buffer.alloc(101, 1)));
    expectCode(() => readSmallFile(grown.path, grown.scanned, new Uint8Array(256)), 'FILE_CHANGED');
    const shrunk = swapped('shrunk', 100, (p) => writeFileSync(p, Buffer.alloc(99, 1)));
    expectCode(() => readSmallFile(shrunk.path, shrunk.scanned, new Uint8Array(256)), 'FILE_CHANGED');
    // same size and bytes, rewritten in place: the inode stays, ctime moves
    const path = join(dir, 'rewritten');
    writeFileSync(path, Buffer.alloc(100, 1));
    const scanned = fileStatOf(lstatSync(path, { bigint: true }));
    execFileSync('sleep', ['0.02']); // past a coarse timestamp tick
    writeFileSync(path, Buffer.alloc(100, 1));
    expectCode(() => readSmallFile(path, scanned, new Uint8Array(256)), 'FILE_CHANGED');
    expect(readSmallFile(path, fileStatOf(lstatSync(path, { bigint: true }))).bytes.length).toBe(100);
  });
});
