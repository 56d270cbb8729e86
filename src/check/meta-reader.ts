/**
 * Reads one metadata object for fsck and says exactly what is wrong with it, if anything:
 * missing, unreadable, too large, bytes not hashing to the id (or hashing to another object's id),
 * not canonical JSON, a valid object of another kind than the edge expects, or an object of the
 * right kind that fails strict decoding. Each becomes one problem, recorded once per object under
 * `object:meta:<id>` (a wrong-kind edge is recorded per expected kind: the object itself may be fine).
 */
import { decodeCanonical } from '../core/canonical-json.js';
import { isDigest, sha256Hex } from '../core/digest.js';
import { isMlstoreError, MlstoreError } from '../errors.js';
import { decodeCommit, type Commit } from '../model/commit.js';
import { decodeFileManifest, type FileManifest } from '../model/file-manifest.js';
import { LIMITS } from '../model/limits.js';
import { decodeTree, type Tree } from '../model/tree.js';
import { objectKey } from '../repository/layout.js';
import type { Backend } from '../storage/backend.js';
import { objectProblemKey } from './byte-scan.js';
import type { Findings } from './findings.js';
import { FLAG, type ObjectTable } from './object-table.js';
import type { ObjectKindName } from './problem.js';

export type MetaKind = 'tree' | 'file manifest' | 'commit';

export type MetaValue = { type: 'tree'; value: Tree } | { type: 'file'; value: FileManifest } | { type: 'commit'; value: Commit };

export type MetaOutcome = (MetaValue & { ok: true; bytes: Uint8Array }) | { ok: false; pid: number };

export interface MetaReaderContext {
  backend: Backend;
  chunks: ObjectTable;
  meta: ObjectTable;
  findings: Findings;
  signal?: AbortSignal;
  /** Limits concurrent reads (remote stores). */
  limit: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Called once per metadata object whose bytes were verified. */
  onVerified: (id: string, size: number) => void;
  /** Metadata strictly verified within --max-age (its bytes, once they hash to the id, need no strict parse). */
  recent?: (id: string) => boolean;
}

const TYPE_OF_KIND: Record<MetaKind, MetaValue['type']> = { tree: 'tree', 'file manifest': 'file', commit: 'commit' };
const KIND_OF_TYPE: Record<string, MetaKind> = { tree: 'tree', file: 'file manifest', commit: 'commit' };

/**
 * Reads `id` as a `kind` referenced from `from` (for messages). `kind` undefined: whatever type
 * the object declares (dangling objects, which no edge names).
 */
