/**
 * Download: copies what the local store lacks of the objects reachable from some remote commits.
 * Every object is verified before it is stored — its SHA-256 against its id, its byte count
 * against the size the referencing edge recorded (chunks), and metadata against the strict
 * decoders — so bad bytes from the remote are refused and never cached. A verification failure is
 * retried twice (the bytes may have been damaged in transit), then reported as CORRUPT_OBJECT
 * naming the object, the remote and the file it belongs to.
 *
 * With `paths`, only the chunks (and manifests) of files under those repo paths are fetched; every
 * tree of the commit still is, because a checkout plans from the whole tree.
 * Local writes follow the same dependency order as uploads (data, manifests, trees deepest first,
 * commits parents first, signatures), and the local store is flushed at the end.
 */
import { MlstoreError, isMlstoreError } from '../errors.js';
import { decodeCommit } from '../model/commit.js';
import { decodeFileManifest, type FileManifest } from '../model/file-manifest.js';
import { decodeTree, type FileEntry, type Tree } from '../model/tree.js';
import type { Namespace } from '../model/object-kind.js';
import { objectKey, signatureKey, signaturePrefix } from './layout.js';
import type { ObjectStore } from './object-store.js';
import { Meter, RemoteMarks, decodeOrCorrupt, runPool, transferSignal, type TransferOptions } from './transfer.js';

export interface DownloadInput {
  local: ObjectStore;
  /** The remote's object store (verify-on-read) and its backend (for signatures). */
  remote: ObjectStore;
  /** Commits to fetch. */
  tips: readonly string[];
  /** Also fetch every ancestor (parents); false fetches just the tips' own trees and data. */
  history: boolean;
  /** Commits whose closure the local store already holds: neither their trees nor parents are walked. */
  complete?: ReadonlySet<string>;
  /** Only the data of files under these repo-relative paths ('' = everything). */
  paths?: readonly string[];
  /** Decides whether a signature envelope found on the remote may be stored (shape, payload). */
  acceptSignature?: (commitId: string, keyId: string, envelope: Uint8Array, commitBytes: Uint8Array) => boolean;
}

export interface DownloadResult {
  /** Objects downloaded and stored (including signatures). */
  downloaded: number;
  bytes: number;
  /** Reachable objects the local store already had. */
  present: number;
  /** Commits walked. */
  commits: number;
  /** Signature envelopes refused by `acceptSignature`. */
  rejectedSignatures: number;
}

const MAX_SIGNATURE_BYTES = 128 * 1024 * 1024;
const VERIFY_ATTEMPTS = 3;
type Scope = 'all' | 'partial' | 'trees';

export async function downloadObjects(input: DownloadInput, options: TransferOptions): Promise<DownloadResult> {
  const { signal, done } = transferSignal(options.signal, options.jobs);
  try {
    const plan = new DownloadPlan(input, { ...options, signal });
    await plan.walk();
    await plan.fetchChunks();
    await plan.storeMetadata();
    await plan.fetchSignatures();
    await input.local.backend.flush({ signal });
    await plan.markAll();
    return plan.result;
  } finally {
    done();
  }
}

class DownloadPlan {
  readonly result: DownloadResult = { downloaded: 0, bytes: 0, present: 0, commits: 0, rejectedSignatures: 0 };
  readonly #commitBytes = new Map<string, Uint8Array>();
  readonly #newCommits: [string, Uint8Array][] = [];
  readonly #trees = new Map<string, Promise<Tree>>();
  readonly #newTrees = new Map<string, { bytes: Uint8Array; depth: number }>();
  readonly #manifests = new Map<string, Promise<FileManifest>>();
  readonly #newManifests = new Map<string, Uint8Array>();
  /** Chunk id → size and the first file that needs it (for messages). */
  readonly #chunks = new Map<string, { size: number; path: string }>();
  readonly #walkedAll = new Set<string>();
  readonly #walkedTrees = new Set<string>();
  readonly #signatureKeys: string[] = [];
  readonly #marks: RemoteMarks;
  readonly #sig: { signal?: AbortSignal };
  readonly #scan: Meter;

  constructor(
    private readonly input: DownloadInput,
    private readonly options: TransferOptions,
  ) {
    this.#sig = options.signal ? { signal: options.signal } : {};
    this.#marks = new RemoteMarks(options.index, async () => {}, options.now);
    this.#scan = new Meter('reading metadata', undefined, undefined, options.progress);
  }

