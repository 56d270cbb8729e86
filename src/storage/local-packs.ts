/**
 * Packs: small objects of a local store kept many to a file (docs/format.md#packs).
 *
 *   <root>/packs/<name>.pack   the objects' bytes, one after another
 *   <root>/packs/<name>.idx    which key lives where:
 *                                mlstore-pack-index 1 <pack bytes> <count>\n
 *                                <key> <offset> <length>\n   (in pack order, contiguous from 0)
 *   <name> = SHA-256 of the .idx bytes, so a damaged index is recognised by its name.
 *
 * Why: one file per object costs a create, a write, a close and a rename per object; for 20,000
 * files of a few KiB that is most of `add` (docs/performance.md). A pack is one file per batch.
 * Packs are immutable like objects; the .idx is renamed into place after its .pack, so an index
 * only ever names bytes that are already there. Object bytes are verified by their id above the
 * backend (src/repository), exactly as for loose files; the index carries no checksum of them.
 *
 * Only local stores pack (remotes keep one key per object; a push copies keys), and only objects
 * under `objects/chunks/` of at most PACKABLE_MAX bytes.
 */
import { close, closeSync, fdatasync, openSync, readFileSync, readdirSync, statSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { MlstoreError, fromFsError } from '../errors.js';
import { assertValidKey } from './backend.js';

export const PACKS_DIR = 'packs';
/** Objects up to this size are packed; larger ones stay one file each (their write dominates). */
export const PACKABLE_MAX = 64 * 1024;
/**
 * A pack is closed (and a new one begun) at this size: its fdatasync then runs while the next
 * fills, and a repack for one delete stays cheap.
 */
export const PACK_MAX_BYTES = 32 * 1024 * 1024;
const HEADER = 'mlstore-pack-index 1';
const NAME_RE = /^[0-9a-f]{64}$/;
/** Writes are gathered up to this many bytes: 20,000 write calls cost ≈ 0.1 s. */
const WRITE_GATHER = 1 << 20;

export function isPackable(key: string, size: number): boolean {
  return size <= PACKABLE_MAX && key.startsWith('objects/chunks/');
}

/** Where one packed object's bytes are. */
export interface PackEntry {
  /** Absolute path of the .pack file. */
  readonly path: string;
  readonly offset: number;
  readonly length: number;
}

/** What fsck needs to read a local store's packed objects with its own threads. */
export interface PackedPlaces {
  /** `packs/<name>.pack@<offset>+<length>` (relative to the store root) of a committed packed key. */
  packedPlace(key: string): string | undefined;
  /** Committed packed keys under a prefix, with their sizes. */
  packedKeys(prefix: string): Array<[key: string, size: number]>;
  /** Damaged pack indexes (their objects read as missing). */
  packProblems(): PackProblem[];
  /** Moves a damaged index (`packs/<name>.idx`) and its pack to quarantine/packs/; returns where. */
  quarantinePack(indexKey: string, stamp: string): string;
}

export function packedPlaces(backend: object): PackedPlaces | undefined {
  return typeof (backend as Partial<PackedPlaces>).packedPlace === 'function' ? (backend as PackedPlaces) : undefined;
}

/** Parses a place from `packedPlace`: the file (relative) and the byte range. */
export function parsePackedPlace(place: string): { file: string; offset: number; length: number } | undefined {
  const m = /^(packs\/[0-9a-f]{64}\.pack)@(0|[1-9][0-9]*)\+(0|[1-9][0-9]*)$/.exec(place);
  return m ? { file: m[1]!, offset: Number(m[2]), length: Number(m[3]) } : undefined;
}

export interface PackProblem {
  /** Store-relative path of the damaged file, e.g. `packs/<name>.idx`. */
  readonly key: string;
  readonly detail: string;
}

/** Encodes an index for entries in pack order. */
export function encodePackIndex(entries: ReadonlyArray<readonly [key: string, length: number]>): Uint8Array {
  let offset = 0;
  const lines: string[] = [];
  for (const [key, length] of entries) {
    lines.push(`${key} ${offset} ${length}\n`);
    offset += length;
  }
  return new TextEncoder().encode(`${HEADER} ${offset} ${entries.length}\n${lines.join('')}`);
}

/**
 * Strict decoding: the name must be the SHA-256 of the bytes, the header exact, every key valid
 * and unique, entries contiguous from offset 0 and summing to the declared pack size.
 */
export function decodePackIndex(name: string, bytes: Uint8Array): Array<[key: string, offset: number, length: number]> {
  const bad = (why: string) => new MlstoreError('CORRUPT_OBJECT', `pack index ${name}.idx is damaged: ${why}`, { details: { key: `${PACKS_DIR}/${name}.idx` } });
  if (createHash('sha256').update(bytes).digest('hex') !== name) throw bad('its bytes do not hash to its name');
  const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  const lines = text.split('\n');
  if (lines.pop() !== '') throw bad('it does not end with a newline');
  const head = /^mlstore-pack-index 1 (0|[1-9][0-9]*) (0|[1-9][0-9]*)$/.exec(lines[0] ?? '');
  if (!head) throw bad('unknown header (a newer mlstore?)');
  const total = Number(head[1]);
  const count = Number(head[2]);
  if (lines.length - 1 !== count) throw bad(`it lists ${lines.length - 1} objects, its header ${count}`);
  const out: Array<[string, number, number]> = [];
  const seen = new Set<string>();
  let next = 0;
  for (let i = 1; i < lines.length; i++) {
    const m = /^(\S+) (0|[1-9][0-9]*) (0|[1-9][0-9]*)$/.exec(lines[i]!);
    if (!m) throw bad(`line ${i + 1} is not "<key> <offset> <length>"`);
    const key = m[1]!;
    try {
      assertValidKey(key);
    } catch {
      throw bad(`line ${i + 1}: invalid key`);
    }
    const offset = Number(m[2]);
    const length = Number(m[3]);
    if (offset !== next || !isPackable(key, length)) throw bad(`line ${i + 1}: not a contiguous small chunk entry`);
    if (seen.has(key)) throw bad(`line ${i + 1}: ${key} listed twice`);
    seen.add(key);
    out.push([key, offset, length]);
    next = offset + length;
  }
  if (next !== total) throw bad(`its entries cover ${next} bytes, its header ${total}`);
  return out;
}

/**
 * The committed packs of a store, as a key → entry map. Loaded lazily on first use; `refresh()`
 * picks up packs another process committed and forgets those it removed.
 */
export class PackIndex {
  readonly #dir: string;
  readonly #byKey = new Map<string, PackEntry>();
  /** pack name → its keys. */
  readonly #packs = new Map<string, string[]>();
  readonly #problems = new Map<string, PackProblem>();
  #loaded = false;
  /** The directory's inode and mtime at the last refresh: any pack added or removed changes it. */
  #stamp = '';

  constructor(root: string) {
    this.#dir = join(root, PACKS_DIR);
  }

  get dir(): string {
    return this.#dir;
  }

  lookup(key: string): PackEntry | undefined {
    if (!this.#loaded) this.refresh();
    return this.#byKey.get(key);
  }

  /** Every packed key under `prefix` with its size. */
  *entries(prefix: string): Iterable<[key: string, entry: PackEntry]> {
    if (!this.#loaded) this.refresh();
    for (const [key, entry] of this.#byKey) if (key.startsWith(prefix)) yield [key, entry];
  }

  /** Damaged indexes seen by the last refresh (their objects read as missing). */
  problems(): PackProblem[] {
    if (!this.#loaded) this.refresh();
    return [...this.#problems.values()];
  }

  /**
   * Refreshes only when the directory changed since the last look (one stat) — or changed less
   * than 2 s ago, since a file system with coarse timestamps can show two changes as one.
   */
  refreshIfChanged(): void {
    const [stamp, mtimeMs] = this.#dirStamp();
    if (!this.#loaded || stamp !== this.#stamp || Date.now() - mtimeMs < 2000) this.refresh();
  }

  #dirStamp(): [stamp: string, mtimeMs: number] {
    try {
      const st = statSync(this.#dir, { bigint: true });
      return [`${st.ino}:${st.mtimeNs}`, Number(st.mtimeMs)];
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return ['absent', 0];
      throw fromFsError(e, this.#dir, 'check');
    }
  }

  /** Re-reads the directory: loads new indexes, drops removed ones. Synchronous (small, rare). */
  refresh(): void {
    this.#loaded = true;
    this.#stamp = this.#dirStamp()[0];
    let names: string[];
    try {
      names = readdirSync(this.#dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(e, this.#dir, 'list');
      names = [];
    }
    const present = new Set<string>();
    for (const file of names) {
      if (!file.endsWith('.idx') || !NAME_RE.test(file.slice(0, -4))) continue;
      const name = file.slice(0, -4);
      present.add(name);
      if (this.#packs.has(name) || this.#problems.has(name)) continue;
      let entries: Array<[string, number, number]>;
      try {
        entries = decodePackIndex(name, readFileSync(join(this.#dir, file)));
      } catch (e) {
        if (e instanceof MlstoreError || e instanceof TypeError) {
          this.#problems.set(name, { key: `${PACKS_DIR}/${file}`, detail: e.message });
          continue;
        }
        throw fromFsError(e, join(this.#dir, file), 'read');
      }
      this.add(name, entries);
    }
    for (const name of [...this.#packs.keys()]) if (!present.has(name)) this.forget(name);
    for (const name of [...this.#problems.keys()]) if (!present.has(name)) this.#problems.delete(name);
  }

  /** Registers a pack this process just committed. A key already packed elsewhere keeps its entry. */
  add(name: string, entries: ReadonlyArray<readonly [key: string, offset: number, length: number]>): void {
    const path = join(this.#dir, `${name}.pack`);
    const keys: string[] = [];
    for (const [key, offset, length] of entries) {
      keys.push(key);
      if (!this.#byKey.has(key)) this.#byKey.set(key, { path, offset, length });
    }
    this.#packs.set(name, keys);
  }

  /** Forgets a pack (removed by a repack); its keys fall back to any other pack holding them. */
  forget(name: string): void {
    const keys = this.#packs.get(name);
    this.#packs.delete(name);
    if (!keys) return;
    const path = join(this.#dir, `${name}.pack`);
    const orphans: string[] = [];
    for (const key of keys) {
      if (this.#byKey.get(key)?.path === path) {
        this.#byKey.delete(key);
        orphans.push(key);
      }
    }
    if (orphans.length === 0) return;
    const wanted = new Set(orphans);
    for (const [other, otherKeys] of this.#packs) {
      // re-read the other pack's offsets from its index (they are not kept per pack)
      if (!otherKeys.some((k) => wanted.has(k))) continue;
      const file = join(this.#dir, `${other}.idx`);
      let entries: Array<[string, number, number]>;
      try {
        entries = decodePackIndex(other, readFileSync(file));
      } catch {
        continue;
      }
      const otherPath = join(this.#dir, `${other}.pack`);
      for (const [key, offset, length] of entries) {
        if (wanted.delete(key)) this.#byKey.set(key, { path: otherPath, offset, length });
      }
    }
  }
}

/**
 * A pack being written in tmp/: bytes are copied into a reused gather buffer and written 1 MiB at
 * a time (20,000 small write calls, or 20,000 copies for the GC, cost more than the data), the
 * entries remembered; `finish()` writes the index next to it, names both and, when asked, starts
 * fdatasync of both on the libuv pool, so the disk writes a full pack while the next one fills.
 */
export class PackDraft {
  readonly tmpPack: string;
  readonly tmpIdx: string;
  readonly #entries: Array<[string, number]> = [];
  readonly #where = new Map<string, { offset: number; length: number }>();
  #fd: number | undefined;
  #gather: Buffer | undefined;
  #gathered = 0;
  #written = 0;
  #size = 0;
  /** Set by finish(). */
  name: string | undefined;
  /** Settles once the pack and its index are durable (finish with sync), else at once. */
  synced: Promise<void> = Promise.resolve();

  constructor(tmpBase: string) {
    this.tmpPack = `${tmpBase}.pack`;
    this.tmpIdx = `${tmpBase}.idx`;
  }

  get size(): number {
    return this.#size;
  }

  /** Where a staged object is in the temp pack (written out first, so a reader finds the bytes). */
  locate(key: string): { offset: number; length: number } | undefined {
    const at = this.#where.get(key);
    if (at) this.flushWrites();
    return at;
  }

  append(key: string, bytes: Uint8Array): void {
    if (this.#fd === undefined) {
      try {
        this.#fd = openSync(this.tmpPack, 'wx', 0o644);
      } catch (e) {
        throw fromFsError(e, this.tmpPack, 'create');
      }
    }
    const gather = (this.#gather ??= Buffer.allocUnsafe(WRITE_GATHER));
    if (this.#gathered + bytes.length > gather.length) this.flushWrites();
    // a copy: the caller may reuse its buffer once put() resolved
    gather.set(bytes, this.#gathered);
    this.#gathered += bytes.length;
    this.#where.set(key, { offset: this.#size, length: bytes.length });
    this.#entries.push([key, bytes.length]);
    this.#size += bytes.length;
  }

  flushWrites(): void {
    if (this.#fd === undefined || this.#gathered === 0) return;
    try {
      for (let done = 0; done < this.#gathered; ) done += writeSync(this.#fd, this.#gather!, done, this.#gathered - done, this.#written + done);
    } catch (e) {
      throw fromFsError(e, this.tmpPack, 'write');
    }
    this.#written += this.#gathered;
    this.#gathered = 0;
  }

  /** Writes the rest and the index; returns the entries with their offsets. */
  finish(sync: boolean): Array<[key: string, offset: number, length: number]> {
    this.flushWrites();
    this.#gather = undefined;
    const packFd = this.#fd!;
    this.#fd = undefined;
    const idx = encodePackIndex(this.#entries);
    this.name = createHash('sha256').update(idx).digest('hex');
    let idxFd: number;
    try {
      idxFd = openSync(this.tmpIdx, 'wx', 0o644);
    } catch (e) {
      closeSync(packFd);
      throw fromFsError(e, this.tmpIdx, 'create');
    }
    try {
      for (let done = 0; done < idx.length; ) done += writeSync(idxFd, idx, done, idx.length - done);
    } catch (e) {
      closeSync(packFd);
      closeSync(idxFd);
      throw fromFsError(e, this.tmpIdx, 'write');
    }
    if (sync) {
      this.synced = Promise.all([syncAndClose(packFd, this.tmpPack), syncAndClose(idxFd, this.tmpIdx)]).then(() => {});
      this.synced.catch(() => {}); // awaited by the batch commit; never unhandled meanwhile
    } else {
      closeSync(packFd);
      closeSync(idxFd);
    }
    let offset = 0;
    return this.#entries.map(([key, length]) => {
      const e: [string, number, number] = [key, offset, length];
      offset += length;
      return e;
    });
  }

  /** Closes the file if still open (after a failure); the temp files are left for cleanTmp. */
  abandon(): void {
    if (this.#fd !== undefined) {
      try {
        closeSync(this.#fd);
      } catch {
        // already closed
      }
      this.#fd = undefined;
    }
    this.#gather = undefined;
  }
}

/** fdatasync on the libuv pool, then close; rejects with the sync error (fatal for the caller). */
function syncAndClose(fd: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    fdatasync(fd, (err) => {
      close(fd, () => (err ? reject(Object.assign(err, { path })) : resolve()));
    });
  });
}
