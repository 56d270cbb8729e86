/**
 * Upload: makes every object reachable from some commits present on a remote, sending only what
 * it lacks, in dependency order (see transfer.ts): each object is sent once everything it
 * references that this push sends is stored (and durable — a directory remote is flushed, in
 * groups, before a parent goes out), so there is no barrier between "levels" and a slow chunk
 * delays only its own tree. What the remote lacks is decided, cheapest
 * first, by: the commits its refs already point at; the local index of keys it is known to have;
 * a HEAD request for each tree and commit not in the index (present ⇒ its whole closure is
 * present, so the walk stops there). Chunks and manifests not in the index are simply PUT: the
 * backend's PUT is create-only (If-None-Match) and costs the same as a HEAD for a missing object.
 *
 * `verifyRemote` trusts nothing: every reachable object is HEAD-checked and re-sent when missing
 * or of the wrong size, which repairs a remote that lost objects.
 */
import { sha256Hex } from '../core/digest.js';
import { decodeCommit } from '../model/commit.js';
import { decodeFileManifest } from '../model/file-manifest.js';
import { decodeTree } from '../model/tree.js';
import type { Backend } from '../storage/backend.js';
import { objectKey, signatureKey } from './layout.js';
import type { ObjectStore } from './object-store.js';
import pLimit from 'p-limit';
import { throwIfAborted } from '../errors.js';
import { GroupFlush, Meter, RemoteMarks, decodeOrCorrupt, knownOnRemote, transferSignal, type TransferOptions } from './transfer.js';

export interface UploadSource {
  objects: ObjectStore;
  listSignatures(commitId: string, signal?: AbortSignal): Promise<{ keyId: string; bytes: Uint8Array }[]>;
}

export interface UploadInput {
  local: UploadSource;
  remote: Backend;
  /** Commits to make complete on the remote. */
  tips: readonly string[];
  /** Commits the remote's refs point at now: complete there by the dependency-order rule. */
  remoteTips: readonly string[];
  verifyRemote?: boolean;
}

export interface UploadResult {
  /** Objects sent (including signatures). */
  uploaded: number;
  bytes: number;
  /** Objects found already on the remote by a HEAD request (index hits are not counted). */
  present: number;
  /** Objects re-sent because the remote's copy had the wrong size (verifyRemote). */
  repaired: number;
  /** Commits walked that the remote did not have. */
  commits: number;
}

interface Item {
  key: string;
  /** Keys this object references that this push also sends: they must be stored first. */
  deps: readonly string[];
  /** Size when known before loading (chunks); metadata is held in memory. */
  size: number;
  sha256?: string;
  bytes?: Uint8Array;
  load?: () => Promise<Uint8Array>;
}

export async function uploadObjects(input: UploadInput, options: TransferOptions): Promise<UploadResult> {
  const { signal, done } = transferSignal(options.signal, options.jobs);
  try {
    const plan = new UploadPlan(input, { ...options, signal });
    await plan.walk();
    return await plan.send();
  } finally {
    done();
  }
}

class UploadPlan {
  readonly chunks = new Map<string, number>();
  readonly manifests = new Map<string, { bytes: Uint8Array; deps: string[] }>();
  readonly trees = new Map<string, { bytes: Uint8Array; height: number; deps: string[] }>();
  readonly commits = new Map<string, { bytes: Uint8Array; parents: readonly string[]; tree: string }>();
  /** Commits whose signatures are compared with the remote's: new ones and the tips. */
  readonly signatureCommits = new Set<string>();
  readonly #treeWalks = new Map<string, Promise<number>>();
  readonly #verify: boolean;
  readonly #sig: { signal?: AbortSignal };
  readonly result: UploadResult = { uploaded: 0, bytes: 0, present: 0, repaired: 0, commits: 0 };

  constructor(
    private readonly input: UploadInput,
    private readonly options: TransferOptions,
  ) {
    this.#verify = input.verifyRemote ?? false;
    this.#sig = options.signal ? { signal: options.signal } : {};
  }