export async function readMeta(ctx: MetaReaderContext, id: string, kind: MetaKind | undefined, from: string): Promise<MetaOutcome> {
  const key = objectKey('meta', id);
  const objKey = objectProblemKey('meta', id);
  const name: ObjectKindName = kind ?? 'metadata';
  const flags = ctx.meta.flags(id);
  if (!(flags & FLAG.PRESENT)) {
    ctx.meta.add(id, FLAG.REFERENCED);
    const asChunk = ctx.chunks.flags(id) & FLAG.PRESENT;
    return fail(ctx.findings.add({
      code: 'MISSING_OBJECT', id, kind: name, key,
      detail: `${name} ${id} is missing (referenced by ${from})${asChunk ? '; an object with this id exists as a chunk, which is never read as metadata' : ''}`,
      facts: { referencedBy: from, ...(asChunk ? { existsAs: 'chunk' } : {}) },
    }, objKey));
  }
  ctx.meta.mark(id, FLAG.REFERENCED);
  const known = ctx.findings.lookup(objKey);
  if (known !== undefined) return fail(known);

  let bytes: Uint8Array;
  try {
    bytes = await ctx.limit(() => ctx.backend.get(key, { maxBytes: LIMITS.maxMetaBytes, ...(ctx.signal ? { signal: ctx.signal } : {}) }));
  } catch (e) {
    return fail(readProblem(ctx, id, name, key, from, e));
  }
  ctx.meta.add(id, 0, bytes.length);
  const actual = sha256Hex(bytes);
  if (actual !== id) {
    ctx.meta.mark(id, FLAG.BAD);
    const holds = ctx.meta.flags(actual) & FLAG.PRESENT ? 'metadata object' : ctx.chunks.flags(actual) & FLAG.PRESENT ? 'chunk' : undefined;
    const facts = { actual, size: bytes.length, ...(holds ? { holds: actual, holdsKind: holds } : {}) };
    return fail(ctx.findings.add(
      holds
        ? { code: 'OBJECT_REPLACED', id, kind: name, key, detail: `${name} ${id} holds the bytes of ${holds} ${actual}`, facts }
        : { code: 'HASH_MISMATCH', id, kind: name, key, detail: `${name} ${id} is corrupt: its bytes hash to ${actual} (${bytes.length} bytes)`, facts },
      objKey,
    ));
  }
  if (!(ctx.meta.flags(id) & FLAG.VERIFIED)) {
    ctx.meta.mark(id, FLAG.VERIFIED);
    ctx.onVerified(id, bytes.length);
  }

  if (kind !== undefined) {
    // Bytes that hash to their id and were strictly verified within --max-age are the same
    // bytes that passed before: a plain JSON.parse with a shape check is enough to walk them.
    if (ctx.recent?.(id)) {
      const fast = fastDecode(kind, bytes);
      if (fast) return fast;
    }
    try {
      return decode(kind, bytes);
    } catch (e) {
      if (!isMlstoreError(e, 'CORRUPT_OBJECT')) throw e;
      return fail(diagnose(ctx, id, kind, key, from, bytes, e));
    }
  }
  let declared: unknown;
  try {
    declared = typeOf(bytes);
  } catch (e) {
    return fail(invalid(ctx, id, name, key, (e as Error).message));
  }
  const want = typeof declared === 'string' ? KIND_OF_TYPE[declared] : undefined;
  if (want === undefined) return fail(invalid(ctx, id, name, key, `its type ${JSON.stringify(declared)} is not tree, file or commit`));
  try {
    return decode(want, bytes);
  } catch (e) {
    if (!isMlstoreError(e, 'CORRUPT_OBJECT')) throw e;
    return fail(diagnose(ctx, id, want, key, from, bytes, e));
  }
}

/** Why bytes that hash correctly are not a valid `kind`: another kind, sizes that do not add up, or invalid. */
function diagnose(ctx: MetaReaderContext, id: string, kind: MetaKind, key: string, from: string, bytes: Uint8Array, e: MlstoreError): number {
  let declared: unknown;
  try {
    declared = typeOf(bytes);
  } catch (err) {
    return invalid(ctx, id, kind, key, (err as Error).message);
  }
  const declaredKind = typeof declared === 'string' ? KIND_OF_TYPE[declared] : undefined;
  if (declaredKind !== undefined && declaredKind !== kind) {
    return ctx.findings.add({
      code: 'WRONG_KIND', id, kind, key,
      detail: `${from} references ${id} as a ${kind}, but it is a ${declaredKind}`,
      facts: { expected: kind, found: declaredKind, referencedBy: from },
    }, `kind:${id}:${kind}`);
  }
  if (kind === 'file manifest') {
    const sums = manifestSums(bytes);
    if (sums && sums.total !== sums.size) {
      ctx.meta.mark(id, FLAG.BAD);
      return ctx.findings.add({
        code: 'MANIFEST_SIZE_MISMATCH', id, kind, key,
        detail: `file manifest ${id}: its chunk sizes add up to ${sums.total}, not its size ${sums.size}`,
        facts: { size: sums.size, chunkTotal: sums.total },
      }, objectProblemKey('meta', id));
    }
  }
  return invalid(ctx, id, kind, key, e.message);
}

/** The `type` an object declares; throws CORRUPT_OBJECT when it is not canonical JSON. */
function typeOf(bytes: Uint8Array): unknown {
  const v = decodeCanonical(bytes);
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)['type'] : undefined;
}

