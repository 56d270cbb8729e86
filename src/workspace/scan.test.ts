/** The workspace scan: what it lists, in which order. */
import { lstatSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scanWorkspace } from './scan.js';
import { parseIdentity } from './stat-cache.js';

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('scanWorkspace', () => {
  it("lists a directory's files before its subdirectories' (each directory's files together), with their full stat identity", async () => {
    const root = await mkdtemp(join(tmpdir(), 'mlstore-scan-'));
    dirs.push(root);
    await mkdir(join(root, 'd/b/e'), { recursive: true });
    for (const f of ['d/a.txt', 'd/b/x', 'd/b/e/y', 'd/c.txt', 'd/\uFFFDname']) await writeFile(join(root, f), f);
    const scan = await scanWorkspace(root, ['d']);
    expect(scan.files.map((f) => f.path)).toEqual(['d/a.txt', 'd/c.txt', 'd/\uFFFDname', 'd/b/x', 'd/b/e/y']);
    expect(scan.dirs).toEqual(['d', 'd/b', 'd/b/e']);
    const st = lstatSync(join(root, 'd/a.txt'), { bigint: true });
    const a = scan.files[0]!;
    expect(parseIdentity(a.identity)).toEqual({ size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino, dev: st.dev, mode: st.mode });
    expect([a.size, a.mode]).toEqual([Number(st.size), Number(st.mode)]);
  });
});
