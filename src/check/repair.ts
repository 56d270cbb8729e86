/**
 * The explicit repair step of `fsck --repair-from SOURCE`: for each missing or corrupt object
 * fsck reported, fetch a copy from another store, verify it against its id, move the bad bytes
 * to `quarantine/<ns>/<id>.<time>` in the damaged store (`.mlstore/quarantine/` locally), and put
 * the good copy in place. Nothing is deleted that was not first copied to quarantine: an object
 * that cannot be read (permissions) is left alone and reported as not repaired.
 *
 * Repairable: MISSING_OBJECT, HASH_MISMATCH, OBJECT_REPLACED, TRUNCATED, OBJECT_TOO_LARGE and
 * SIZE_MISMATCH of an object whose bytes were not verified; a DAMAGED_PACK index is moved to
 * quarantine (its objects are restored as missing ones). Not repairable this way: an object
 * that hashes correctly but is invalid (every store holds the same bytes), refs, signatures.
 */
import { isMlstoreError, throwIfAborted } from '../errors.js';
import { sha256Hex } from '../core/digest.js';
import { LIMITS } from '../model/limits.js';
import type { Namespace } from '../model/object-kind.js';
import { objectKey } from '../repository/layout.js';
import { ObjectStore } from '../repository/object-store.js';
import type { Backend } from '../storage/backend.js';
import { packedPlaces } from '../storage/local-packs.js';
import type { Problem } from './problem.js';
import type { Repair } from './report.js';

const REPAIRABLE = new Set(['MISSING_OBJECT', 'HASH_MISMATCH', 'OBJECT_REPLACED', 'TRUNCATED', 'OBJECT_TOO_LARGE', 'SIZE_MISMATCH']);
const OBJECT_KINDS = new Set(['chunk', 'file manifest', 'tree', 'commit', 'metadata']);

export interface RepairOptions {
  target: Backend;
  source: Backend;
  now: Date;
  signal?: AbortSignal;
}

export function isRepairable(p: Problem): boolean {
  if (p.code === 'DAMAGED_PACK') return p.key !== undefined;
  if (p.id === null || !REPAIRABLE.has(p.code) || !OBJECT_KINDS.has(p.kind)) return false;
  return !(p.code === 'SIZE_MISMATCH' && p.facts?.['bytesVerified'] === true);
}

export async function repairObjects(problems: readonly Problem[], o: RepairOptions): Promise<Repair[]> {
  const source = new ObjectStore(o.source);
  const out: Repair[] = [];
  const seen = new Set<string>();
  for (const p of problems) {
    throwIfAborted(o.signal);
    if (!isRepairable(p)) continue;
    if (p.code === 'DAMAGED_PACK') {
      out.push(quarantinePack(p, o));
      continue;
    }
    const ns: Namespace = p.kind === 'chunk' ? 'chunks' : 'meta';
    const key = objectKey(ns, p.id!);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(await repairOne(p, ns, key, source, o));
  }
  return out;
}

async function repairOne(p: Problem, ns: Namespace, key: string, source: ObjectStore, o: RepairOptions): Promise<Repair> {
  const id = p.id!;
  const base = { code: p.code, id, kind: p.kind, key, from: o.source.location };
  const sig = o.signal ? { signal: o.signal } : {};
  let good: Uint8Array;
  try {
    good = await source.getVerified(ns, id, p.kind, sig);
  } catch (e) {
    if (isMlstoreError(e, 'INTERRUPTED')) throw e;
    return { ...base, action: 'failed', detail: `no good copy in ${o.source.location}: ${(e as Error).message}` };
  }
  let quarantined: string | undefined;
  const present = await o.target.stat(key, sig);
  if (present) {
    let bad: Uint8Array;
    try {
      bad = await o.target.get(key, { maxBytes: Math.max(present.size, LIMITS.maxChunkBytes) + 1, ...sig });
    } catch (e) {
      if (isMlstoreError(e, 'INTERRUPTED')) throw e;
      return { ...base, action: 'failed', detail: `the damaged copy could not be read, so it was not moved to quarantine: ${(e as Error).message}` };
    }
    quarantined = `quarantine/${ns}/${id}.${o.now.toISOString().replace(/[:.]/g, '-')}`;
    await o.target.put(quarantined, bad, sig);
    await o.target.flush(sig);
    await o.target.delete(key, sig);
  }
  await o.target.put(key, good, { sha256: id, ...sig });
  await o.target.flush(sig);
  const back = await o.target.get(key, { maxBytes: good.length + 1, ...sig });
  if (sha256Hex(back) !== id) {
    return { ...base, action: 'failed', ...(quarantined ? { quarantined } : {}), detail: `the copy written back to ${o.target.location} does not verify` };
  }
  return {
    ...base,
    action: quarantined ? 'replaced' : 'restored',
    ...(quarantined ? { quarantined } : {}),
    detail: quarantined ? `replaced with a verified copy from ${o.source.location}; the bad bytes are in ${quarantined}` : `restored from ${o.source.location}`,
  };
}

/**
 * A damaged pack index (local store): its objects already read as missing and are restored one by
 * one like any missing object; the index and its pack are moved to quarantine/packs/ so the next
 * check is clean and nothing was deleted.
 */
function quarantinePack(p: Problem, o: RepairOptions): Repair {
  const base = { code: p.code, id: p.key!, kind: p.kind, key: p.key!, from: o.source.location };
  const packs = packedPlaces(o.target);
  if (!packs) return { ...base, action: 'failed', detail: `${o.target.location} keeps no packs` };
  try {
    const moved = packs.quarantinePack(p.key!, o.now.toISOString().replace(/[:.]/g, '-'));
    return { ...base, action: 'quarantined', quarantined: moved, detail: `moved to ${moved}; its objects are restored from ${o.source.location} where referenced` };
  } catch (e) {
    return { ...base, action: 'failed', detail: (e as Error).message };
  }
}
