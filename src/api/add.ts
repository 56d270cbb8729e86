import { lstat } from 'node:fs/promises';
import { MlstoreError } from '../errors.js';
import { withRepository, sig, type CommonOptions } from './context.js';
import { toRepoPath, toFsPath, isUnder, symlinkAbove } from '../workspace/paths.js';
import { snapshotWorkspace } from '../workspace/snapshot.js';
import { ignoreInGit } from '../workspace/lock-file.js';
import type { Skipped } from '../workspace/scan.js';
import type { Healed } from '../repository/object-store.js';

export interface AddOptions extends CommonOptions {
  /** Paths to track, relative to `cwd` (default `dir`). */
  paths: readonly string[];
  cwd?: string;
  /** Re-read every file even when the stat cache says it is unchanged. */
  verify?: boolean;
}

export interface AddResult {
  tracked: string[];
  files: number;
  bytes: number;
  /** Files actually read (the rest were unchanged per the stat cache). */
  read: { files: number; bytes: number };
  skipped: Skipped[];
  gitignore: string[];
  /** With `verify`: damaged stored copies replaced with the bytes just read (ObjectStore heal). */
  healed: Healed[];
}

/**
 * Starts tracking files or directories and stores their content (chunks and manifests).
 * The next `commit` records them. Adding an unchanged file again reads nothing.
 * @example
 *   await add({ dir: '.', paths: ['data/train', 'models/model.bin'] });
 */
export async function add(options: AddOptions): Promise<AddResult> {
  if (options.paths.length === 0) throw new MlstoreError('USAGE', 'nothing to add', { hint: 'Name files or directories: `mlstore add data/`.' });
  return withRepository(options, (repo) =>
    repo.withLock('add', async () => {
      const cwd = options.cwd ?? options.dir;
      const paths = options.paths.map((p) => toRepoPath(repo.root, cwd, p));
      if (paths.includes('')) {
        throw new MlstoreError('BAD_PATH', 'the repository root itself cannot be tracked', { hint: 'Add the data directories inside it.' });
      }
      for (const [i, path] of paths.entries()) {
        const through = await symlinkAbove(repo.root, path);
        if (through !== undefined) {
          throw new MlstoreError('BAD_PATH', `${options.paths[i]} lies behind ${through}, which is a symlink or not a directory; mlstore never follows symlinks`, {
            details: { path: options.paths[i], symlink: through },
          });
        }
        const st = await lstat(toFsPath(repo.root, path)).catch(() => undefined);
        if (!st) throw new MlstoreError('BAD_PATH', `${options.paths[i]} does not exist`, { details: { path: options.paths[i] } });
        if (st.isSymbolicLink()) {
          throw new MlstoreError('BAD_PATH', `${options.paths[i]} is a symlink; mlstore stores real files only`, {
            details: { path: options.paths[i] },
            hint: 'Add the directory or file it points to instead.',
          });
        }
        if (!st.isFile() && !st.isDirectory()) {
          // inside a directory such files are skipped and reported; named directly, the user meant it
          throw new MlstoreError('BAD_PATH', `${options.paths[i]} is a FIFO, socket or device; mlstore stores regular files and directories only`, {
            details: { path: options.paths[i] },
          });
        }
      }
      const before = await repo.trackedPaths();
      const fresh = paths.filter((p) => !before.some((root) => isUnder(p, root)));
      const tracked = [...before.filter((root) => !fresh.some((p) => isUnder(root, p))), ...fresh];
      const snap = await snapshotWorkspace(repo, paths, { mode: 'store', verify: options.verify ?? false, ...sig(options.signal) });
      // unchanged (add again): no rewrite, which would cost two fsyncs
      if (!sameSet(tracked, before)) await repo.setTrackedPaths(tracked);
      const gitignore = await ignoreInGit(repo.root, fresh);
      let bytes = 0;
      for (const f of snap.files.values()) bytes += f.size;
      return { tracked: [...tracked].sort(), files: snap.files.size, bytes, read: snap.read, skipped: snap.skipped, gitignore, healed: [...repo.objects.healed] };
    }),
  );
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a);
  const right = new Set(b);
  return left.size === right.size && [...left].every((p) => right.has(p));
}
