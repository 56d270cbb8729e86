/**
 * Directory bookkeeping for LocalBackend: which directories exist (so each is created once),
 * which ones a flush must fsync (entries were added to them), and which ones are "fresh" —
 * absent when this instance first looked, or created by it — so that an object there can only be
 * one this instance put and put() may skip the per-object existence check (≈ 15 µs each here).
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fromFsError } from '../errors.js';
import type { LocalFs } from './local-backend.js';

export class LocalDirs {
  readonly #known = new Set<string>();
  readonly #fresh = new Set<string>();
  readonly #checked = new Set<string>();
  #dirty = new Set<string>();

  /** `realFs`: the node:fs calls may be made directly (no fault-injecting facade in use). */
  constructor(
    private readonly fs: LocalFs,
    private readonly realFs: boolean,
  ) {}

  async ensure(dir: string): Promise<void> {
    if (this.#known.has(dir)) return;
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