  async walk(): Promise<void> {
    const complete = this.input.complete ?? new Set<string>();
    const seen = new Set(this.input.tips);
    let level = [...seen];
    const roots: string[] = [];
    while (level.length > 0) {
      const next: string[] = [];
      await runPool(level, this.options.jobs, this.options.signal, async (id) => {
        const { value: commit, bytes } = await this.#loadMeta(id, 'commit', decodeCommit, '');
        this.#commitBytes.set(id, bytes);
        if (complete.has(id)) return;
        roots.push(commit.tree);
        if (!this.input.history) return;
        for (const p of commit.parents) {
          if (!seen.has(p)) {
            seen.add(p);
            next.push(p);
          }
        }
      });
      level = next;
    }
    this.result.commits = this.#commitBytes.size;
    await Promise.all([...new Set(roots)].map((root) => this.#walkTree(root, '', this.#scopeOf(''), 0)));
  }

  #scopeOf(path: string): Scope {
    const paths = this.input.paths;
    if (!paths || paths.length === 0 || paths.some((r) => under(path, r))) return 'all';
    return paths.some((r) => under(r, path)) ? 'partial' : 'trees';
  }

  async #walkTree(id: string, path: string, scope: Scope, depth: number): Promise<void> {
    // A tree id can appear at several paths; what is in scope depends on the path, so only
    // 'all' and 'trees' walks are remembered by id ('partial' ones lie on the few requested paths).
    if (this.#walkedAll.has(id) || (scope === 'trees' && this.#walkedTrees.has(id))) return;
    if (scope === 'all') this.#walkedAll.add(id);
    else if (scope === 'trees') this.#walkedTrees.add(id);
    const tree = await this.#loadTree(id, path, depth);
    await Promise.all(
      tree.entries.map((e) => {
        const p = path === '' ? e.name : `${path}/${e.name}`;
        const s = scope === 'all' ? 'all' : this.#scopeOf(p);
        if (e.type === 'tree') return this.#walkTree(e.id, p, s, depth + 1);
        return s === 'all' ? this.#wantFile(e, p) : Promise.resolve();
      }),
    );
  }

  #loadTree(id: string, path: string, depth: number): Promise<Tree> {
    let p = this.#trees.get(id);
    if (!p) {
      p = this.#loadMeta(id, 'tree', decodeTree, path).then(({ value, bytes, fromRemote }) => {
        if (fromRemote) this.#newTrees.set(id, { bytes, depth });
        return value;
      });
      this.#trees.set(id, p);
    }
    return p.then((tree) => {
      const stored = this.#newTrees.get(id);
      if (stored && stored.depth < depth) stored.depth = depth;
      return tree;
    });
  }

  async #wantFile(entry: FileEntry, path: string): Promise<void> {
    if (!entry.manifest) {
      this.#wantChunk(entry.digest, entry.size, path);
      return;
    }
    const id = entry.manifest;
    let p = this.#manifests.get(id);
    if (!p) {
      p = this.#loadMeta(id, 'file manifest', decodeFileManifest, path).then(({ value, bytes, fromRemote }) => {
        if (fromRemote) this.#newManifests.set(id, bytes);
        return value;
      });
      this.#manifests.set(id, p);
    }
    const m = await p;
    if (m.size !== entry.size || m.digest !== entry.digest) {
      throw new MlstoreError('CORRUPT_OBJECT', `file manifest ${id} does not describe ${path}: its size or digest differ from the tree entry`, {
        details: { id, kind: 'file manifest', path },
      });
    }
    for (const [chunk, size] of m.chunks) this.#wantChunk(chunk, size, path);
  }

  #wantChunk(id: string, size: number, path: string): void {
    if (!this.#chunks.has(id)) this.#chunks.set(id, { size, path });
  }

  /** Reads a metadata object locally when present (verified), otherwise from the remote (verified, decoded). */
  async #loadMeta<T>(id: string, kind: string, decode: (b: Uint8Array) => T, path: string): Promise<{ value: T; bytes: Uint8Array; fromRemote: boolean }> {
    const { local, remote } = this.input;
    let bytes: Uint8Array;
    let fromRemote = false;
    if (await local.has('meta', id, this.options.signal)) {
      bytes = await local.getVerified('meta', id, kind, this.#sig);
      this.result.present++;
    } else {
      bytes = await this.#fetchVerified('meta', id, kind, undefined, path);
      fromRemote = true;
    }
    const value = decodeOrCorrupt(decode, bytes, id, kind, fromRemote ? remote.backend.location : local.backend.location);
    if (fromRemote && kind === 'commit') this.#newCommits.push([id, bytes]);
    this.#scan.add(bytes.length);
    return { value, bytes, fromRemote };
  }

  /** One verified object from the remote; a verification failure is retried, then reported with the file it belongs to. */
  async #fetchVerified(ns: Namespace, id: string, kind: string, expectedSize: number | undefined, path: string): Promise<Uint8Array> {
    for (let attempt = 1; ; attempt++) {
      try {
        const bytes = await this.input.remote.getVerified(ns, id, kind, { ...this.#sig, ...(expectedSize !== undefined ? { expectedSize } : {}) });
        this.result.downloaded++;
        this.result.bytes += bytes.length;
        return bytes;
      } catch (e) {
        if (isMlstoreError(e, 'CORRUPT_OBJECT') && attempt < VERIFY_ATTEMPTS) continue;
        throw withPath(e, path, this.input.remote.backend.location);
      }
    }
  }

  async fetchChunks(): Promise<void> {
    const missing: [string, { size: number; path: string }][] = [];
    await runPool(this.#chunks, Math.max(16, this.options.jobs), this.options.signal, async (entry) => {
      if (await this.input.local.has('chunks', entry[0], this.options.signal)) this.result.present++;
      else missing.push(entry);
    });
    const totalBytes = missing.reduce((n, [, c]) => n + c.size, 0);
    const meter = new Meter('downloading', missing.length, totalBytes, this.options.progress);
    try {
      await runPool(missing, this.options.jobs, this.options.signal, async ([id, { size, path }]) => {
        const bytes = await this.#fetchVerified('chunks', id, 'chunk', size, path);
        await this.input.local.putChunk(bytes, id, this.options.signal);
        meter.add(bytes.length);
        await this.#marks.add(objectKey('chunks', id));
      });
    } finally {
      await this.#marks.checkpoint().catch(() => {});
    }
  }

  /** Stores downloaded metadata after the data it references: manifests, trees deepest first, commits parents first. */
  async storeMetadata(): Promise<void> {
    const { local } = this.input;
    await runPool(this.#newManifests.values(), this.options.jobs, this.options.signal, async (bytes) => {
      await local.putMeta(bytes, this.options.signal);
    });
    const byDepth = [...this.#newTrees.values()].sort((a, b) => b.depth - a.depth);
    const depths = [...new Set(byDepth.map((t) => t.depth))];
    for (const d of depths) {
      await runPool(byDepth.filter((t) => t.depth === d), this.options.jobs, this.options.signal, async (t) => {
        await local.putMeta(t.bytes, this.options.signal);
      });
    }
    // Breadth-first discovery from the tips finds children before parents: store in reverse.
    for (const [, bytes] of [...this.#newCommits].reverse()) await local.putMeta(bytes, this.options.signal);
  }

  /** Copies the remote's signature envelopes of every walked commit that the local store lacks. */
  async fetchSignatures(): Promise<void> {
    const remote = this.input.remote.backend;
    const localBackend = this.input.local.backend;
    const commits = [...this.#commitBytes.keys()];
    const keys: string[] = [];
    const prefixes = commits.length <= 16 ? commits.map((c) => signaturePrefix(c)) : ['objects/signatures/'];
    for (const prefix of prefixes) {
      for await (const info of remote.list(prefix, this.#sig)) {
        const m = /^objects\/signatures\/([0-9a-f]{64})\/([0-9a-f]{64})\.dsse$/.exec(info.key);
        if (m && this.#commitBytes.has(m[1]!)) keys.push(info.key);
      }
    }
    this.#signatureKeys.push(...keys);
    await runPool(keys, this.options.jobs, this.options.signal, async (key) => {
      if (await localBackend.stat(key, this.#sig)) return;
      const [, , commitId, file] = key.split('/');
      const keyId = file!.slice(0, -'.dsse'.length);
      const bytes = await remote.get(key, { maxBytes: MAX_SIGNATURE_BYTES, ...this.#sig });
      if (this.input.acceptSignature && !this.input.acceptSignature(commitId!, keyId, bytes, this.#commitBytes.get(commitId!)!)) {
        this.result.rejectedSignatures++;
        return;
      }
      await localBackend.put(signatureKey(commitId!, keyId), bytes, this.#sig);
      this.result.downloaded++;
      this.result.bytes += bytes.length;
    });
  }

  /** Everything walked is on the remote (it is reachable from the remote's commits): remember it. */
  async markAll(): Promise<void> {
    const keys = [
      ...[...this.#commitBytes.keys(), ...this.#trees.keys(), ...this.#manifests.keys()].map((id) => objectKey('meta', id)),
      ...[...this.#chunks.keys()].map((id) => objectKey('chunks', id)),
      ...this.#signatureKeys,
    ];
    for (let i = 0; i < keys.length; i += 10_000) await this.#marks.addDurable(keys.slice(i, i + 10_000));
  }
}

function under(path: string, root: string): boolean {
  return root === '' || path === root || path.startsWith(`${root}/`);
}

/** Names the file an unusable remote object belongs to, and what to do about it. */
function withPath(e: unknown, path: string, location: string): unknown {
  if (!isMlstoreError(e) || (e.code !== 'CORRUPT_OBJECT' && e.code !== 'MISSING_OBJECT')) return e;
  const where = path === '' ? '' : ` (needed for ${path})`;
  return new MlstoreError(e.code, `${e.message}${where}`, {
    details: { ...e.details, location, ...(path !== '' ? { path } : {}) },
    cause: e,
    hint:
      e.code === 'CORRUPT_OBJECT'
        ? 'Nothing of it was stored locally. The copy on the remote is damaged: push it again from a repository that has it (`mlstore push --verify-remote`), or check the remote with `mlstore fsck --remote`.'
        : 'The remote lost this object: push it again from a repository that has it (`mlstore push --verify-remote`).',
  });
}

