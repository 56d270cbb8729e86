/**
 * An independent checker of a repository's `.mlstore/`, written against docs/format and
 * DESIGN.md rather than against mlstore's own code: it walks the files itself, re-hashes every
 * object and follows every ref through commits, trees and manifests to the chunks. At the end:
 * helpers that damage a stored chunk wherever it lives (loose file or pack).
 */
import { chmod, mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
// only the damage helpers at the end use mlstore's own code (to take an object out of a pack)
import { LocalBackend } from '../../src/storage/local-backend.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export interface StoreReport {
  chunks: number;
  meta: number;
  /** Every object whose bytes do not hash to its name, or any stray file among the objects. */
  problems: string[];
}

/**
 * Every object's bytes hash to its id — loose files and packed chunks; nothing else lives under
 * objects/chunks, objects/meta and packs/.
 * `verified` (optional) remembers objects already hashed (path → mtime): objects are immutable,
 * so a repeated check (crash tests) only re-hashes what is new or was rewritten.
 */
export async function checkObjects(repoRoot: string, verified?: Map<string, number>): Promise<StoreReport> {
  const report: StoreReport = { chunks: 0, meta: 0, problems: [] };
  for (const ns of ['chunks', 'meta'] as const) {
    const base = join(repoRoot, '.mlstore', 'objects', ns);
    const fans = await readdir(base).catch(() => [] as string[]);
    for (const fan of fans) {
      if (!/^[0-9a-f]{2}$/.test(fan)) {
        report.problems.push(`stray entry objects/${ns}/${fan}`);
        continue;
      }
      for (const name of await readdir(join(base, fan))) {
        const id = fan + name;
        if (!/^[0-9a-f]{64}$/.test(id)) {
          report.problems.push(`stray file objects/${ns}/${fan}/${name}`);
          continue;
        }
        const path = join(base, fan, name);
        const mtime = verified ? (await stat(path)).mtimeMs : 0;
        if (verified?.get(path) !== mtime || !verified) {
          const bytes = await readFile(path);
          if (sha(bytes) !== id) report.problems.push(`objects/${ns}/${fan}/${name} hashes to ${sha(bytes)}`);
          else verified?.set(path, mtime);
        }
        if (ns === 'chunks') report.chunks++;
        else report.meta++;
      }
    }
  }
  const packs = await readPacks(repoRoot, report.problems);
  for (const [name, entries] of packs) {
    const path = join(repoRoot, '.mlstore', 'packs', `${name}.pack`);
    const mtime = verified ? (await stat(path)).mtimeMs : 0;
    if (!verified || verified.get(path) !== mtime) {
      const bytes = await readFile(path);
      let bad = false;
      for (const [id, offset, length] of entries) {
        const got = sha(bytes.subarray(offset, offset + length));
        if (offset + length > bytes.length || got !== id) {
          report.problems.push(`packed chunk ${id} in packs/${name}.pack hashes to ${got}`);
          bad = true;
        }
      }
      if (!bad) verified?.set(path, mtime);
    }
    report.chunks += entries.length;
  }
  return report;
}

/**
 * The packs of a store as docs/format.md describes them: `packs/<name>.idx` named by the SHA-256
 * of its bytes, a header `mlstore-pack-index 1 <bytes> <count>`, then `<key> <offset> <length>`
 * lines, contiguous. An index must have its .pack (renamed in first); a .pack alone is a harmless
 * leftover of a crash between the two renames. Returns name → [chunk id, offset, length].
 */
export async function readPacks(repoRoot: string, problems: string[] = []): Promise<Map<string, Array<[string, number, number]>>> {
  const dir = join(repoRoot, '.mlstore', 'packs');
  const out = new Map<string, Array<[string, number, number]>>();
  const files = await readdir(dir).catch(() => [] as string[]);
  for (const file of files) {
    if (/^[0-9a-f]{64}\.pack$/.test(file)) continue;
    const m = /^([0-9a-f]{64})\.idx$/.exec(file);
    if (!m) {
      problems.push(`stray file packs/${file}`);
      continue;
    }
    const name = m[1]!;
    const idx = await readFile(join(dir, file));
    if (sha(idx) !== name) {
      problems.push(`packs/${file} does not hash to its name`);
      continue;
    }
    if (!files.includes(`${name}.pack`)) problems.push(`packs/${file} has no .pack`);
    const lines = idx.toString('utf8').split('\n');
    const head = /^mlstore-pack-index 1 (\d+) (\d+)$/.exec(lines[0] ?? '');
    if (!head || lines.pop() !== '' || lines.length - 1 !== Number(head[2])) {
      problems.push(`packs/${file} has a bad header or line count`);
      continue;
    }
    const entries: Array<[string, number, number]> = [];
    let next = 0;
    for (const line of lines.slice(1)) {
      const e = /^objects\/chunks\/([0-9a-f]{2})\/([0-9a-f]{62}) (\d+) (\d+)$/.exec(line);
      if (!e || Number(e[3]) !== next) {
        problems.push(`packs/${file}: bad line ${JSON.stringify(line)}`);
        break;
      }
      entries.push([e[1]! + e[2]!, next, Number(e[4])]);
      next += Number(e[4]);
    }
    if (next !== Number(head[1])) problems.push(`packs/${file} covers ${next} bytes, its header says ${head[1]}`);
    out.set(name, entries);
  }
  return out;
}

