/**
 * Names of LocalBackend's temp files, and the clean-up of those left by killed writers.
 *
 * A temp name is an instance prefix plus a counter. With an owner (the repository's store) the
 * prefix starts `<pid>@<host tag>.`, the host tag being 8 hex digits of SHA-256 of the host name,
 * so a clean-up can tell a live writer's files from a dead one's: `fetch` takes no repository
 * lock, and a long one may keep a staged batch in tmp/ for more than the 10 minutes after which
 * an unowned leftover is presumed abandoned. docs/storage.md#local-durability.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fromFsError } from '../errors.js';
import type { LocalFs } from './local-backend.js';

/** This process's pid and a liveness probe for pids on this host (storage does not touch `process`). */
export interface StoreOwner {
  pid: number;
  isAlive: (pid: number) => boolean;
}

let cachedHostTag: string | undefined;

function hostTag(): string {
  return (cachedHostTag ??= createHash('sha256').update(hostname()).digest('hex').slice(0, 8));
}

/** A fresh prefix for one backend instance's temp names. */
export function tmpPrefix(owner: StoreOwner | undefined): string {
  return `${owner ? `${owner.pid}@${hostTag()}.` : ''}${randomBytes(8).toString('hex')}-`;
}

/** Whether a temp file name carries the pid of a live process on this host. */
function liveWriter(name: string, owner: StoreOwner | undefined): boolean {
  const m = /^(\d+)@([0-9a-f]{8})\./.exec(name);
  return m !== null && owner !== undefined && m[2] === hostTag() && owner.isAlive(Number(m[1]));
}

export interface CleanTmpOptions {
  fs: LocalFs;
  /** `<root>/tmp`; its `locks/` subdirectory holds CAS lock files. */
  dir: string;
  /** Temp files last modified before this (ms since the epoch) may go… */
  cutoff: number;
  /** …and lock files before this. */
  lockCutoff: number;
  /** The calling instance's prefix: its own files never go (a staged batch may be older than the cutoff). */
  ownPrefix: string;
  /** Who is asking: files of live writers on this host never go. Without it, age alone decides. */
  owner?: StoreOwner;
}

/** Removes abandoned temp and lock files; returns how many. */
export async function cleanTmpDir(o: CleanTmpOptions): Promise<number> {
  let removed = 0;
  const locks = join(o.dir, 'locks');
  for (const [dir, limit] of [
    [o.dir, o.cutoff],
    [locks, o.lockCutoff],
  ] as const) {
    let names: string[];
    try {
      names = await o.fs.readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw fromFsError(e, dir, 'list');
    }
    for (const name of names) {
      if (name.startsWith(o.ownPrefix)) continue; // this instance's own: staged, or removed by their writer
      if (dir !== locks && liveWriter(name, o.owner)) continue;
      const p = join(dir, name);
      const st = await o.fs.stat(p).catch(() => undefined);
      if (!st?.isFile() || st.mtimeMs > limit) continue;
      await o.fs.unlink(p).then(() => removed++, () => {});
    }
  }
  return removed;
}
