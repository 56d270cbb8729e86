/**
 * One writer at a time: `.mlstore/lock` is created with O_EXCL and holds the owner's pid, host
 * and command. A second writer gets LOCKED with who holds it, instead of a corrupt store. A lock
 * left by a process that no longer exists on this host (killed with SIGKILL) is taken over; the
 * store itself needs no repair, because every write is atomic and refs move last.
 */
import { open, readFile, unlink } from 'node:fs/promises';
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
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await open(path, 'wx', 0o644);
        try {
          await fh.writeFile(JSON.stringify(owner));
        } finally {
          await fh.close();
        }
        return new RepoLock(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fromFsError(e, path, 'create the lock');
      }
      const current = await readOwner(path);
      if (current && current.host === owner.host && !options.isAlive(current.pid)) {
        await unlink(path).catch(() => {}); // stale: its process is gone
        continue;
      }
      if (!current) continue; // vanished between open and read: retry
      throw new MlstoreError('LOCKED', `the repository is locked by ${current.command} (pid ${current.pid} on ${current.host}, since ${current.time})`, {
        details: { lock: path, owner: current },
        hint: `Wait for it to finish. If that process is gone from another host, remove ${path}.`,
      });
    }
    throw new MlstoreError('LOCKED', `could not take the repository lock ${path}`, { details: { lock: path } });
  }

  async release(): Promise<void> {
    await unlink(this.path).catch(() => {});
  }
}

async function readOwner(path: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockOwner;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // A lock whose content is unreadable (torn by a crash mid-write) has no live owner to respect.
    return { pid: -1, host: hostname(), command: 'unknown', time: 'unknown' };
  }
}
