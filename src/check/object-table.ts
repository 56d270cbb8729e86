/**
 * A compact id → (flags, size) table for every object of one namespace. fsck must know every
 * object of a store (to find missing and dangling ones) without its memory growing with the
 * bytes stored: each entry costs 32 bytes of id + 4 of size + 1 of flags at ≤ 70 % load, about
 * 53 bytes, where a JS Set of hex strings costs ~120. A 1 TB store of 1 MiB chunks is ~1 M
 * entries, ~53 MB.
 *
 * Open addressing with linear probing over raw 32-byte ids; ids are SHA-256 so their first four
 * bytes are already a uniform hash.
 */
export const FLAG = {
  /** Listed in the store. */
  PRESENT: 1,
  /** Referenced by a reachable tree, manifest or commit. */
  REFERENCED: 2,
  /** Bytes verified in this run. */
  VERIFIED: 4,
  /** A problem was recorded for the object itself. */
  BAD: 8,
  /** Chosen for byte verification in this run. */
  SELECTED: 16,
  /** Verified within --max-age (from the index). */
  RECENT: 32,
} as const;

const ID_BYTES = 32;
const SIZE_UNKNOWN = 0xffffffff;

export class ObjectTable {
  #cap = 0;
  #count = 0;
  #keys = new Uint8Array(0);
  #flags = new Uint8Array(0);
  #sizes = new Uint32Array(0);
  /** Slot occupancy lives in bit 7 of flags so that flags 0 is still a used slot. */
  static readonly #USED = 128;
  readonly #scratch = Buffer.alloc(ID_BYTES);

  constructor(initialCapacity = 1024) {
    this.#resize(nextPow2(Math.max(16, initialCapacity)));
  }

  get size(): number {
    return this.#count;
  }

  /** Adds `id` if absent; ORs `flags` in; records `size` when given. */
  add(id: string, flags: number, size?: number): void {
    if ((this.#count + 1) / this.#cap > 0.7) this.#resize(this.#cap * 2);
    const slot = this.#find(id, true);
    this.#flags[slot] = this.#flags[slot]! | ObjectTable.#USED | flags;
    if (size !== undefined) this.#sizes[slot] = Math.min(size, SIZE_UNKNOWN - 1);
  }

  has(id: string): boolean {
    return this.#find(id, false) >= 0;
  }

  /** The flags of `id`, or 0 when it is not in the table. */
  flags(id: string): number {
    const slot = this.#find(id, false);
    return slot < 0 ? 0 : this.#flags[slot]! & ~ObjectTable.#USED;
  }

  /** Sets flags on an id already in the table (no-op otherwise). */
  mark(id: string, flags: number): void {
    const slot = this.#find(id, false);
    if (slot >= 0) this.#flags[slot] = this.#flags[slot]! | flags;
  }

  unmark(id: string, flags: number): void {
    const slot = this.#find(id, false);
    if (slot >= 0) this.#flags[slot] = this.#flags[slot]! & ~flags;
  }

  /** The listed size of `id`, or undefined when unknown or absent. */
  sizeOf(id: string): number | undefined {
    const slot = this.#find(id, false);
    if (slot < 0) return undefined;
    const s = this.#sizes[slot]!;
    return s === SIZE_UNKNOWN ? undefined : s;
  }

  /** Every id whose flags contain all of `all` and none of `none`. */
  *ids(all = 0, none = 0): Generator<string> {
    const hex = Buffer.alloc(ID_BYTES);
    for (let slot = 0; slot < this.#cap; slot++) {
      const f = this.#flags[slot]!;
      if (!(f & ObjectTable.#USED) || (f & all) !== all || (f & none) !== 0) continue;
      hex.set(this.#keys.subarray(slot * ID_BYTES, slot * ID_BYTES + ID_BYTES));
      yield hex.toString('hex');
    }
  }

  #find(id: string, insert: boolean): number {
    const key = this.#scratch;
    if (key.write(id, 'hex') !== ID_BYTES || id.length !== 64) throw new RangeError(`not an object id: ${id}`);
    const mask = this.#cap - 1;
    let slot = key.readUInt32BE(0) & mask;
    for (;;) {
      if (!(this.#flags[slot]! & ObjectTable.#USED)) {
        if (!insert) return -1;
        this.#keys.set(key, slot * ID_BYTES);
        this.#sizes[slot] = SIZE_UNKNOWN;
        this.#flags[slot] = ObjectTable.#USED;
        this.#count++;
        return slot;
      }
      if (equalAt(this.#keys, slot * ID_BYTES, key)) return slot;
      slot = (slot + 1) & mask;
    }
  }

  #resize(cap: number): void {
    const oldKeys = this.#keys;
    const oldFlags = this.#flags;
    const oldSizes = this.#sizes;
    const oldCap = this.#cap;
    this.#cap = cap;
    this.#keys = new Uint8Array(cap * ID_BYTES);
    this.#flags = new Uint8Array(cap);
    this.#sizes = new Uint32Array(cap);
    const mask = cap - 1;
    for (let i = 0; i < oldCap; i++) {
      if (!(oldFlags[i]! & ObjectTable.#USED)) continue;
      const k = oldKeys.subarray(i * ID_BYTES, i * ID_BYTES + ID_BYTES);
      let slot = ((k[0]! << 24) | (k[1]! << 16) | (k[2]! << 8) | k[3]!) & mask;
      while (this.#flags[slot]! & ObjectTable.#USED) slot = (slot + 1) & mask;
      this.#keys.set(k, slot * ID_BYTES);
      this.#flags[slot] = oldFlags[i]!;
      this.#sizes[slot] = oldSizes[i]!;
    }
  }
}

function equalAt(keys: Uint8Array, off: number, key: Uint8Array): boolean {
  for (let i = 0; i < ID_BYTES; i++) if (keys[off + i] !== key[i]) return false;
  return true;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