export interface RefsReport {
  refs: Record<string, string>;
  commits: number;
  files: number;
  problems: string[];
}

/** Every ref (and a detached HEAD) names a commit whose whole history, trees, manifests and chunks are present. */
export async function checkRefs(repoRoot: string, complete?: Set<string>): Promise<RefsReport> {
  const dir = join(repoRoot, '.mlstore');
  const report: RefsReport = { refs: {}, commits: 0, files: 0, problems: [] };
  const refFiles: string[] = [];
  async function walkRefs(rel: string): Promise<void> {
    for (const ent of await readdir(join(dir, rel), { withFileTypes: true }).catch(() => [])) {
      const p = `${rel}/${ent.name}`;
      if (ent.isDirectory()) await walkRefs(p);
      else refFiles.push(p);
    }
  }
  await walkRefs('refs');
  const starts: string[] = [];
  for (const ref of refFiles) {
    const text = (await readFile(join(dir, ref), 'utf8')).trim();
    if (!/^[0-9a-f]{64}$/.test(text)) {
      report.problems.push(`${ref} holds ${JSON.stringify(text)}`);
      continue;
    }
    report.refs[ref] = text;
    starts.push(text);
  }
  const head = (await readFile(join(dir, 'HEAD'), 'utf8').catch(() => '')).trim();
  if (/^[0-9a-f]{64}$/.test(head)) starts.push(head);
  else if (!/^ref: refs\/heads\/\S+$/.test(head)) report.problems.push(`HEAD holds ${JSON.stringify(head)}`);

  const seenCommits = new Set<string>();
  const seenTrees = new Set<string>();
  const readMeta = async (id: string, what: string): Promise<any> => {
    const path = join(dir, 'objects', 'meta', id.slice(0, 2), id.slice(2));
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch {
      report.problems.push(`${what} ${id} is missing`);
      return undefined;
    }
    if (sha(bytes) !== id) {
      report.problems.push(`${what} ${id} is corrupt`);
      return undefined;
    }
    return JSON.parse(bytes.toString('utf8'));
  };
  const packed = new Map<string, number>();
  for (const entries of (await readPacks(repoRoot)).values()) for (const [id, , length] of entries) packed.set(id, length);
  const chunkOk = async (id: string, size: number, what: string) => {
    const path = join(dir, 'objects', 'chunks', id.slice(0, 2), id.slice(2));
    const st = await stat(path).catch(() => undefined);
    const stored = st?.size ?? packed.get(id);
    if (stored === undefined) report.problems.push(`chunk ${id} of ${what} is missing`);
    else if (stored !== size) report.problems.push(`chunk ${id} of ${what} has ${stored} bytes, expected ${size}`);
  };
  const walkTree = async (id: string, path: string): Promise<void> => {
    if (seenTrees.has(id) || complete?.has(id)) return;
    seenTrees.add(id);
    const problemsBefore = report.problems.length;
    const tree = await readMeta(id, `tree of ${path || '/'}`);
    if (!tree) return;
    if (tree.type !== 'tree') return void report.problems.push(`${id} is not a tree`);
    for (const e of tree.entries) {
      const p = path ? `${path}/${e.name}` : e.name;
      if (e.type === 'tree') await walkTree(e.id, p);
      else {
        report.files++;
        if (e.manifest) {
          const m = await readMeta(e.manifest, `manifest of ${p}`);
          if (!m) continue;
          if (m.size !== e.size || m.digest !== e.digest) report.problems.push(`manifest of ${p} does not match its entry`);
          for (const [cid, size] of m.chunks) await chunkOk(cid, size, p);
        } else await chunkOk(e.digest, e.size, p);
      }
    }
    // objects are immutable and never deleted: a tree found complete stays complete
    if (report.problems.length === problemsBefore) complete?.add(id);
  };
  const stack = [...starts];
  while (stack.length) {
    const id = stack.pop()!;
    if (seenCommits.has(id)) continue;
    seenCommits.add(id);
    const c = await readMeta(id, 'commit');
    if (!c) continue;
    if (c.type !== 'commit') {
      report.problems.push(`${id} is not a commit`);
      continue;
    }
    report.commits++;
    await walkTree(c.tree, '');
    stack.push(...c.parents);
  }
  return report;
}

