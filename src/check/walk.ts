/**
 * The graph walk: from every root through commits (parents and lineage inputs), trees, file
 * manifests and chunks. Every metadata object reached is read, hashed and strictly decoded;
 * every edge is checked (present, of the kind the edge expects, of the size it records); every
 * commit's signatures are checked.
 *
 * Blast radius: a tree's walk returns the problems beneath it with their paths relative to it
 * (memoized per tree id, so a tree shared by a thousand commits is read once), and each commit
 * adds itself and the full paths to those problems. Refs are added at the end from the commit
 * graph (Findings.finish).
 */
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { throwIfAborted } from '../errors.js';
import type { Commit } from '../model/commit.js';
import type { FileManifest } from '../model/file-manifest.js';
import { LIMITS } from '../model/limits.js';
import type { FileEntry, Tree } from '../model/tree.js';
import { objectKey } from '../repository/layout.js';
import { localPlace, objectProblemKey } from './byte-scan.js';
import type { Findings } from './findings.js';
import type { CheckTarget } from './byte-scan.js';
import type { FileHash } from './hash-worker.js';
import { readMeta, type MetaReaderContext } from './meta-reader.js';
import { FLAG } from './object-table.js';
import type { Root } from './roots.js';
import { checkCommitSignatures, type SignatureContext } from './signatures.js';

/** Problems beneath a tree: [problem, path relative to the tree ('' is the tree itself)]. */
type Summary = readonly (readonly [pid: number, path: string])[];

interface ManifestSummary {
  pids: number[];
  manifest?: FileManifest;
}

export interface WalkOptions extends CheckTarget {
  roots: readonly Root[];
  /** Signature checks; undefined skips them. */
  signatures?: SignatureContext;
  /** Recompute each multi-chunk file's whole digest from its chunks. */
  full: boolean;
  /** Metadata reads in flight (remote stores). */
  concurrency?: number;
  signal?: AbortSignal;
  onMetaVerified: (id: string, size: number) => void;
  onProgress?: (commits: number, metaObjects: number) => void;
  /** Metadata strictly verified within --max-age (see meta-reader). */
  recentMeta?: (id: string) => boolean;
}

export interface WalkResult {
  commits: number;
  trees: number;
  manifests: number;
  /** Bytes hashed by --full. */
  fullBytes: number;
}

const MAX_SUMMARY = 10_000;
const COMMIT_CONCURRENCY = 8;

interface Visit {
  id: string;
  from: string;
  /** Reached as a lineage input (absent is MISSING_INPUT, not MISSING_OBJECT). */
  input: boolean;
}
const ENTRY_BATCH = 64;

export async function walkGraph(o: WalkOptions): Promise<WalkResult> {
  return new GraphWalk(o).run();
}

class GraphWalk {
  readonly #o: WalkOptions;
  readonly #ctx: MetaReaderContext;
  readonly #trees = new Map<string, Promise<Summary>>();
  readonly #manifests = new Map<string, Promise<ManifestSummary>>();
  readonly #commits = new Set<string>();
  #fullBytes = 0;
  #metaRead = 0;

