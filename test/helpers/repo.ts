/** Temporary directories and repositories for tests, removed after the test file. */
import { mkdtemp, rm, writeFile, mkdir, readFile, readdir, lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, expect } from 'vitest';
import { runCli } from './cli.js';

const created: string[] = [];
let hooked = false;

/** A fresh empty directory under the system temp dir, removed after the test file. */
export async function tempDir(prefix = 'mlstore-test-'): Promise<string> {
  if (!hooked) {
    hooked = true;
    afterAll(async () => {
      if (process.env.MLSTORE_KEEP_TEST_DIRS) return;
      await Promise.all(created.map((d) => rm(d, { recursive: true, force: true }).catch(() => {})));
    });
  }
  const dir = await mkdtemp(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}

/** Small chunks so a few hundred KiB give many chunks and multi-chunk files. */
export const SMALL_CHUNKS = ['--chunk-min', '1KiB', '--chunk-avg', '4KiB', '--chunk-max', '16KiB'];

/** A new directory with `mlstore init` run in it. */
export async function newRepo(options: { chunks?: string[]; dir?: string } = {}): Promise<string> {
  const dir = options.dir ?? (await tempDir());
  const r = await runCli(['init', ...(options.chunks ?? SMALL_CHUNKS)], { cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  return dir;
}

/** Writes files (creating parent directories); `null` content creates a directory. */
export async function writeFiles(root: string, files: Record<string, string | Uint8Array | null>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, path);
    if (content === null) {
      await mkdir(full, { recursive: true });
      continue;
    }
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, content);
  }
}

/** Deterministic pseudo-random bytes (SHA-256 counter stream) — incompressible, reproducible. */
export function pseudoRandom(seed: string, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  for (let i = 0; off < size; i++) {
    const block = createHash('sha256').update(`${seed}:${i}`).digest();
    off += block.copy(out, off, 0, Math.min(32, size - off));
  }
  return out;
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Every regular file, directory and symlink under `root` (excluding .mlstore and .git), as
 * repo-relative path → sha256 of content / 'dir' / 'symlink:<target>'. For "nothing changed" checks.
 */
export async function snapshotTree(root: string, options: { include?: (path: string) => boolean } = {}): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const { readlink } = await import('node:fs/promises');
  async function walk(rel: string): Promise<void> {
    const names = await readdir(rel === '' ? root : join(root, rel));
    for (const name of names.sort()) {
      const p = rel === '' ? name : `${rel}/${name}`;
      if (rel === '' && (name === '.mlstore' || name === '.git')) continue;
      if (options.include && !options.include(p)) continue;
      const full = join(root, p);
      const st = await lstat(full);
      if (st.isSymbolicLink()) out.set(p, `symlink:${await readlink(full)}`);
      else if (st.isDirectory()) {
        out.set(p, 'dir');
        await walk(p);
      } else if (st.isFile()) out.set(p, `${(st.mode & 0o111) !== 0 ? 'x' : '-'}:${sha256(await readFile(full))}`);
      else out.set(p, 'special');
    }
  }
  await walk('');
  return out;
}
