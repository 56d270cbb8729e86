import { mkdtempSync, rmSync, writeFileSync, appendFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectCode } from '../../test/helpers/expect-code.js';
import { readSmallFile } from './small-file.js';
import { fileStatOf } from './file-identity.js';

const dir = mkdtempSync(join(tmpdir(), 'mlstore-small-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


describe('readSmallFile', () => {
  it('returns exactly the bytes and the identity the scan saw', () => {
    const p = join(dir, 'a.bin');
    writeFileSync(p, Buffer.from('hello, small file\n'));
    const scanned = fileStatOf(lstatSync(p, { bigint: true }));
    const r = readSmallFile(p, scanned);
    expect(Buffer.from(r.bytes).toString()).toBe('hello, small file\n');
    expect(r.identity.size).toBe(18n);
    expect(r.identity.ino).toBe(scanned.ino);
  });

  it('reads the empty file as zero bytes', () => {
    const p = join(dir, 'empty');
    writeFileSync(p, '');
    expect(readSmallFile(p, undefined).bytes.length).toBe(0);
  });

  it('FILE_CHANGED when the file differs from what the scan saw (appended, replaced)', () => {
    const p = join(dir, 'b.bin');
    writeFileSync(p, 'v1');
    const scanned = fileStatOf(lstatSync(p, { bigint: true }));
    appendFileSync(p, 'more');
    expectCode(() => readSmallFile(p, scanned), 'FILE_CHANGED');
    writeFileSync(join(dir, 'b2.bin'), 'v1');
    rmSync(p);
    writeFileSync(p, 'v1'); // same size and content, new inode
    expectCode(() => readSmallFile(p, scanned), 'FILE_CHANGED');
  });

  it('reads into the given buffer when the file fits, into a fresh one when it does not', () => {
    const p = join(dir, 'c.bin');
    writeFileSync(p, 'twelve bytes');
    const into = new Uint8Array(16).fill(7);
    const fits = readSmallFile(p, undefined, into).bytes;
    expect(fits.buffer).toBe(into.buffer);
    expect(Buffer.from(fits).toString()).toBe('twelve bytes');
    expect(into[12]).toBe(7); // nothing written past the file's size
    const tooSmall = new Uint8Array(4);
    const fresh = readSmallFile(p, undefined, tooSmall).bytes;
    expect(fresh.buffer).not.toBe(tooSmall.buffer);
    expect(Buffer.from(fresh).toString()).toBe('twelve bytes');
  });

  it('a missing file or a directory is an I/O error naming the path, not a crash', () => {
    expectCode(() => readSmallFile(join(dir, 'nope'), undefined), 'IO_ERROR');
    expectCode(() => readSmallFile(dir, undefined), 'IO_ERROR');
  });
});
