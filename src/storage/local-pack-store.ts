/**
 * The packed half of a LocalBackend (format in local-packs.ts): drafts being filled in tmp/, the
 * committed packs' index, range reads, and the repack that deletes one packed object.
 *
 * LocalBackend decides when drafts are committed (with its batches: each pack fdatasyncs itself,
 * then packs/ is fsynced); this class only knows how to write, install, read and rewrite packs.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { MlstoreError, fromFsError, throwIfAborted } from '../errors.js';
import type { GetOptions } from './backend.js';
import { decodePackIndex, PACK_MAX_BYTES, PACKS_DIR, PackDraft, PackIndex, type PackEntry, type PackProblem } from './local-packs.js';

/** Read descriptors kept open at most. */
const OPEN_PACKS = 32;

/** A finished draft on its way into packs/. */
export interface SealedPack {
  readonly draft: PackDraft;
  readonly entries: Array<[key: string, offset: number, length: number]>;
}

export class PackStore {
  readonly index: PackIndex;
  readonly #newTmpBase: () => string;
  #draft: PackDraft | undefined;
  /** Drafts that reached PACK_MAX_BYTES, finished (and syncing), waiting for the batch to seal. */
  #full: SealedPack[] = [];
  readonly #staged = new Map<string, PackDraft>();
  /** Open read descriptors by pack path, least recently used first. */
  readonly #fds = new Map<string, number>();

  constructor(root: string, newTmpBase: () => string) {
    this.#newTmpBase = newTmpBase;
    this.index = new PackIndex(root);
  }

  get dir(): string {
    return this.index.dir;
  }

  get stagedCount(): number {
    return this.#staged.size;
  }

  /** Staged here or committed (as of the last refresh: a duplicate across packs is harmless). */
  has(key: string): boolean {
    return this.#staged.has(key) || this.index.lookup(key) !== undefined;
  }

