/**
 * One writer at a time: `.mlstore/lock` is created with O_EXCL and holds the owner's pid, host
 * and command. A second writer gets LOCKED with who holds it, instead of a corrupt store. A lock
 * left by a process that no longer exists on this host (killed with SIGKILL) is taken over; the
 * store itself needs no repair, because every write is atomic and refs move last.
 * The lock appears atomically (hard link of a complete temp file), so it is never empty.
 */
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
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
      for (let attempt = 0; attempt < 3; attempt++) {
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
        if (current === 'unreadable' || (current.host === owner.host && current.pid > 0 && !options.isAlive(current.pid))) {
          await unlink(path).catch(() => {}); // stale: its process is gone
          continue;
        }
        throw new MlstoreError('LOCKED', `the repository is locked by ${current.command} (pid ${current.pid} on ${current.host}, since ${current.time})`, {
          details: { lock: path, owner: current },
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

async function readOwner(path: string): Promise<LockOwner | 'unreadable' | 'young' | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fromFsError(e, path, 'read the lock');
  }
  try {
    const owner = JSON.parse(text) as LockOwner;
    if (typeof owner.pid === 'number' && typeof owner.host === 'string') return owner;
  } catch {
    // fall through
  }
  // Locks are linked into place complete, so garbage here is not a writer mid-way — unless an
  // older mlstore (create, then write) is taking it right now: respect it for a few seconds.
  const st = await stat(path).catch(() => undefined);
  if (!st) return undefined;
  return Date.now() - st.mtimeMs > UNREADABLE_STALE_MS ? 'unreadable' : 'young';
}
