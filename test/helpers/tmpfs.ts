/** A small real file system for full-disk tests: a tmpfs mounted for one test (needs root). */
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import type { TestContext } from 'vitest';

/**
 * Mounts a tmpfs of `size` (mount's syntax: '8m') at `dir`, runs `fn` with it and unmounts it
 * again. Where mounting is not permitted the test is skipped, with the reason.
 */
export async function withTmpfs<T>(ctx: TestContext, dir: string, size: string, fn: (mnt: string) => Promise<T>): Promise<T> {
  await mkdir(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    ctx.skip(`cannot mount a ${size} tmpfs (needs root): ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`);
  }
  try {
    return await fn(dir);
  } finally {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  }
}
