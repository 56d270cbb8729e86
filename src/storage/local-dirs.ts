/**
 * Directory bookkeeping for LocalBackend: which directories exist (so each is created once),
 * which ones a flush must fsync (entries were added to them), and which ones are "fresh" —
 * absent when this instance first looked, or created by it — so that an object there can only be
 * one this instance put and put() may skip the per-object existence check (≈ 15 µs each here).
 *
 * With `noSymlinksBelow` (a shared directory used as a remote, where others may write), a
 * directory is refused before anything is created in it when a component below that root is a
 * symlink: whoever can write to the remote could otherwise point `refs/` or `objects/` at
 * any directory the pushing user may write to, and a push would create and replace files there.
 * (The repository's own store may be spread over disks with symlinks by its owner.)
 */
import { lstatSync, mkdirSync, statSync } from 'node:fs';
import { dirname, sep } from 'node:path';
import { MlstoreError, fromFsError } from '../errors.js';
import type { LocalFs } from './local-backend.js';

export class LocalDirs {
  readonly #known = new Set<string>();
  readonly #fresh = new Set<string>();
  readonly #checked = new Set<string>();
  /** Directories assertNoSymlinks() passed. */
  readonly #safe = new Set<string>();
  #dirty = new Set<string>();

  /** `realFs`: the node:fs calls may be made directly (no fault-injecting facade in use). */
  constructor(
    private readonly fs: LocalFs,
    private readonly realFs: boolean,
    private readonly noSymlinksBelow?: string,
  ) {}

  async ensure(dir: string): Promise<void> {
    if (this.#known.has(dir)) return;
    this.#refuseSymlinks(dir);
    let first: string | undefined;
    try {
      first = await this.fs.mkdir(dir, { recursive: true });
    } catch (e) {
      throw fromFsError(e, dir, 'create directory');
    }
    this.#created(dir, first);
  }

  ensureSync(dir: string): void {
    if (this.#known.has(dir)) return;
    this.#refuseSymlinks(dir);
    let first: string | undefined;
    try {
      first = mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw fromFsError(e, dir, 'create directory');
    }
    this.#created(dir, first);
  }

  /** True when every object in `dir` was put by this instance (see above). */
  isFresh(dir: string): boolean {
    if (this.#fresh.has(dir)) return true;
    if (!this.realFs || this.#checked.has(dir)) return false;
    this.#checked.add(dir);
    let st;
    try {
      st = statSync(dir, { throwIfNoEntry: false });
    } catch {
      return false; // the per-object check will report it
    }
    if (st) return false;
    this.#fresh.add(dir);
    return true;
  }

  /** An entry was added to or removed from `dir`. */
  touched(dir: string): void {
    this.#dirty.add(dir);
  }

  /** The directories touched since the last call. */
  takeDirty(): string[] {
    const dirs = [...this.#dirty];
    this.#dirty = new Set();
    return dirs;
  }

  /**
   * With noSymlinksBelow, refuses `dir` now (BAD_PATH) if a component below the root is a
   * symlink: a put checks before it stages, so the refusal is not mistaken for a failed batch.
   */
  assertNoSymlinks(dir: string): void {
    if (this.noSymlinksBelow === undefined || this.#known.has(dir) || this.#safe.has(dir)) return;
    this.#refuseSymlinks(dir);
    this.#safe.add(dir);
  }

  /** With noSymlinksBelow: BAD_PATH when a component of `dir` below the root is a symlink or not a directory. */
  #refuseSymlinks(dir: string): void {
    const root = this.noSymlinksBelow;
    if (root === undefined || !dir.startsWith(root.endsWith(sep) ? root : `${root}${sep}`)) return;
    const parts = dir.slice(root.length).split(sep).filter((p) => p !== '');
    let path = root;
    for (const part of parts) {
      path = path.endsWith(sep) ? `${path}${part}` : `${path}${sep}${part}`;
      let st;
      try {
        st = lstatSync(path, { throwIfNoEntry: false });
      } catch (e) {
        throw fromFsError(e, path, 'stat');
      }
      if (!st) return; // missing: mkdir creates real directories from here on
      if (!st.isDirectory()) {
        throw new MlstoreError('BAD_PATH', `${path} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; mlstore never writes through symlinks in a remote`, {
          details: { path },
          hint: 'Someone who can write to this shared directory may have planted it: check the remote, and remove the symlink.',
        });
      }
    }
  }

  /** Every directory created from `first` down to `dir` is a new entry in its parent. */
  #created(dir: string, first: string | undefined): void {
    if (first !== undefined) {
      for (let d = dir; ; d = dirname(d)) {
        this.#fresh.add(d);
        this.#dirty.add(dirname(d));
        if (d === first || d === dirname(d)) break;
      }
    }
    this.#known.add(dir);
  }
}