  /** Appends to the open draft; a full draft is finished at once (its sync starts, if durable). */
  append(key: string, bytes: Uint8Array, durable: boolean): void {
    const draft = (this.#draft ??= new PackDraft(this.#newTmpBase()));
    draft.append(key, bytes);
    this.#staged.set(key, draft);
    if (draft.size >= PACK_MAX_BYTES) {
      this.#draft = undefined;
      this.#full.push({ draft, entries: draft.finish(durable) });
    }
  }

  /** Finishes the open draft and hands over every finished one, for the batch being sealed. */
  seal(durable: boolean): SealedPack[] {
    const packs = this.#full;
    this.#full = [];
    const open = this.#draft;
    this.#draft = undefined;
    if (open) packs.push({ draft: open, entries: open.finish(durable) });
    return packs;
  }

  /** Renames sealed packs into place, .pack before .idx (the index is what makes them visible). */
  install(packs: readonly SealedPack[], ensureDir: (dir: string) => void, touched: (dir: string) => void): void {
    if (packs.length === 0) return;
    ensureDir(this.dir);
    for (const { draft, entries } of packs) {
      const final = join(this.dir, draft.name!);
      try {
        renameSync(draft.tmpPack, `${final}.pack`);
        renameSync(draft.tmpIdx, `${final}.idx`);
      } catch (e) {
        throw fromFsError(e, `${final}.idx`, 'store');
      }
      this.index.add(draft.name!, entries);
    }
    touched(this.dir);
  }

  /** Drops the staged entries of committed (or failed) packs. */
  unstage(packs: readonly SealedPack[]): void {
    for (const { draft, entries } of packs) for (const [key] of entries) if (this.#staged.get(key) === draft) this.#staged.delete(key);
  }

  /** Abandons open drafts after a fatal failure (their temp files stay for cleanTmp). */
  abandon(): void {
    this.#draft?.abandon();
    this.#draft = undefined;
  }

  /**
   * Where a packed key's bytes are: staged ones in their temp pack (with the final path to try
   * once its batch renamed it), committed ones in packs/ (re-reading the directory once on a miss,
   * for packs another process committed).
   */
  locate(key: string): (PackEntry & { after?: string }) | undefined {
    const draft = this.#staged.get(key);
    if (draft) {
      const at = draft.locate(key);
      if (at) return { path: draft.tmpPack, ...at, ...(draft.name ? { after: join(this.dir, `${draft.name}.pack`) } : {}) };
    }
    let entry = this.index.lookup(key);
    if (!entry) {
      this.index.refreshIfChanged();
      entry = this.index.lookup(key);
    }
    return entry;
  }

  /** `packs/<name>.pack@<offset>+<length>`: a committed object's place, relative to the store root. */
  placeOf(key: string): string | undefined {
    const e = this.index.lookup(key);
    return e ? `${PACKS_DIR}/${basename(e.path)}@${e.offset}+${e.length}` : undefined;
  }

  problems(): PackProblem[] {
    this.index.refreshIfChanged();
    return this.index.problems();
  }

  /** Reads one packed object; undefined when its pack is gone (removed by a repack meanwhile). */
  read(key: string, options: GetOptions): Uint8Array | undefined {
    for (let attempt = 0; attempt < 2; attempt++) {
      const at = this.locate(key);
      if (!at) return undefined;
      for (const path of at.after ? [at.path, at.after] : [at.path]) {
        const bytes = this.#readRange(path, at, key, options);
        if (bytes) return bytes;
      }
      this.index.refresh(); // the pack vanished: another process repacked; look again
    }
    return undefined;
  }

  /**
   * Synchronous positioned reads through a few cached descriptors: packed objects are small, and
   * an open/read/close round trip through libuv per object cost more than the reading. A pack
   * removed meanwhile stays readable through an open descriptor (its bytes never change).
   */
  #readRange(path: string, at: { offset: number; length: number }, key: string, options: GetOptions): Uint8Array | undefined {
    throwIfAborted(options.signal);
    if (options.maxBytes !== undefined && at.length > options.maxBytes) {
      throw new MlstoreError('LIMIT_EXCEEDED', `${key} is ${at.length} bytes, more than the limit of ${options.maxBytes}`, { details: { key, size: at.length, maxBytes: options.maxBytes } });
    }
    const fd = this.#fd(path, key);
    if (fd === undefined) return undefined;
    const bytes = options.into ? options.into(at.length) : new Uint8Array(at.length);
    let off = 0;
    try {
      while (off < at.length) {
        const n = readSync(fd, bytes, off, at.length - off, at.offset + off);
        if (n === 0) break;
        off += n;
      }
    } catch (e) {
      throw unreadablePacked(e, key, path);
    }
    if (off !== at.length) {
      throw new MlstoreError('UNREADABLE_OBJECT', `${key} is cut short in ${path} (pack truncated?): ${off} of ${at.length} bytes`, { details: { key, path } });
    }
    return bytes;
  }

  #fd(path: string, key: string): number | undefined {
    let fd = this.#fds.get(path);
    if (fd !== undefined) {
      this.#fds.delete(path); // re-insert: most recently used last
      this.#fds.set(path, fd);
      return fd;
    }
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw unreadablePacked(e, key, path);
    }
    this.#fds.set(path, fd);
    if (this.#fds.size > OPEN_PACKS) {
      const [oldest, oldFd] = this.#fds.entries().next().value!;
      this.#fds.delete(oldest);
      closeSync(oldFd);
    }
    return fd;
  }

  /** Closes the cached descriptors. */
  close(): void {
    for (const fd of this.#fds.values()) closeSync(fd);
    this.#fds.clear();
  }

  /**
   * Deletes a committed packed key by rewriting its pack without it: the survivors go to a new
   * pack (synced and renamed in before the old one is removed), so no other object is ever
   * absent. With `durable`, the new pack is synced before its rename and the directory after.
   */
  async remove(key: string, durable: boolean, syncDir: (dir: string) => Promise<void>, ensureDir: (dir: string) => void): Promise<void> {
    this.index.refreshIfChanged();
    const entry = this.index.lookup(key);
    if (!entry) return;
    const name = basename(entry.path, '.pack');
    const idxPath = join(this.dir, `${name}.idx`);
    let entries: Array<[string, number, number]>;
    let pack: Buffer;
    try {
      entries = decodePackIndex(name, readFileSync(idxPath));
      pack = readFileSync(entry.path);
    } catch (e) {
      if (e instanceof MlstoreError) throw e;
      throw fromFsError(e, entry.path, 'read');
    }
    const survivors = entries.filter(([k, offset, length]) => k !== key && offset + length <= pack.length);
    if (survivors.length > 0) {
      const draft = new PackDraft(this.#newTmpBase());
      for (const [k, offset, length] of survivors) draft.append(k, pack.subarray(offset, offset + length));
      const fresh = draft.finish(durable);
      await draft.synced;
      this.install([{ draft, entries: fresh }], ensureDir, () => {});
      if (durable) await syncDir(this.dir);
    }
    for (const path of [idxPath, entry.path]) {
      try {
        unlinkSync(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(e, path, 'delete');
      }
    }
    if (durable) await syncDir(this.dir);
    this.index.forget(name);
  }

  /**
   * Moves a damaged index and its pack out of packs/ to `quarantine/packs/<name>.<stamp>.{idx,pack}`
   * under the store root; returns the quarantined index's store-relative path.
   */
  quarantine(indexKey: string, stamp: string, root: string, ensureDir: (dir: string) => void): string {
    const m = /^packs\/([0-9a-f]{64})\.idx$/.exec(indexKey);
    if (!m) throw new MlstoreError('BAD_PATH', `${indexKey} is not a pack index`);
    const dest = join(root, 'quarantine', PACKS_DIR);
    ensureDir(dest);
    for (const ext of ['pack', 'idx']) {
      try {
        renameSync(join(this.dir, `${m[1]}.${ext}`), join(dest, `${m[1]}.${stamp}.${ext}`));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(e, join(this.dir, `${m[1]}.${ext}`), 'quarantine');
      }
    }
    this.index.refresh();
    return `quarantine/${PACKS_DIR}/${m[1]}.${stamp}.idx`;
  }

  /** Removes .pack files without their .idx (a crash between the two renames), older than `cutoff`. */
  removeOrphans(cutoff: number): number {
    let files: string[];
    try {
      files = readdirSync(this.dir);
    } catch {
      return 0;
    }
    const indexes = new Set(files.filter((f) => f.endsWith('.idx')));
    let removed = 0;
    for (const file of files) {
      if (!file.endsWith('.pack') || indexes.has(`${file.slice(0, -5)}.idx`)) continue;
      const p = join(this.dir, file);
      try {
        const st = statSync(p);
        // ctime too: the rename into packs/ sets it, so a pack whose index is being renamed in
        // right now is never taken for an orphan however old its bytes are
        if (Math.max(st.mtimeMs, st.ctimeMs) > cutoff) continue;
        unlinkSync(p);
        removed++;
      } catch {
        // gone already
      }
    }
    return removed;
  }
}

function unreadablePacked(e: unknown, key: string, path: string): MlstoreError {
  const code = (e as NodeJS.ErrnoException).code;
  return new MlstoreError('UNREADABLE_OBJECT', `${key} exists but could not be read (${code ?? String(e)}): ${path}`, { cause: e, details: { key, path, errno: code } });
}