  /**
   * True when the remote is known or found to hold `key` (and so its closure); never in verify
   * mode. A remote without refs is not asked: whatever an interrupted push left there is either in
   * the index already or cheaper to send again than to probe tree by tree.
   */
  async #remoteHas(key: string): Promise<boolean> {
    if (this.#verify) return false;
    if ((await knownOnRemote(this.options.index, [key]))[0]) return true;
    if (this.input.remoteTips.length === 0) return false;
    const info = await this.input.remote.stat(key, this.#sig);
    if (!info) return false;
    this.result.present++;
    await this.options.index?.db.markRemoteHas(this.options.index.remoteId, [key]);
    return true;
  }

  async walk(): Promise<void> {
    const stop = new Set(this.#verify ? [] : this.input.remoteTips);
    const queue = [...new Set(this.input.tips)];
    const seen = new Set(queue);
    for (const tip of this.input.tips) this.signatureCommits.add(tip);
    while (queue.length > 0) {
      const id = queue.shift()!;
      if (stop.has(id) || (await this.#remoteHas(objectKey('meta', id)))) continue;
      const bytes = await this.input.local.objects.getVerified('meta', id, 'commit', this.#sig);
      const commit = decodeOrCorrupt(decodeCommit, bytes, id, 'commit', this.input.local.objects.backend.location);
      this.commits.set(id, { bytes, parents: commit.parents, tree: commit.tree });
      this.signatureCommits.add(id);
      await this.#walkTree(commit.tree);
      for (const p of commit.parents) {
        if (!seen.has(p)) {
          seen.add(p);
          queue.push(p);
        }
      }
    }
    this.result.commits = this.commits.size;
  }

  /** Walks a tree not known on the remote; returns its height (-1: the remote has it). */
  #walkTree(id: string): Promise<number> {
    let walk = this.#treeWalks.get(id);
    if (!walk) {
      walk = this.#doWalkTree(id);
      this.#treeWalks.set(id, walk);
    }
    return walk;
  }

  async #doWalkTree(id: string): Promise<number> {
    if (await this.#remoteHas(objectKey('meta', id))) return -1;
    const objects = this.input.local.objects;
    const bytes = await objects.getVerified('meta', id, 'tree', this.#sig);
    const tree = decodeOrCorrupt(decodeTree, bytes, id, 'tree', objects.backend.location);
    const files = tree.entries.filter((e) => e.type === 'file');
    const keys = files.map((f) => (f.manifest ? objectKey('meta', f.manifest) : objectKey('chunks', f.digest)));
    const known = this.#verify ? keys.map(() => false) : await knownOnRemote(this.options.index, keys);
    const manifestReads: Promise<void>[] = [];
    const deps: string[] = [];
    files.forEach((f, i) => {
      if (known[i]) return;
      deps.push(keys[i]!);
      if (f.manifest) manifestReads.push(this.#walkManifest(f.manifest));
      else this.chunks.set(f.digest, f.size);
    });
    const subtrees = tree.entries.filter((e) => e.type === 'tree');
    const [heights] = await Promise.all([Promise.all(subtrees.map((e) => this.#walkTree(e.id))), Promise.all(manifestReads)]);
    subtrees.forEach((e, i) => {
      if (heights[i]! >= 0) deps.push(objectKey('meta', e.id));
    });
    const height = 1 + Math.max(-1, ...heights);
    this.trees.set(id, { bytes, height, deps });
    return height;
  }

  async #walkManifest(id: string): Promise<void> {
    if (this.manifests.has(id)) return;
    const entry: { bytes: Uint8Array; deps: string[] } = { bytes: new Uint8Array(0), deps: [] };
    this.manifests.set(id, entry);
    const objects = this.input.local.objects;
    entry.bytes = await objects.getVerified('meta', id, 'file manifest', this.#sig);
    const m = decodeOrCorrupt(decodeFileManifest, entry.bytes, id, 'file manifest', objects.backend.location);
    const keys = m.chunks.map(([c]) => objectKey('chunks', c));
    const known = this.#verify ? keys.map(() => false) : await knownOnRemote(this.options.index, keys);
    m.chunks.forEach(([c, size], i) => {
      if (known[i]) return;
      this.chunks.set(c, size);
      entry.deps.push(keys[i]!);
    });
  }

  /**
   * Sends every planned object as soon as the objects it references are stored: at most `jobs`
   * at a time, children scheduled before parents. The first failure stops new sends; what did
   * arrive is checkpointed in the index so the next push resumes.
   */
  async send(): Promise<UploadResult> {
    const { remote } = this.input;
    const objects = this.input.local.objects;
    const marks = new RemoteMarks(this.options.index, () => remote.flush(this.#sig), this.options.now);
    const durable = new GroupFlush(() => remote.flush(this.#sig));
    const items: Item[] = [];
    for (const [id, size] of this.chunks) {
      items.push({
        key: objectKey('chunks', id),
        deps: [],
        size,
        sha256: id,
        load: () => objects.getVerified('chunks', id, 'chunk', { expectedSize: size, ...this.#sig }),
      });
    }
    for (const [id, m] of this.manifests) items.push({ key: objectKey('meta', id), deps: m.deps, size: m.bytes.length, sha256: id, bytes: m.bytes });
    for (const [id, t] of [...this.trees].sort(([, a], [, b]) => a.height - b.height)) {
      items.push({ key: objectKey('meta', id), deps: t.deps, size: t.bytes.length, sha256: id, bytes: t.bytes });
    }
    for (const id of this.#commitOrder()) {
      const c = this.commits.get(id)!;
      const deps = [c.tree, ...c.parents].filter((d) => this.trees.has(d) || this.commits.has(d)).map((d) => objectKey('meta', d));
      items.push({ key: objectKey('meta', id), deps, size: c.bytes.length, sha256: id, bytes: c.bytes });
    }
    items.push(...(await this.#signatureItems()));

    const meter = new Meter('uploading', items.length, items.reduce((n, it) => n + it.size, 0), this.options.progress);
    const limit = pLimit(Math.max(1, this.options.jobs));
    const stored = new Map<string, Promise<void>>();
    let failure: { error: unknown } | undefined;
    for (const item of items) {
      const deps = item.deps.map((k) => stored.get(k)).filter((p): p is Promise<void> => p !== undefined);
      const ready = deps.length > 0 ? Promise.all(deps).then(() => durable.request()) : Promise.resolve();
      const sent = ready.then(() =>
        limit(async () => {
          if (failure) throw failure.error;
          throwIfAborted(this.options.signal);
          await this.#sendOne(item, meter, marks);
        }),
      );
      sent.catch((e: unknown) => {
        failure ??= { error: e };
      });
      stored.set(item.key, sent);
    }
    await Promise.allSettled(stored.values());
    if (failure) {
      // Remember what did arrive, so the next push resumes instead of starting over.
      await marks.checkpoint().catch(() => {});
      throw failure.error;
    }
    await marks.checkpoint();
    await remote.flush(this.#sig);
    return this.result;
  }

  async #sendOne(item: Item, meter: Meter, marks: RemoteMarks): Promise<void> {
    const { remote } = this.input;
    let bytes = item.bytes;
    if (this.#verify) {
      bytes ??= await item.load!();
      const info = await remote.stat(item.key, this.#sig);
      if (info && info.size === bytes.length) {
        this.result.present++;
        meter.add(item.size);
        return marks.add(item.key);
      }
      if (info) {
        await remote.delete(item.key, this.#sig);
        this.result.repaired++;
      }
    }
    bytes ??= await item.load!();
    await remote.put(item.key, bytes, { ...this.#sig, ...(item.sha256 ? { sha256: item.sha256 } : {}) });
    this.result.uploaded++;
    this.result.bytes += bytes.length;
    meter.add(item.size);
    await marks.add(item.key);
  }

  /** New commits, every one after its (new) parents (iterative: histories can be deep). */
  #commitOrder(): string[] {
    const out: string[] = [];
    const placed = new Set<string>();
    for (const start of this.commits.keys()) {
      const stack = [start];
      while (stack.length > 0) {
        const top = stack[stack.length - 1]!;
        if (placed.has(top)) {
          stack.pop();
          continue;
        }
        const pending = this.commits.get(top)!.parents.filter((p) => this.commits.has(p) && !placed.has(p));
        if (pending.length > 0) {
          stack.push(...pending);
          continue;
        }
        stack.pop();
        placed.add(top);
        out.push(top);
      }
    }
    return out;
  }

  async #signatureItems(): Promise<Item[]> {
    const items: Item[] = [];
    for (const commitId of this.signatureCommits) {
      const sigs = await this.input.local.listSignatures(commitId, this.options.signal);
      const keys = sigs.map((s) => signatureKey(commitId, s.keyId));
      const known = this.#verify ? keys.map(() => false) : await knownOnRemote(this.options.index, keys);
      sigs.forEach((s, i) => {
        if (!known[i]) items.push({ key: keys[i]!, deps: this.commits.has(commitId) ? [objectKey('meta', commitId)] : [], size: s.bytes.length, sha256: sha256Hex(s.bytes), bytes: s.bytes });
      });
    }
    return items;
  }
}