/** Both checks; throws with every problem listed. `memo` makes repeated checks of one store incremental. */
export async function assertStoreConsistent(
  repoRoot: string,
  memo?: { verified: Map<string, number>; complete: Set<string> },
): Promise<{ objects: StoreReport; refs: RefsReport }> {
  const objects = await checkObjects(repoRoot, memo?.verified);
  const refs = await checkRefs(repoRoot, memo?.complete);
  const problems = [...objects.problems, ...refs.problems];
  if (problems.length) throw new Error(`store at ${repoRoot} is inconsistent:\n  ${problems.join('\n  ')}`);
  return { objects, refs };
}

/** Files mlstore may leave beside workspace data when interrupted (temp files of atomic writes). */
export async function workspaceLeftovers(repoRoot: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string): Promise<void> {
    for (const ent of await readdir(rel ? join(repoRoot, rel) : repoRoot, { withFileTypes: true })) {
      if (!rel && (ent.name === '.mlstore' || ent.name === '.git')) continue;
      const p = rel ? `${rel}/${ent.name}` : ent.name;
      if (/^\.mlstore-|\.tmp$/.test(ent.name)) out.push(p);
      if (ent.isDirectory()) await walk(p);
    }
  }
  await walk('');
  return out;
}

/** Where a chunk's bytes are: its loose file, or its range in a pack (found by reading the indexes). */
export async function locateChunk(repoRoot: string, id: string): Promise<{ path: string; offset: number; length: number } | undefined> {
  const loose = join(repoRoot, '.mlstore', 'objects', 'chunks', id.slice(0, 2), id.slice(2));
  const st = await stat(loose).catch(() => undefined);
  if (st) return { path: loose, offset: 0, length: st.size };
  for (const [name, entries] of await readPacks(repoRoot)) {
    const e = entries.find(([cid]) => cid === id);
    if (e) return { path: join(repoRoot, '.mlstore', 'packs', `${name}.pack`), offset: e[1], length: e[2] };
  }
  return undefined;
}

/** Flips one bit of a stored chunk in place, wherever it is (bit rot). */
export async function flipChunkByte(repoRoot: string, id: string): Promise<void> {
  const at = await locateChunk(repoRoot, id);
  if (!at || at.length === 0) throw new Error(`chunk ${id} is not stored or empty`);
  await chmod(at.path, 0o644);
  const fh = await open(at.path, 'r+');
  try {
    const b = Buffer.alloc(1);
    const pos = at.offset + (at.length >> 1);
    await fh.read(b, 0, 1, pos);
    b[0]! ^= 0x40;
    await fh.write(b, 0, 1, pos);
  } finally {
    await fh.close();
  }
}

/** Removes a chunk from the store: its loose file, or out of its pack (the pack is rewritten without it). */
export async function removeChunk(repoRoot: string, id: string): Promise<void> {
  const store = new LocalBackend(join(repoRoot, '.mlstore'), { packs: true });
  await store.delete(`objects/chunks/${id.slice(0, 2)}/${id.slice(2)}`);
  await store.close();
}

/** Makes a chunk a loose file of its own (out of its pack, if packed) and returns its path. */
export async function looseChunkFile(repoRoot: string, id: string): Promise<string> {
  const path = join(repoRoot, '.mlstore', 'objects', 'chunks', id.slice(0, 2), id.slice(2));
  if (await stat(path).then(() => true, () => false)) return path;
  const at = await locateChunk(repoRoot, id);
  if (!at) throw new Error(`chunk ${id} is not stored`);
  const fh = await open(at.path, 'r');
  const bytes = Buffer.alloc(at.length);
  try {
    await fh.read(bytes, 0, at.length, at.offset);
  } finally {
    await fh.close();
  }
  await removeChunk(repoRoot, id);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
  return path;
}

/** Every stored object key of a namespace (`objects/<ns>/ab/cdef…`): loose files and packed chunks. */
export async function storedKeys(repoRoot: string, ns: 'chunks' | 'meta'): Promise<string[]> {
  const dir = join(repoRoot, '.mlstore', 'objects', ns);
  const out: string[] = [];
  for (const d of await readdir(dir).catch(() => [] as string[])) for (const f of await readdir(join(dir, d))) out.push(`objects/${ns}/${d}/${f}`);
  if (ns === 'chunks') for (const entries of (await readPacks(repoRoot)).values()) for (const [id] of entries) out.push(`objects/chunks/${id.slice(0, 2)}/${id.slice(2)}`);
  return out;
}
