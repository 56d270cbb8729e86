/**
 * One writer at a time: `.mlstore/lock` is created with O_EXCL and holds the owner's pid, host
 * and command. A second writer gets LOCKED with who holds it, instead of a corrupt store. A lock
 * left by a process that no longer exists on this host (killed with SIGKILL) is taken over; the
 * store itself needs no repair, because every write is atomic and refs move last.
 * The lock appears atomically (hard link of a complete temp file), so it is never empty.
 *
 * Taking over a stale lock is serialized by a second exclusive file, `lock.break`: only its
 * holder may remove the lock, and only after re-reading it under `lock.break` and finding the very
 * same stale file (inode and content). Without that, two processes that both judged the same
 * dead owner stale could each remove the lock — the second one removing the first one's fresh
 * lock — and both would go on as the writer.
 */
import { link, mkdir, open, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { MlstoreError, fromFsError } from '../errors.js';

export interface LockOwner {
  pid: number;
  host: string;
  command: string;
  time: string;
}

export interface LockOptions {
  pid: number;
  command: string;
  now: Date;
  /** Whether a pid is alive on this host (injected: the repository layer does not touch `process`). */
  isAlive: (pid: number) => boolean;
}

export class RepoLock {
  private constructor(private readonly path: string) {}

  static async acquire(path: string, options: LockOptions): Promise<RepoLock> {
    const owner: LockOwner = { pid: options.pid, host: hostname(), command: options.command, time: options.now.toISOString() };
    // The owner is written to a temp file first and then hard-linked into place: link(2) fails
    // if the lock exists, and the lock file is never seen empty or half-written (a disk full or
    // a kill between create and write would otherwise leave a lock nobody can judge).
    const tmpDir = join(dirname(path), 'tmp');
    const tmp = join(tmpDir, `lock-${options.pid}-${randomBytes(6).toString('hex')}.tmp`);
    try {
      await mkdir(tmpDir, { recursive: true });
      await writeFile(tmp, JSON.stringify(owner), { flag: 'wx', mode: 0o644 });
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw fromFsError(e, path, 'create the lock');
    }
    try {
      // an attempt that broke a stale lock earns another try at linking ours (bounded all the same)
      for (let attempt = 0, tries = 0; attempt < 3 && tries < 20; attempt++, tries++) {
        try {
          await linkOrCreate(tmp, path, owner);
          return new RepoLock(path);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fromFsError(e, path, 'create the lock');
        }
        const current = await readOwner(path);
        if (!current) continue; // vanished between link and read: retry
        if (current === 'young') {
          throw new MlstoreError('LOCKED', `the repository lock ${path} is being taken by another process`, {
            details: { lock: path },
            hint: 'Wait a moment and run the command again.',
          });
        }
        if (current.kind === 'unreadable' || (current.owner.host === owner.host && current.owner.pid > 0 && !options.isAlive(current.owner.pid))) {
          if (await breakStale(path, current)) attempt--; // stale: its process is gone
          continue;
        }
        const holder = current.owner;
        throw new MlstoreError('LOCKED', `the repository is locked by ${holder.command} (pid ${holder.pid} on ${holder.host}, since ${holder.time})`, {
          details: { lock: path, owner: holder },
          hint: `Wait for it to finish. If that process is gone from another host, remove ${path}.`,
        });
      }
      throw new MlstoreError('LOCKED', `could not take the repository lock ${path}`, { details: { lock: path } });
    } finally {
      await unlink(tmp).catch(() => {});
    }
  }

  async release(): Promise<void> {
    await unlink(this.path).catch(() => {});
  }
}

/** link(2) where the file system has hard links; elsewhere create-exclusive and write (removed again if the write fails). */
async function linkOrCreate(tmp: string, path: string, owner: LockOwner): Promise<void> {
  try {
    await link(tmp, path);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw e;
  }
  await writeFile(path, JSON.stringify(owner), { flag: 'wx', mode: 0o644 }).catch(async (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') await unlink(path).catch(() => {});
    throw e;
  });
}

/** A lock file whose content cannot be parsed is left over from a lost write (power loss) once it is this old. */
const UNREADABLE_STALE_MS = 5_000;

/** What a lock file holds, with the identity of the file that was read (to re-check it under `lock.break`). */
type Judged = { kind: 'owner'; owner: LockOwner; ino: number; text: string } | { kind: 'unreadable'; ino: number; text: string };

async function readOwner(path: string): Promise<Judged | 'young' | undefined> {
  let text: string;
  let ino: number;
  try {
    const fh = await open(path, 'r');
    try {
      ino = (await fh.stat()).ino;
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fromFsError(e, path, 'read the lock');
  }
  try {
    const owner = JSON.parse(text) as LockOwner;
    if (typeof owner.pid === 'number' && typeof owner.host === 'string') return { kind: 'owner', owner, ino, text };
  } catch {
    // fall through
  }
  // Locks are linked into place complete, so garbage here is not a writer mid-way — unless an
  // older mlstore (create, then write) is taking it right now: respect it for a few seconds.
  const st = await stat(path).catch(() => undefined);
  if (!st) return undefined;
  return Date.now() - st.mtimeMs > UNREADABLE_STALE_MS ? { kind: 'unreadable', ino, text } : 'young';
}

/** A `lock.break` older than this was left by a process that died while breaking a lock (a few syscalls). */
const BREAK_STALE_MS = 10_000;

/**
 * Removes the stale lock `judged`, if it is still there, while holding `lock.break`; true if it
 * did. False when another process is breaking it, or it changed meanwhile (the caller re-reads
 * the lock and decides again).
 */
async function breakStale(path: string, judged: Judged): Promise<boolean> {
  const breaker = `${path}.break`;
  try {
    await writeFile(breaker, '', { flag: 'wx', mode: 0o644 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fromFsError(e, breaker, 'create');
    const st = await stat(breaker).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > BREAK_STALE_MS) await unlink(breaker).catch(() => {});
    return false;
  }
  try {
    const now = await readOwner(path);
    if (now && typeof now === 'object' && now.ino === judged.ino && now.text === judged.text) {
      await unlink(path);
      return true;
    }
    return false;
  } catch {
    return false;
  } finally {
    await unlink(breaker).catch(() => {});
  }
}
