/**
 * Upload: makes every object reachable from some commits present on a remote, sending only what
 * it lacks, in dependency order (see transfer.ts). What the remote lacks is decided, cheapest
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
import { Meter, RemoteMarks, decodeOrCorrupt, knownOnRemote, runPool, transferSignal, type TransferOptions } from './transfer.js';

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
  readonly manifests = new Map<string, Uint8Array>();
  readonly trees = new Map<string, { bytes: Uint8Array; height: number }>();
  readonly commits = new Map<string, { bytes: Uint8Array; parents: readonly string[] }>();
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

  /** True when the remote is known or found to hold `key` (and so its closure); never in verify mode. */
  async #remoteHas(key: string): Promise<boolean> {
    if (this.#verify) return false;
    if ((await knownOnRemote(this.options.index, [key]))[0]) return true;
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
      this.commits.set(id, { bytes, parents: commit.parents });
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
    files.forEach((f, i) => {
      if (known[i]) return;
      if (f.manifest) manifestReads.push(this.#walkManifest(f.manifest));
      else this.chunks.set(f.digest, f.size);
    });
    const heights = await Promise.all([
      ...tree.entries.map((e) => (e.type === 'tree' ? this.#walkTree(e.id) : Promise.resolve(-1))),
      ...manifestReads.map((p) => p.then(() => -1)),
    ]);
    const height = 1 + Math.max(-1, ...heights);
    this.trees.set(id, { bytes, height });
    return height;
  }

  async #walkManifest(id: string): Promise<void> {
    if (this.manifests.has(id)) return;
    const objects = this.input.local.objects;
    const bytes = await objects.getVerified('meta', id, 'file manifest', this.#sig);
    this.manifests.set(id, bytes);
    const m = decodeOrCorrupt(decodeFileManifest, bytes, id, 'file manifest', objects.backend.location);
    const keys = m.chunks.map(([c]) => objectKey('chunks', c));
    const known = this.#verify ? keys.map(() => false) : await knownOnRemote(this.options.index, keys);
    m.chunks.forEach(([c, size], i) => {
      if (!known[i]) this.chunks.set(c, size);
    });
  }

  /** Sends the planned objects phase by phase, each phase complete before the next starts. */
  async send(): Promise<UploadResult> {
    const { remote } = this.input;
    const objects = this.input.local.objects;
    const marks = new RemoteMarks(this.options.index, () => remote.flush(this.#sig), this.options.now);
    const phases: Item[][] = [];
    phases.push(
      [...this.chunks].map(([id, size]) => ({
        key: objectKey('chunks', id),
        size,
        sha256: id,
        load: () => objects.getVerified('chunks', id, 'chunk', { expectedSize: size, ...this.#sig }),
      })),
    );
    phases.push([...this.manifests].map(([id, bytes]) => ({ key: objectKey('meta', id), size: bytes.length, sha256: id, bytes })));
    const byHeight = new Map<number, Item[]>();
    for (const [id, t] of this.trees) {
      const list = byHeight.get(t.height) ?? [];
      list.push({ key: objectKey('meta', id), size: t.bytes.length, sha256: id, bytes: t.bytes });
      byHeight.set(t.height, list);
    }
    for (const h of [...byHeight.keys()].sort((a, b) => a - b)) phases.push(byHeight.get(h)!);
    for (const generation of this.#commitGenerations()) phases.push(generation);
    phases.push(await this.#signatureItems());

    const total = phases.reduce((n, p) => n + p.length, 0);
    const totalBytes = phases.reduce((n, p) => n + p.reduce((m, it) => m + it.size, 0), 0);
    const meter = new Meter('uploading', total, totalBytes, this.options.progress);
    try {
      for (const phase of phases) {
        await runPool(phase, this.options.jobs, this.options.signal, (item) => this.#sendOne(item, meter, marks));
        await marks.checkpoint();
      }
    } catch (e) {
      // Remember what did arrive, so the next push resumes instead of starting over.
      await marks.checkpoint().catch(() => {});
      throw e;
    }
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

  /** New commits grouped so every commit comes after its (new) parents. */
  #commitGenerations(): Item[][] {
    const gen = new Map<string, number>();
    const genOf = (id: string): number => {
      const known = gen.get(id);
      if (known !== undefined) return known;
      // Iterative post-order: histories can be deeper than the call stack.
      const stack = [id];
      while (stack.length > 0) {
        const top = stack[stack.length - 1]!;
        const parents = this.commits.get(top)!.parents.filter((p) => this.commits.has(p));
        const pending = parents.filter((p) => !gen.has(p));
        if (pending.length > 0) {
          stack.push(...pending);
          continue;
        }
        stack.pop();
        gen.set(top, 1 + Math.max(-1, ...parents.map((p) => gen.get(p)!)));
      }
      return gen.get(id)!;
    };
    const groups: Item[][] = [];
    for (const [id, c] of this.commits) {
      const g = genOf(id);
      (groups[g] ??= []).push({ key: objectKey('meta', id), size: c.bytes.length, sha256: id, bytes: c.bytes });
    }
    return groups.filter((g) => g !== undefined);
  }

  async #signatureItems(): Promise<Item[]> {
    const items: Item[] = [];
    for (const commitId of this.signatureCommits) {
      const sigs = await this.input.local.listSignatures(commitId, this.options.signal);
      const keys = sigs.map((s) => signatureKey(commitId, s.keyId));
      const known = this.#verify ? keys.map(() => false) : await knownOnRemote(this.options.index, keys);
      sigs.forEach((s, i) => {
        if (!known[i]) items.push({ key: keys[i]!, size: s.bytes.length, sha256: sha256Hex(s.bytes), bytes: s.bytes });
      });
    }
    return items;
  }
}
