/**
 * The per-key lock behind LocalBackend's compare-and-swap: an O_EXCL lock file
 * `<root>/tmp/locks/<sha256(key)>.lock`, safe between processes. It holds `pid@host` of its
 * holder. A lock is stale — left by a killed process — when its holder is on this host and no
 * longer alive (when the caller can tell, `owner`), or else when it is older than `staleMs` (the
 * critical section takes milliseconds). A stale lock is broken by renaming it aside; if the
 * renamed file turns out to be a fresh lock it is linked back. Without the liveness check, a
 * SIGKILL during a ref update made every later commit wait `timeoutMs` and fail LOCKED until the
 * lock aged out.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { MlstoreError, fromFsError, throwIfAborted } from '../errors.js';
import type { LocalFs } from './local-backend.js';
import type { StoreOwner } from './local-tmp.js';

export interface KeyLockOptions {
  fs: LocalFs;
  /** `<root>/tmp/locks` */
  dir: string;
  location: string;
  timeoutMs: number;
  staleMs: number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  ensureDir: (dir: string) => Promise<void>;
  owner?: StoreOwner;
}

export async function withKeyLock<T>(o: KeyLockOptions, key: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  const lock = join(o.dir, `${createHash('sha256').update(key).digest('hex')}.lock`);
  const deadline = o.now() + o.timeoutMs;
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(signal);
    try {
      await takeLock(o, lock);
      break;
    } catch (e) {
      if (errno(e) === 'ENOENT') {
        await o.ensureDir(o.dir);
        continue;
      }
      if (errno(e) !== 'EEXIST') throw fromFsError(e, lock, 'create lock');
    }
    await breakIfStale(o, lock);
    if (o.now() > deadline) {
      throw new MlstoreError('LOCKED', `${key} in ${o.location} is locked by another writer`, {
        details: { key, lock },
        hint: `If no other mlstore process is running, remove ${lock}.`,
      });
    }
    await o.sleep(Math.min(50, 1 + attempt) * Math.random());
  }
  try {
    return await fn();
  } finally {
    await o.fs.unlink(lock).catch(() => {});
  }
}

/**
 * Creates the lock with its holder already in it: written to a side file, then linked into place
 * (link fails with EEXIST like O_EXCL). Creating the lock first and writing the holder after left,
 * when a process was killed in between, an empty lock nobody could tell was abandoned — every later
 * ref update then failed LOCKED until it aged out (seen once in the crash test).
 */
async function takeLock(o: KeyLockOptions, lock: string): Promise<void> {
  const side = `${lock}.${randomBytes(6).toString('hex')}.new`;
  const fh = await o.fs.open(side, 'wx', 0o644);
  try {
    try {
      if (o.owner) await fh.writeFile(`${o.owner.pid}@${hostname()}`);
    } finally {
      await fh.close();
    }
    await o.fs.link(side, lock);
  } finally {
    await o.fs.unlink(side).catch(() => {});
  }
}

/** Moves an abandoned lock aside; restores it if it turned out to be a fresh one. */
async function breakIfStale(o: KeyLockOptions, lock: string): Promise<void> {
  const st = await o.fs.stat(lock).catch(() => undefined);
  if (!st || (o.now() - st.mtimeMs < o.staleMs && !(await holderIsDead(o, lock)))) return;
  const aside = `${lock}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await o.fs.rename(lock, aside);
  } catch {
    return; // someone else broke or released it
  }
  const moved = await o.fs.stat(aside).catch(() => undefined);
  if (moved && moved.ino !== st.ino) await o.fs.link(aside, lock).catch(() => {});
  await o.fs.unlink(aside).catch(() => {});
}

/** True when the lock names a pid on this host that is no longer alive. */
async function holderIsDead(o: KeyLockOptions, lock: string): Promise<boolean> {
  if (!o.owner) return false;
  let text: string;
  try {
    const fh = await o.fs.open(lock, 'r');
    try {
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
  const m = /^(\d+)@(.+)$/.exec(text);
  return m !== null && m[2] === hostname() && Number(m[1]) > 0 && !o.owner.isAlive(Number(m[1]));
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}
