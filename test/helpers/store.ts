/**
 * An independent checker of a repository's `.mlstore/`, written against docs/format and
 * DESIGN.md rather than against mlstore's own code: it walks the files itself, re-hashes every
 * object and follows every ref through commits, trees and manifests to the chunks.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export interface StoreReport {
  chunks: number;
  meta: number;
  /** Every object whose bytes do not hash to its name, or any stray file among the objects. */
  problems: string[];
}

/**
 * Every object's bytes hash to its id; nothing else lives under objects/chunks and objects/meta.
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
  return report;
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
  const chunkOk = async (id: string, size: number, what: string) => {
    const path = join(dir, 'objects', 'chunks', id.slice(0, 2), id.slice(2));
    const st = await stat(path).catch(() => undefined);
    if (!st) report.problems.push(`chunk ${id} of ${what} is missing`);
    else if (st.size !== size) report.problems.push(`chunk ${id} of ${what} has ${st.size} bytes, expected ${size}`);
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
