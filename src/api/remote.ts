import { MlstoreError } from '../errors.js';
import { assertRemoteName, openRemote, remoteConfigFrom, type RemoteSettings } from '../repository/remote.js';
import { deleteTrackingRefs, readTrackingRefs } from '../repository/remote-refs.js';
import type { Repository } from '../repository/repository.js';
import { withRepository, type CommonOptions } from './context.js';

export interface RemoteInfo {
  name: string;
  url: string;
  /** S3 settings given to `remote add` (endpoint, region, pathStyle, timeout). */
  options: Record<string, string | boolean>;
  /** The remote's refs as last fetched or pushed (remote-tracking refs). */
  refs: Record<string, string>;
  /** When they were last updated (ISO time), or null. */
  updated: string | null;
}

export interface RemoteAddOptions extends CommonOptions, Partial<Omit<RemoteSettings, 'url'>> {
  name: string;
  url: string;
  /** Base for a relative directory path (default `dir`). */
  cwd?: string;
}

/**
 * Adds a named remote: an S3 bucket (with optional prefix) or a shared directory. Nothing is
 * contacted yet; the first push writes the remote's format marker.
 * @example
 *   await remoteAdd({ dir: '.', name: 'origin', url: 's3://ml-data/team-a', endpoint: 'http://127.0.0.1:9000' });
 *   await remoteAdd({ dir: '.', name: 'nas', url: '/mnt/shared/mlstore' });
 */
export async function remoteAdd(options: RemoteAddOptions): Promise<RemoteInfo> {
  assertRemoteName(options.name);
  return withRepository(options, (repo) =>
    repo.withLock('remote add', async () => {
      if (repo.config.remotes[options.name]) {
        throw new MlstoreError('ALREADY_EXISTS', `remote ${options.name} already exists (${repo.config.remotes[options.name]!.url})`, {
          details: { remote: options.name },
          hint: `Remove it first: \`mlstore remote remove ${options.name}\`.`,
        });
      }
      const settings: RemoteSettings = { url: options.url };
      if (options.endpoint !== undefined) settings.endpoint = options.endpoint;
      if (options.region !== undefined) settings.region = options.region;
      if (options.pathStyle !== undefined) settings.pathStyle = options.pathStyle;
      if (options.timeoutSeconds !== undefined) settings.timeoutSeconds = options.timeoutSeconds;
      repo.config.remotes[options.name] = remoteConfigFrom(settings, options.cwd ?? options.dir);
      await repo.saveConfig();
      return info(repo, options.name);
    }),
  );
}

/**
 * The configured remotes, sorted by name, with their last known refs.
 * @example
 *   for (const r of await remoteList({ dir: '.' })) console.log(r.name, r.url);
 */
export async function remoteList(options: CommonOptions): Promise<RemoteInfo[]> {
  return withRepository(options, async (repo) => Promise.all(Object.keys(repo.config.remotes).sort().map((name) => info(repo, name))));
}

export interface RemoteRemoveOptions extends CommonOptions {
  name: string;
}

/**
 * Forgets a remote: its config entry, its remote-tracking refs and what the index knew about it.
 * The remote's data is not touched.
 * @example
 *   await remoteRemove({ dir: '.', name: 'old-bucket' });
 */
export async function remoteRemove(options: RemoteRemoveOptions): Promise<void> {
  await withRepository(options, (repo) =>
    repo.withLock('remote remove', async () => {
      if (!repo.config.remotes[options.name]) {
        throw new MlstoreError('NO_SUCH_REMOTE', `no remote named ${JSON.stringify(options.name)}`, { details: { remote: options.name } });
      }
      let indexId: string | undefined;
      try {
        const remote = openRemote(repo, options.name);
        indexId = remote.indexId;
        await remote.close();
      } catch {
        // A broken URL in the config must not prevent removing it.
      }
      delete repo.config.remotes[options.name];
      await repo.saveConfig();
      await deleteTrackingRefs(repo.dir, options.name);
      const db = await repo.index();
      if (db && indexId) await db.forgetRemote(indexId);
    }),
  );
}

async function info(repo: Repository, name: string): Promise<RemoteInfo> {
  const cfg = repo.config.remotes[name]!;
  const tracking = await readTrackingRefs(repo.dir, name);
  return { name, url: cfg.url, options: { ...(cfg.options ?? {}) }, refs: tracking.refs, updated: tracking.updated };
}
