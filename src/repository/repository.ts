/**
 * A local repository: the workspace root and its `.mlstore/` store. This class is the only way
 * upper layers reach stored bytes, refs, HEAD, the index and the lock.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { MlstoreError, fromFsError } from '../errors.js';
import { defaultEnv, type Env } from '../env.js';
import type { Backend } from '../storage/backend.js';
import { LocalBackend, type Durability } from '../storage/local-backend.js';
import type { Commit } from '../model/commit.js';
import { validateChunkParams } from '../core/fastcdc.js';
import { ObjectStore } from './object-store.js';
import { RefStore } from './refs.js';
import { readHead, writeHead, type Head } from './head.js';
import { readConfig, writeConfig, type ChunkingConfig, type RepoConfig } from './config.js';
import { IndexDb } from './index-db.js';
import { RepoLock } from './lock.js';
import { resolveRev } from './rev-parse.js';
import { FORMAT_VERSION, STORE_DIR, signatureKey, signaturePrefix } from './layout.js';
import { writeFileAtomic } from './atomic-file.js';
import { invalidRepoPath } from '../model/repo-path.js';

export interface RepositoryOptions {
  env?: Env;
}

export interface InitOptions extends RepositoryOptions {
  chunking?: Partial<ChunkingConfig>;
}

export class Repository {
  readonly objects: ObjectStore;
  readonly refs: RefStore;
  private indexDb: Promise<IndexDb | undefined> | undefined;

  private constructor(
    /** The workspace root (the directory that holds `.mlstore/`). */
    readonly root: string,
    readonly config: RepoConfig,
    readonly backend: Backend,
    readonly env: Env,
  ) {
    this.objects = new ObjectStore(backend);
    this.refs = new RefStore(backend);
  }

  get dir(): string {
    return join(this.root, STORE_DIR);
  }

  static async init(root: string, options: InitOptions = {}): Promise<Repository> {
    root = resolve(root);
    const dir = join(root, STORE_DIR);
    if (await exists(join(dir, 'config.json'))) {
      throw new MlstoreError('ALREADY_EXISTS', `${root} is already an mlstore repository`, { details: { root } });
    }
    // the defaults, completed with the current cut rule, are written out in full: a config that
    // names no rule means the legacy one (config.ts)
    const config: RepoConfig = { format: FORMAT_VERSION, chunking: { ...validateChunkParams(options.chunking) }, remotes: {} };
    try {
      await mkdir(join(dir, 'tmp'), { recursive: true });
    } catch (e) {
      throw fromFsError(e, dir, 'create');
    }
    await writeHead(join(dir, 'HEAD'), { kind: 'branch', ref: 'refs/heads/main' });
    await writeConfig(join(dir, 'config.json'), config); // written last: its presence marks a complete init
    return Repository.open(root, options);
  }

  /** Opens the repository that contains `start` (searching upwards, like Git). */
  static async find(start: string, options: RepositoryOptions = {}): Promise<Repository> {
    let dir = resolve(start);
    for (;;) {
      if (await exists(join(dir, STORE_DIR, 'config.json'))) return Repository.open(dir, options);
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
    throw new MlstoreError('NOT_A_REPOSITORY', `${resolve(start)} is not inside an mlstore repository`, {
      hint: 'Run `mlstore init` at the root of your project first.',
    });
  }

  static async open(root: string, options: RepositoryOptions = {}): Promise<Repository> {
    root = resolve(root);
    const dir = join(root, STORE_DIR);
    if (!(await exists(join(dir, 'config.json')))) {
      throw new MlstoreError('NOT_A_REPOSITORY', `${root} is not an mlstore repository`, { hint: 'Run `mlstore init` first.' });
    }
    const config = await readConfig(join(dir, 'config.json'));
    const env = options.env ?? defaultEnv();
    const backend = new LocalBackend(dir, {
      durability: durabilityFrom(env.vars['MLSTORE_DURABILITY']),
      packs: config.format >= 2,
      directIo: directIoFrom(env.vars['MLSTORE_DIRECT_IO']),
      owner: { pid: env.pid, isAlive: (pid) => env.isAlive(pid) },
    });
    return new Repository(root, config, backend, env);
  }

  async saveConfig(): Promise<void> {
    await writeConfig(join(this.dir, 'config.json'), this.config);
  }

  head(): Promise<Head> {
    return readHead(join(this.dir, 'HEAD'));
  }

  setHead(head: Head): Promise<void> {
    return writeHead(join(this.dir, 'HEAD'), head);
  }

  /** The commit HEAD points at, or undefined on a branch with no commits yet. */
  async headCommit(signal?: AbortSignal): Promise<string | undefined> {
    const head = await this.head();
    if (head.kind === 'detached') return head.id;
    return (await this.refs.read(head.ref, signal))?.id;
  }

  resolveRev(rev: string, signal?: AbortSignal): Promise<string> {
    return resolveRev({ objects: this.objects, refs: this.refs, head: () => this.head() }, rev, signal);
  }

  readCommit(id: string, signal?: AbortSignal): Promise<Commit> {
    return this.objects.readCommit(id, signal ? { signal } : {});
  }

  async putSignature(commitId: string, keyId: string, envelope: Uint8Array): Promise<void> {
    await this.backend.put(signatureKey(commitId, keyId), envelope);
  }

  async listSignatures(commitId: string, signal?: AbortSignal): Promise<{ keyId: string; bytes: Uint8Array }[]> {
    const out: { keyId: string; bytes: Uint8Array }[] = [];
    for await (const info of this.backend.list(signaturePrefix(commitId), signal ? { signal } : {})) {
      const m = /\/([0-9a-f]{64})\.dsse$/.exec(info.key);
      if (!m) continue;
      // Bounded like the envelope parser: a commit may be 64 MiB and base64 adds a third.
      out.push({ keyId: m[1]!, bytes: await this.backend.get(info.key, { maxBytes: 96 * 1024 * 1024 }) });
    }
    return out;
  }

  /** The LevelDB index, opened on first use; undefined when it is unavailable (runs without cache). */
  index(): Promise<IndexDb | undefined> {
    this.indexDb ??= IndexDb.open(join(this.dir, 'index'), this.env.log);
    return this.indexDb;
  }

  /**
   * Removes leftovers of killed commands (temp files of objects, checkouts, packs), which would
   * otherwise stay forever. Safe without the repository lock: temp names carry their writer's pid
   * and host, and a live writer's files are never removed (storage/local-tmp.ts). Best effort: a
   * failure here must not stop the command.
   */
  async cleanLeftovers(): Promise<void> {
    if (this.backend instanceof LocalBackend) {
      await this.backend.cleanTmp().catch((e: unknown) => this.env.log.debug(`cleaning ${join(this.dir, 'tmp')} failed: ${String(e)}`));
    }
  }

  /** Runs `fn` holding the repository's write lock (and cleans leftovers first). */
  async withLock<T>(command: string, fn: () => Promise<T>): Promise<T> {
    const lock = await RepoLock.acquire(join(this.dir, 'lock'), {
      pid: this.env.pid,
      command: `mlstore ${command}`,
      now: this.env.now(),
      isAlive: this.env.isAlive,
    });
    try {
      await this.cleanLeftovers();
      return await fn();
    } finally {
      await lock.release();
    }
  }

  /** Tracked roots (workspace-relative POSIX paths), as `add` recorded them. */
  async trackedPaths(): Promise<string[]> {
    const path = join(this.dir, 'tracked.json');
    try {
      const parsed = JSON.parse(await readFile(path, 'utf8')) as unknown;
      if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === 'string')) throw new Error('not a list of paths');
      const invalid = invalidRepoPath(parsed); // a root outside the repository would be scanned, and cleaned by checkout
      if (invalid) throw new Error(invalid);
      return parsed as string[];
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new MlstoreError('BAD_CONFIG', `${path} is damaged: ${(e as Error).message}`, { cause: e });
    }
  }

  async setTrackedPaths(paths: readonly string[]): Promise<void> {
    const invalid = invalidRepoPath(paths);
    if (invalid) throw new MlstoreError('INTERNAL', `refusing to track ${invalid}`);
    const sorted = [...new Set(paths)].sort();
    await writeFileAtomic(join(this.dir, 'tracked.json'), `${JSON.stringify(sorted, null, 2)}\n`);
  }

  async close(): Promise<void> {
    const db = await this.indexDb;
    this.indexDb = undefined;
    await db?.close();
    await this.backend.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** MLSTORE_DIRECT_IO=1 writes large chunks with O_DIRECT where the file system allows it (docs/storage.md); unset or 0: through the page cache. */
function directIoFrom(value: string | undefined): boolean {
  if (value === undefined || value === '' || value === '0') return false;
  if (value === '1') return true;
  throw new MlstoreError('BAD_CONFIG', `MLSTORE_DIRECT_IO must be 0 or 1, not ${JSON.stringify(value)}`, {
    hint: 'Unset it for the default (0: every object is written through the page cache).',
  });
}

/** MLSTORE_DURABILITY picks how the local store syncs (docs/storage.md); unset means 'batched'. */
function durabilityFrom(value: string | undefined): Durability {
  if (value === undefined || value === '') return 'batched';
  if (value === 'batched' || value === 'fsync' || value === 'none') return value;
  throw new MlstoreError('BAD_CONFIG', `MLSTORE_DURABILITY must be batched, fsync or none, not ${JSON.stringify(value)}`, {
    hint: "Unset it for the default ('batched'); 'fsync' syncs every object on its own; 'none' is for scratch stores only.",
  });
}
