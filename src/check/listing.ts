/**
 * Lists every object of a store into two ObjectTables (chunks, meta) and every signature into a
 * commit → key ids map. Keys under objects/ that are not object keys are STRAY_KEY problems.
 *
 * A store that is a directory on this machine is listed by the pool threads (readdir + stat of
 * the 2×256 fan-out directories, synchronous in the threads); any other store through
 * `Backend.list`, whose sizes come with the listing (S3 ListObjectsV2).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fromFsError, throwIfAborted } from '../errors.js';
import type { Backend } from '../storage/backend.js';
import type { Namespace } from '../model/object-kind.js';
import { parseObjectKey } from '../repository/layout.js';
import type { Findings } from './findings.js';
import type { HashPool } from './hash-pool.js';
import type { ListResult } from './hash-worker.js';
import { FLAG, ObjectTable } from './object-table.js';

export interface StoreListing {
  chunks: ObjectTable;
  meta: ObjectTable;
  /** commit id → key ids of the signature files stored for it. */
  signatures: Map<string, string[]>;
  /** Sum of the listed sizes, per namespace. */
  bytes: { chunks: number; meta: number };
}

export interface ListOptions {
  backend: Backend;
  localDir?: string;
  pool: HashPool;
  findings: Findings;
  signal?: AbortSignal;
  onProgress?: (listed: number) => void;
}

const SIG_RE = /^objects\/signatures\/([0-9a-f]{64})\/([0-9a-f]{64})\.dsse$/;

export async function listStore(o: ListOptions): Promise<StoreListing> {
  const out: StoreListing = { chunks: new ObjectTable(), meta: new ObjectTable(), signatures: new Map(), bytes: { chunks: 0, meta: 0 } };
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
  for (const ns of ['chunks', 'meta'] as const) {
    if (o.localDir !== undefined) await listLocal(o, ns, addKey);
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

async function listLocal(o: ListOptions, ns: Namespace, addKey: (key: string, size: number) => void): Promise<void> {
  const base = `objects/${ns}`;
  const dir = join(o.localDir!, 'objects', ns);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fromFsError(e, dir, 'list');
  }
  const dirs: string[] = [];
  for (const name of names.sort()) {
    if (/^[0-9a-f]{2}$/.test(name)) dirs.push(`${base}/${name}`);
    else o.findings.add({ code: 'STRAY_KEY', id: null, kind: 'store', key: `${base}/${name}`, detail: `${base}/${name} is not a fan-out directory of object keys` });
  }
  const batches: string[][] = [];
  for (let i = 0; i < dirs.length; i += 16) batches.push(dirs.slice(i, i + 16));
  // Keep every thread busy; results are consumed in order so the tables fill deterministically.
  const inFlight: Promise<ListResult>[] = [];
  let next = 0;
  const launch = (): void => {
    if (next < batches.length) inFlight.push(o.pool.run<ListResult>({ kind: 'list', root: o.localDir!, dirs: batches[next++]! }));
  };
  for (let i = 0; i < o.pool.threads * 2; i++) launch();
  while (inFlight.length > 0) {
    throwIfAborted(o.signal);
    const r = await inFlight.shift()!;
    launch();
    for (const [key, size] of r.files) addKey(key, size);
    for (const key of r.others) o.findings.add({ code: 'STRAY_KEY', id: null, kind: 'store', key, detail: `${key} is not a regular file` });
    for (const f of r.failures) {
      o.findings.add({ code: 'UNREADABLE_OBJECT', id: null, kind: 'store', key: f.key, detail: `could not list ${f.key}: ${f.message}; the objects in it were not checked` });
    }
  }
}

function sig(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}