/** JSON.parse and a shape check, for bytes already strictly verified; undefined sends them the strict way. */
function fastDecode(kind: MetaKind, bytes: Uint8Array): MetaOutcome | undefined {
  if (kind === 'commit') return undefined; // few and small; signatures are checked over the exact decode
  let v: unknown;
  try {
    v = JSON.parse(textDecoder.decode(bytes));
  } catch {
    return undefined;
  }
  const o = v as Record<string, unknown> | null;
  if (!o || typeof o !== 'object') return undefined;
  if (kind === 'tree') {
    const entries = o['entries'];
    if (o['type'] !== 'tree' || !Array.isArray(entries)) return undefined;
    for (const e of entries as Record<string, unknown>[]) {
      if (!e || typeof e.name !== 'string') return undefined;
      const ok = e.type === 'tree' ? isDigest(e.id) : e.type === 'file' && isDigest(e.digest) && Number.isSafeInteger(e.size) && (e.manifest === undefined || isDigest(e.manifest));
      if (!ok) return undefined;
    }
    return { ok: true, type: 'tree', value: o as unknown as Tree, bytes };
  }
  const chunks = o['chunks'];
  if (o['type'] !== 'file' || !Number.isSafeInteger(o['size']) || !isDigest(o['digest']) || !Array.isArray(chunks)) return undefined;
  for (const c of chunks as unknown[]) if (!Array.isArray(c) || !isDigest(c[0]) || !Number.isSafeInteger(c[1])) return undefined;
  return { ok: true, type: 'file', value: o as unknown as FileManifest, bytes };
}

const textDecoder = new TextDecoder();

function decode(kind: MetaKind, bytes: Uint8Array): MetaOutcome {
  switch (TYPE_OF_KIND[kind]) {
    case 'tree':
      return { ok: true, type: 'tree', value: decodeTree(bytes), bytes };
    case 'file':
      return { ok: true, type: 'file', value: decodeFileManifest(bytes), bytes };
    case 'commit':
      return { ok: true, type: 'commit', value: decodeCommit(bytes), bytes };
  }
}

function fail(pid: number): MetaOutcome {
  return { ok: false, pid };
}

function invalid(ctx: MetaReaderContext, id: string, kind: ObjectKindName, key: string, why: string): number {
  ctx.meta.mark(id, FLAG.BAD);
  return ctx.findings.add({ code: 'INVALID_OBJECT', id, kind, key, detail: `${kind} ${id} hashes correctly but is invalid: ${why}` }, objectProblemKey('meta', id));
}

function readProblem(ctx: MetaReaderContext, id: string, kind: ObjectKindName, key: string, from: string, e: unknown): number {
  if (isMlstoreError(e, 'INTERRUPTED')) throw e;
  if (isMlstoreError(e) && ['REMOTE_UNREACHABLE', 'REMOTE_AUTH', 'REMOTE_FORBIDDEN', 'REMOTE_NOT_FOUND'].includes(e.code)) throw e;
  ctx.meta.mark(id, FLAG.BAD);
  const objKey = objectProblemKey('meta', id);
  if (isMlstoreError(e, 'MISSING_OBJECT')) {
    ctx.meta.unmark(id, FLAG.PRESENT);
    return ctx.findings.add({ code: 'MISSING_OBJECT', id, kind, key, detail: `${kind} ${id} is missing (referenced by ${from})`, facts: { referencedBy: from } }, objKey);
  }
  if (isMlstoreError(e, 'LIMIT_EXCEEDED')) {
    return ctx.findings.add({ code: 'OBJECT_TOO_LARGE', id, kind, key, detail: `${kind} ${id}: ${e.message}`, facts: { limit: LIMITS.maxMetaBytes } }, objKey);
  }
  const why = e instanceof MlstoreError ? `${e.code}: ${e.message}` : String((e as Error)?.message ?? e);
  return ctx.findings.add({ code: 'UNREADABLE_OBJECT', id, kind, key, detail: `${kind} ${id} could not be read: ${why}` }, objKey);
}

/** For a manifest that failed decoding: its declared size and the sum of its chunk sizes, if readable. */
function manifestSums(bytes: Uint8Array): { size: number; total: number } | undefined {
  try {
    const v = decodeCanonical(bytes) as Record<string, unknown>;
    const chunks = v['chunks'];
    const size = v['size'];
    if (typeof size !== 'number' || !Array.isArray(chunks)) return undefined;
    let total = 0;
    for (const c of chunks) {
      if (!Array.isArray(c) || typeof c[1] !== 'number') return undefined;
      total += c[1];
    }
    return { size, total };
  } catch {
    return undefined;
  }
}