  constructor(o: WalkOptions) {
    this.#o = o;
    this.#ctx = {
      backend: o.backend,
      chunks: o.chunks,
      meta: o.meta,
      findings: o.findings,
      ...(o.signal ? { signal: o.signal } : {}),
      limit: pLimit(o.concurrency ?? 16),
      ...(o.recentMeta ? { recent: o.recentMeta } : {}),
      onVerified: (id, size) => {
        this.#metaRead++;
        o.onMetaVerified(id, size);
      },
    };
  }

  async run(): Promise<WalkResult> {
    const { findings } = this.#o;
    const tips = new Map<string, string[]>();
    for (const r of this.#o.roots) {
      findings.addRoot(r.id, r.name);
      tips.set(r.id, [...(tips.get(r.id) ?? []), r.name]);
    }
    const queue: Visit[] = [...tips].map(([id, names]) => ({ id, from: names.join(', '), input: false }));
    // Commits are visited COMMIT_CONCURRENCY at a time (remote reads overlap); each visit queues
    // its parents and inputs. Results do not depend on the order: every set is sorted at the end.
    await new Promise<void>((resolve, reject) => {
      let active = 0;
      let failed = false;
      const pump = (): void => {
        if (failed) return;
        while (active < COMMIT_CONCURRENCY && queue.length > 0) {
          const next = queue.shift()!;
          if (this.#commits.has(next.id)) continue;
          this.#commits.add(next.id);
          active++;
          this.#visitCommit(next, tips, queue).then(
            () => {
              active--;
              pump();
            },
            (e: unknown) => {
              failed = true;
              reject(e);
            },
          );
        }
        if (active === 0 && queue.length === 0) resolve();
      };
      pump();
    });
    return { commits: this.#commits.size, trees: this.#trees.size, manifests: this.#manifests.size, fullBytes: this.#fullBytes };
  }

  async #visitCommit({ id, from, input }: Visit, tips: ReadonlyMap<string, string[]>, queue: Visit[]): Promise<void> {
    const { findings } = this.#o;
    throwIfAborted(this.#o.signal);
    if (input && !(this.#o.meta.flags(id) & FLAG.PRESENT)) {
      this.#o.meta.add(id, FLAG.REFERENCED);
      const pid = findings.add({ code: 'MISSING_INPUT', id, kind: 'commit', key: objectKey('meta', id), detail: `lineage input commit ${id} of ${from} is not in this store`, facts: { referencedBy: from } });
      findings.affectCommit(pid, id);
      return;
    }
    const r = await readMeta(this.#ctx, id, 'commit', from);
    if (!r.ok) {
      findings.affectCommit(r.pid, id);
      return;
    }
    const commit = r.value as Commit;
    findings.addEdges(id, [...commit.parents, ...commit.inputs.map((i) => i.commit)]);
    for (const p of commit.parents) queue.push({ id: p, from: `commit ${id}`, input: false });
    for (const i of commit.inputs) queue.push({ id: i.commit, from: `commit ${id}`, input: true });
    const summary = await this.#tree(commit.tree, `commit ${id}`, 0);
    for (const [pid, path] of summary) {
      findings.affectCommit(pid, id);
      findings.affectPath(pid, path === '' ? '/' : path);
    }
    if (this.#o.signatures) await checkCommitSignatures(this.#o.signatures, id, r.bytes, tips.get(id) ?? []);
    this.#o.onProgress?.(this.#commits.size, this.#metaRead);
  }

  #tree(id: string, from: string, depth: number): Promise<Summary> {
    let p = this.#trees.get(id);
    if (!p) {
      p = this.#walkTree(id, from, depth);
      this.#trees.set(id, p);
    }
    return p;
  }

  async #walkTree(id: string, from: string, depth: number): Promise<Summary> {
    throwIfAborted(this.#o.signal);
    const r = await readMeta(this.#ctx, id, 'tree', from);
    if (!r.ok) return [[r.pid, '']];
    const tree = r.value as Tree;
    const out: (readonly [number, string])[] = [];
    const push = (pid: number, path: string): void => {
      if (out.length < MAX_SUMMARY) out.push([pid, path]);
    };
    for (let i = 0; i < tree.entries.length; i += ENTRY_BATCH) {
      await Promise.all(
        tree.entries.slice(i, i + ENTRY_BATCH).map(async (entry) => {
          if (entry.type === 'file') {
            for (const pid of await this.#file(entry, id)) push(pid, entry.name);
            return;
          }
          if (depth + 1 > LIMITS.maxTreeDepth) {
            const pid = this.#o.findings.add({ code: 'INVALID_OBJECT', id, kind: 'tree', key: objectKey('meta', id), detail: `tree ${id} nests deeper than ${LIMITS.maxTreeDepth} levels` }, `depth:${id}`);
            push(pid, '');
            return;
          }
          for (const [pid, rel] of await this.#tree(entry.id, `tree ${id} (entry ${JSON.stringify(entry.name)})`, depth + 1)) {
            push(pid, rel === '' ? `${entry.name}/` : `${entry.name}/${rel}`);
          }
        }),
      );
    }
    return out;
  }

  /** Problems of one file entry: its manifest, its chunks, and whether they agree with the entry. */
  async #file(entry: FileEntry, treeId: string): Promise<number[]> {
    const from = `tree ${treeId} (file ${JSON.stringify(entry.name)})`;
    if (entry.manifest === undefined) {
      const pid = this.#chunk(entry.digest, entry.size, from);
      return pid === undefined ? [] : [pid];
    }
    const ms = await this.#manifest(entry.manifest, from);
    const pids = [...ms.pids];
    const m = ms.manifest;
    if (m && m.size !== entry.size) {
      pids.push(this.#o.findings.add({
        code: 'MANIFEST_SIZE_MISMATCH', id: entry.manifest, kind: 'file manifest', key: objectKey('meta', entry.manifest),
        detail: `file manifest ${entry.manifest} describes ${m.size} bytes but ${from} records ${entry.size}`,
        facts: { manifestSize: m.size, entrySize: entry.size, tree: treeId },
      }, `msize:${entry.manifest}:${entry.size}`));
    }
    if (m && m.digest !== entry.digest) {
      pids.push(this.#o.findings.add({
        code: 'FILE_DIGEST_MISMATCH', id: entry.manifest, kind: 'file manifest', key: objectKey('meta', entry.manifest),
        detail: `file manifest ${entry.manifest} has digest ${m.digest} but ${from} records ${entry.digest}`,
        facts: { manifestDigest: m.digest, entryDigest: entry.digest, tree: treeId },
      }, `mdigest:${entry.manifest}:${entry.digest}`));
    }
    return pids;
  }

  #manifest(id: string, from: string): Promise<ManifestSummary> {
    let p = this.#manifests.get(id);
    if (!p) {
      p = this.#checkManifest(id, from);
      this.#manifests.set(id, p);
    }
    return p;
  }

  async #checkManifest(id: string, from: string): Promise<ManifestSummary> {
    const r = await readMeta(this.#ctx, id, 'file manifest', from);
    if (!r.ok) return { pids: [r.pid] };
    const manifest = r.value as FileManifest;
    const pids = new Set<number>();
    const chunkFrom = `file manifest ${id}`;
    for (const [cid, size] of manifest.chunks) {
      const pid = this.#chunk(cid, size, chunkFrom);
      if (pid !== undefined) pids.add(pid);
    }
    if (this.#o.full && pids.size === 0) {
      const pid = await this.#fullDigest(id, manifest);
      if (pid !== undefined) pids.add(pid);
    }
    return { pids: [...pids], manifest };
  }

  /** A chunk edge: present, not known bad, of the recorded size. Returns the problem, if any. */
  #chunk(id: string, size: number, from: string): number | undefined {
    const { chunks, findings } = this.#o;
    const flags = chunks.flags(id);
    const objKey = objectProblemKey('chunks', id);
    const key = objectKey('chunks', id);
    if (!(flags & FLAG.PRESENT)) {
      chunks.add(id, FLAG.REFERENCED);
      return findings.add({ code: 'MISSING_OBJECT', id, kind: 'chunk', key, detail: `chunk ${id} is missing (referenced by ${from})`, facts: { referencedBy: from, size } }, objKey);
    }
    chunks.mark(id, FLAG.REFERENCED);
    const stored = chunks.sizeOf(id);
    const known = findings.lookup(objKey);
    if (known !== undefined) {
      if (findings.get(known).code === 'HASH_MISMATCH' && stored !== undefined && stored < size) {
        findings.refine(known, {
          code: 'TRUNCATED',
          detail: `chunk ${id} is truncated: ${stored} bytes stored where ${from} records ${size}`,
          facts: { ...findings.get(known).facts, size: stored, expectedSize: size },
        });
      }
      return known;
    }
    if (stored !== undefined && stored !== size) {
      chunks.mark(id, FLAG.BAD);
      const verified = (flags & FLAG.VERIFIED) !== 0;
      if (!verified && stored < size) {
        return findings.add({ code: 'TRUNCATED', id, kind: 'chunk', key, detail: `chunk ${id} is truncated: ${stored} bytes stored where ${from} records ${size}`, facts: { size: stored, expectedSize: size } }, objKey);
      }
      return findings.add({
        code: 'SIZE_MISMATCH', id, kind: 'chunk', key,
        detail: verified ? `chunk ${id} is intact (${stored} bytes) but ${from} records ${size} bytes: the referencing object is wrong` : `chunk ${id} has ${stored} bytes where ${from} records ${size}`,
        facts: { size: stored, expectedSize: size, bytesVerified: verified },
      }, objKey);
    }
    return undefined;
  }

  /** --full: the SHA-256 of the concatenated chunks must be the manifest's digest. */
  async #fullDigest(id: string, m: FileManifest): Promise<number | undefined> {
    const keys = m.chunks.map(([cid]) => objectKey('chunks', cid));
    let r: FileHash;
    if (this.#o.localDir !== undefined) {
      r = await this.#o.pool.run<FileHash>({ kind: 'concat', root: this.#o.localDir, keys: keys.map((k) => localPlace(this.#o.backend, k)), maxBytes: LIMITS.maxChunkBytes });
    } else {
      const h = createHash('sha256');
      let size = 0;
      try {
        for (const key of keys) {
          const b = await this.#o.backend.get(key, { maxBytes: LIMITS.maxChunkBytes, ...(this.#o.signal ? { signal: this.#o.signal } : {}) });
          h.update(b);
          size += b.length;
        }
        r = { hash: h.digest('hex'), size };
      } catch (e) {
        r = { failure: 'unreadable', message: (e as Error).message };
      }
    }
    if ('failure' in r) {
      return this.#o.findings.add({ code: 'UNREADABLE_OBJECT', id, kind: 'file manifest', key: objectKey('meta', id), detail: `--full could not read the chunks of file manifest ${id}: ${r.message}` }, `full:${id}`);
    }
    this.#fullBytes += r.size;
    if (r.hash === m.digest && r.size === m.size) return undefined;
    return this.#o.findings.add({
      code: 'FILE_DIGEST_MISMATCH', id, kind: 'file manifest', key: objectKey('meta', id),
      detail: `the chunks of file manifest ${id} concatenate to ${r.size} bytes with SHA-256 ${r.hash}, not ${m.size} bytes with ${m.digest}`,
      facts: { actual: r.hash, actualSize: r.size, digest: m.digest, size: m.size },
    }, `full:${id}`);
  }
}
