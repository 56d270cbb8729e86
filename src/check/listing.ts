/**
 * Lists every object of a store into two ObjectTables (chunks, meta) and every signature into a
 * commit → key ids map. Keys under objects/ that are not object keys are STRAY_KEY problems.
 *
 * A store that is a directory on this machine is listed with readdir (no stat: sizes are learnt
 * when objects are read); any other store through `Backend.list`, whose sizes come with the
 * listing (S3 ListObjectsV2).
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fromFsError, throwIfAborted } from '../errors.js';
import type { Backend } from '../storage/backend.js';
import { packedPlaces } from '../storage/local-packs.js';
import type { Namespace } from '../model/object-kind.js';
import { parseObjectKey } from '../repository/layout.js';
import type { Findings } from './findings.js';
import { FLAG, ObjectTable } from './object-table.js';

export interface StoreListing {
  chunks: ObjectTable;
  meta: ObjectTable;
  /** commit id → key ids of the signature files stored for it. */
  signatures: Map<string, string[]>;
  /** Sum of the listed sizes, per namespace. */
  bytes: { chunks: number; meta: number };
  /** Whether the listing carried every object's size (S3 and other backends; not a directory). */
  sizesKnown: boolean;
}

export interface ListOptions {
  backend: Backend;
  localDir?: string;
  findings: Findings;
  signal?: AbortSignal;
  onProgress?: (listed: number) => void;
}

const ID_REST_RE = /^[0-9a-f]{62}$/;
const SIG_RE = /^objects\/signatures\/([0-9a-f]{64})\/([0-9a-f]{64})\.dsse$/;

export async function listStore(o: ListOptions): Promise<StoreListing> {
  const out: StoreListing = { chunks: new ObjectTable(1 << 15), meta: new ObjectTable(1 << 12), signatures: new Map(), bytes: { chunks: 0, meta: 0 }, sizesKnown: o.localDir === undefined };
  let listed = 0;
  const addKey = (key: string, size: number): void => {
    const parsed = parseObjectKey(key);
    if (!parsed) {
      o.findings.add({ code: 'STRAY_KEY', id: null, kind: 'store', key, detail: `${key} is not an object key (leftover or foreign file)` });
      return;
    }
    const table = parsed.ns === 'chunks' ? out.chunks : out.meta;
    table.add(parsed.id, FLAG.PRESENT, size >= 0 ? size : undefined);
    if (size > 0) out.bytes[parsed.ns] += size;
    if (++listed % 4096 === 0) o.onProgress?.(listed);
  };
  const addId = (ns: Namespace, id: string): void => {
    (ns === 'chunks' ? out.chunks : out.meta).add(id, FLAG.PRESENT);
    if (++listed % 4096 === 0) o.onProgress?.(listed);
  };
  const packed = o.localDir !== undefined ? packedPlaces(o.backend) : undefined;
  for (const p of packed?.packProblems() ?? []) {
    o.findings.add({ code: 'DAMAGED_PACK', id: null, kind: 'store', key: p.key, detail: `${p.detail}; the objects it lists read as missing` });
  }
  for (const ns of ['chunks', 'meta'] as const) {
    if (o.localDir !== undefined) {
      await listLocal(o, ns, addKey, addId);
      for (const [key, size] of packed?.packedKeys(`objects/${ns}/`) ?? []) addKey(key, size);
    }
    else for await (const info of o.backend.list(`objects/${ns}/`, sig(o.signal))) addKey(info.key, info.size);
    throwIfAborted(o.signal);
  }
  for await (const info of o.backend.list('objects/signatures/', sig(o.signal))) {
    const m = SIG_RE.exec(info.key);
    if (!m) {
      o.findings.add({ code: 'STRAY_KEY', id: null, kind: 'signature', key: info.key, detail: `${info.key} is not a signature key (objects/signatures/<commit>/<key id>.dsse)` });
      continue;
    }
    const keys = out.signatures.get(m[1]!) ?? [];
    keys.push(m[2]!);
    out.signatures.set(m[1]!, keys);
  }
  o.onProgress?.(listed);
  return out;
}

/**
 * A directory store: readdir of the 256 fan-out directories (file types come with the entries,
 * so no stat per file — on a 20,000-object store that stat alone costs more than everything else
 * a --max-age run does). Sizes are learnt when an object is read.
 */
async function listLocal(o: ListOptions, ns: Namespace, addKey: (key: string, size: number) => void, addId: (ns: Namespace, id: string) => void): Promise<void> {
  const base = `objects/${ns}`;
  const dir = join(o.localDir!, 'objects', ns);
  let fans: string[];
  try {
    fans = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fromFsError(e, dir, 'list');
  }
  const dirs: string[] = [];
  for (const name of fans.sort()) {
    if (/^[0-9a-f]{2}$/.test(name)) dirs.push(name);
    else o.findings.add({ code: 'STRAY_KEY', id: null, kind: 'store', key: `${base}/${name}`, detail: `${base}/${name} is not a fan-out directory of object keys` });
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < dirs.length) {
      throwIfAborted(o.signal);
      const fan = dirs[next++]!;
      let entries: Dirent[];
      try {
        entries = await readdir(join(dir, fan), { withFileTypes: true });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        o.findings.add({ code: 'UNREADABLE_OBJECT', id: null, kind: 'store', key: `${base}/${fan}`, detail: `could not list ${base}/${fan}: ${code ?? (e as Error).message}; the objects in it were not checked` });
        continue;
      }
      for (const ent of entries) {
        if ((ent.isFile() || ent.isSymbolicLink()) && ID_REST_RE.test(ent.name)) {
          addId(ns, fan + ent.name);
          continue;
        }
        const key = `${base}/${fan}/${ent.name}`;
        if (ent.isFile() || ent.isSymbolicLink()) addKey(key, -1); // reported as a stray key
        else o.findings.add({ code: 'STRAY_KEY', id: null, kind: 'store', key, detail: `${key} is not a regular file` });
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

function sig(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}
